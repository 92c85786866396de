"""The fast engine: im2col plus one matrix product per pass; same signatures as ``naive.py``.

As in CS231n's ``fast_layers.py``: the forward pass multiplies the unrolled windows by the
kernel matrix, ``grad_w`` is one more product with the same unrolled windows, and ``grad_x``
is col2im (each window's gradient added back where the window was read), which is the
transposed convolution (docs/conventions.md) without multiplying the stride's inserted zeros. With
stride 1 there are no inserted zeros, and ``grad_x`` is the gather form instead: im2col
of ``grad_out_pad`` times ``w_rot``, one more product and no scatter.

The unrolled windows are kept transposed, ``cols_t`` = ``im2col(x_pad).T`` (C*KH*KW,
N*Ho*Wo): copying the window view in that order keeps ``Wo`` innermost, which is contiguous
in ``x_pad`` for stride 1, so the copy runs several times faster than into im2col's row
order, and BLAS reads either orientation of an operand without a copy.
"""

from __future__ import annotations

import numpy as np

from .artifacts import dilate_and_pad, kernel_matrix, pad_input, rotate_kernel, windows
from .checks import check_problem


def _columns_t(padded: np.ndarray, geo) -> np.ndarray:
    """``padded`` (N, K, A, B) -> its windows unrolled, transposed: (K*KH*KW, N*Ao*Bo).

    For ``x_pad`` this is ``im2col(x_pad, geo).T`` (C*KH*KW, N*Ho*Wo); for ``grad_out_pad``
    with stride 1 it is (F*KH*KW, N*H*W).
    """
    win = windows(padded, geo)  # N, K, Ao, Bo, KH, KW (a view)
    n, k, a, b = win.shape[:4]
    # Always a fresh copy (even when the view happens to be contiguous): the backward pass
    # may overwrite it, and the window view itself is read-only.
    cols_t = np.array(win.transpose(1, 4, 5, 0, 2, 3), order="C")  # K, KH, KW, N, Ao, Bo
    return cols_t.reshape(k * geo.KH * geo.KW, n * a * b)


def conv2d_forward(x, w, b=None, *, stride=1, padding=0, dilation=1) -> np.ndarray:
    """x (N, C, H, W), w (F, C, KH, KW), b (F,) or None -> out (N, F, Ho, Wo)."""
    x, w, b, _, geo = check_problem(x, w, b, stride=stride, padding=padding, dilation=dilation)
    w_rows = kernel_matrix(w).T  # F, C*KH*KW (a view of w)
    out = w_rows @ _columns_t(pad_input(x, geo), geo)  # F, N*Ho*Wo: one GEMM for the whole batch
    if b is not None:
        out += b[:, None]
    return np.ascontiguousarray(out.reshape(geo.F, geo.N, geo.Ho, geo.Wo).transpose(1, 0, 2, 3))


def conv2d_backward(x, w, grad_out, *, stride=1, padding=0, dilation=1):
    """x (N, C, H, W), w (F, C, KH, KW), grad_out (N, F, Ho, Wo)
    -> (grad_x (N, C, H, W), grad_w (F, C, KH, KW), grad_b (F,))."""
    x, w, _, grad_out, geo = check_problem(
        x, w, None, grad_out, stride=stride, padding=padding, dilation=dilation, need_grad_out=True
    )
    cols_t = _columns_t(pad_input(x, geo), geo)  # C*KH*KW, N*Ho*Wo
    # grad_out with its columns in the order of cols_t's: (F, N*Ho*Wo), a small copy.
    g = np.ascontiguousarray(grad_out.transpose(1, 0, 2, 3)).reshape(geo.F, -1)

    grad_b = g.sum(axis=1)
    grad_w = (g @ cols_t.T).reshape(geo.w_shape)  # the same windows the forward pass read

    if geo.stride == (1, 1):
        # Gather: grad_x[:, c] = sum_{f,p,q} grad_out_pad[:, f, h + p*dh, v + q*dw] * w_rot[c,f,p,q].
        # Without stride holes this does the multiplications col2im does, and it skips col2im's
        # KH*KW strided additions, which cost more than the product itself on small maps.
        grad_out_pad, _ = dilate_and_pad(grad_out, geo)
        w_rot_rows = rotate_kernel(w).reshape(geo.C, -1)  # C, F*KH*KW
        grad_x = w_rot_rows @ _columns_t(grad_out_pad, geo)  # C, N*H*W
        return np.ascontiguousarray(grad_x.reshape(geo.C, geo.N, geo.H, geo.W).transpose(1, 0, 2, 3)), grad_w, grad_b

    # col2im: d cols_t = w_mat @ g, one column of window gradients per output cell. It is
    # written over cols_t, which is no longer needed: a fresh buffer this size would cost
    # about as much in first-touch page faults as the product itself.
    d_cols = np.matmul(kernel_matrix(w), g, out=cols_t)
    d_cols = d_cols.reshape(geo.C, geo.KH, geo.KW, geo.N, geo.Ho, geo.Wo)
    # Accumulate in (C, N, ...) order, d_cols' own, so each added plane is one contiguous block.
    grad_x_pad = np.zeros((geo.C, geo.N, geo.Hp, geo.Wp))
    for p in range(geo.KH):
        for q in range(geo.KW):
            grad_x_pad[(..., *geo.tap_slices(p, q))] += d_cols[:, p, q]
    ph, pw = geo.padding
    grad_x = grad_x_pad[:, :, ph : ph + geo.H, pw : pw + geo.W].transpose(1, 0, 2, 3)
    return np.ascontiguousarray(grad_x), grad_w, grad_b
