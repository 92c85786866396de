"""The fast engine: im2col plus one matrix product per pass; same signatures as ``naive.py``.

As in CS231n's ``fast_layers.py``: the forward pass multiplies the unrolled windows by the
kernel matrix, ``grad_w`` is one more product with the same unrolled windows, and ``grad_x``
is col2im (each window's gradient added back where the window was read), which is the
transposed convolution of MATH.md without multiplying the stride's inserted zeros.
"""

from __future__ import annotations

import numpy as np

from .artifacts import kernel_matrix, pad_input, windows
from .checks import check_problem


def conv2d_forward(x, w, b=None, *, stride=1, padding=0, dilation=1) -> np.ndarray:
    """x (N, C, H, W), w (F, C, KH, KW), b (F,) or None -> out (N, F, Ho, Wo)."""
    x, w, b, _, geo = check_problem(x, w, b, stride=stride, padding=padding, dilation=dilation)
    win = windows(pad_input(x, geo), geo)  # N, C, Ho, Wo, KH, KW (a view)
    # (N, Ho, Wo, C*KH*KW) @ (C*KH*KW, F): tensordot copies the view once, into im2col order.
    out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))  # N, Ho, Wo, F
    if b is not None:
        out += b
    return out.transpose(0, 3, 1, 2)


def conv2d_backward(x, w, grad_out, *, stride=1, padding=0, dilation=1):
    """x (N, C, H, W), w (F, C, KH, KW), grad_out (N, F, Ho, Wo)
    -> (grad_x (N, C, H, W), grad_w (F, C, KH, KW), grad_b (F,))."""
    x, w, _, grad_out, geo = check_problem(
        x, w, None, grad_out, stride=stride, padding=padding, dilation=dilation
    )
    if grad_out is None:
        raise ValueError("grad_out is required: an array of shape (N, F, Ho, Wo) = %s" % (geo.out_shape,))
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    x_pad = pad_input(x, geo)
    win = windows(x_pad, geo)  # N, C, Ho, Wo, KH, KW

    grad_b = grad_out.sum(axis=(0, 2, 3))
    grad_w = np.tensordot(grad_out, win, axes=([0, 2, 3], [0, 2, 3]))  # F, C, KH, KW

    # col2im: d cols = grad_out (rows = windows) @ w_mat^T, then add each (p, q) plane back.
    g_rows = grad_out.transpose(0, 2, 3, 1).reshape(-1, geo.F)  # N*Ho*Wo, F
    d_cols = (g_rows @ kernel_matrix(w).T).reshape(geo.N, geo.Ho, geo.Wo, geo.C, geo.KH, geo.KW)
    d_cols = d_cols.transpose(4, 5, 0, 3, 1, 2)  # KH, KW, N, C, Ho, Wo
    grad_x_pad = np.zeros(geo.x_pad_shape)
    for p in range(geo.KH):
        for q in range(geo.KW):
            grad_x_pad[:, :, p * dh : p * dh + (geo.Ho - 1) * sh + 1 : sh,
                             q * dw : q * dw + (geo.Wo - 1) * sw + 1 : sw] += d_cols[p, q]
    ph, pw = geo.padding
    return grad_x_pad[:, :, ph : ph + geo.H, pw : pw + geo.W], grad_w, grad_b
