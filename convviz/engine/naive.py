"""The naive engine: loops that read like docs/conventions.md, one output cell at a time.

Slow on purpose; it is the executable form of the formulas and the reference the fast engine
(``fast.py``, same signatures) is tested against.
"""

from __future__ import annotations

import numpy as np

from .artifacts import dilate_and_pad, pad_input, rotate_kernel
from .checks import check_problem, check_update


def conv2d_forward(x, w, b=None, *, stride=1, padding=0, dilation=1) -> np.ndarray:
    """``out[n,f,i,j] = b[f] + sum_{c,p,q} x_pad[n, c, i*sh + p*dh, j*sw + q*dw] * w[f,c,p,q]``.

    x (N, C, H, W), w (F, C, KH, KW), b (F,) or None -> out (N, F, Ho, Wo).
    """
    x, w, b, _, geo = check_problem(x, w, b, stride=stride, padding=padding, dilation=dilation)
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    x_pad = pad_input(x, geo)
    out = np.zeros(geo.out_shape)
    for n in range(geo.N):
        for f in range(geo.F):
            for i in range(geo.Ho):
                for j in range(geo.Wo):
                    window = x_pad[n, :, i * sh : i * sh + geo.span_h : dh, j * sw : j * sw + geo.span_w : dw]
                    out[n, f, i, j] = np.sum(window * w[f]) + (b[f] if b is not None else 0.0)
    return out


def conv2d_backward(x, w, grad_out, *, stride=1, padding=0, dilation=1):
    """Gradients of the loss given ``grad_out`` = dL/d out.

    x (N, C, H, W), w (F, C, KH, KW), grad_out (N, F, Ho, Wo)
    -> (grad_x (N, C, H, W), grad_w (F, C, KH, KW), grad_b (F,)).
    ``grad_x`` uses the gather form: a correlation of ``grad_out_pad`` with ``w_rot``.
    """
    x, w, _, grad_out, geo = check_problem(
        x, w, None, grad_out, stride=stride, padding=padding, dilation=dilation, need_grad_out=True
    )
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    x_pad = pad_input(x, geo)

    grad_b = np.zeros(geo.F)
    for f in range(geo.F):
        grad_b[f] = np.sum(grad_out[:, f])

    # grad_w[f,c,p,q] = sum_{n,i,j} grad_out[n,f,i,j] * x_pad[n, c, i*sh + p*dh, j*sw + q*dw]
    grad_w = np.zeros(geo.w_shape)
    for f in range(geo.F):
        for c in range(geo.C):
            for p in range(geo.KH):
                for q in range(geo.KW):
                    seen = x_pad[:, c, p * dh : p * dh + (geo.Ho - 1) * sh + 1 : sh,
                                       q * dw : q * dw + (geo.Wo - 1) * sw + 1 : sw]
                    grad_w[f, c, p, q] = np.sum(grad_out[:, f] * seen)

    # grad_x[n,c,h,v] = sum_{f,p,q} grad_out_pad[n, f, h + p*dh, v + q*dw] * w_rot[c,f,p,q]
    grad_out_pad, _ = dilate_and_pad(grad_out, geo)
    w_rot = rotate_kernel(w)
    grad_x = np.zeros(geo.x_shape)
    for n in range(geo.N):
        for c in range(geo.C):
            for h in range(geo.H):
                for v in range(geo.W):
                    window = grad_out_pad[n, :, h : h + geo.span_h : dh, v : v + geo.span_w : dw]
                    grad_x[n, c, h, v] = np.sum(window * w_rot[c])
    return grad_x, grad_w, grad_b


def grad_x_scatter(x, w, grad_out, *, stride=1, padding=0, dilation=1) -> np.ndarray:
    """``grad_x`` the scatter way: spread each ``grad_out[n,f,i,j] * w[f]`` (not rotated) over
    its window of ``grad_x_pad``, then crop the padding ring.

    x (N, C, H, W), w (F, C, KH, KW), grad_out (N, F, Ho, Wo) -> grad_x (N, C, H, W).
    """
    x, w, _, grad_out, geo = check_problem(
        x, w, None, grad_out, stride=stride, padding=padding, dilation=dilation, need_grad_out=True
    )
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    (ph, pw) = geo.padding
    grad_x_pad = np.zeros(geo.x_pad_shape)
    for n in range(geo.N):
        for f in range(geo.F):
            for i in range(geo.Ho):
                for j in range(geo.Wo):
                    grad_x_pad[n, :, i * sh : i * sh + geo.span_h : dh, j * sw : j * sw + geo.span_w : dw] += (
                        grad_out[n, f, i, j] * w[f]
                    )
    # Explicit stop indices: the tutorial's ``[pad:-pad]`` is empty when pad == 0.
    return grad_x_pad[:, :, ph : ph + geo.H, pw : pw + geo.W]


def sgd_update(w, b, grad_w, grad_b, *, lr=0.01, weight_decay=0.0):
    """One step of plain SGD with weight decay on the kernels, one cell at a time:
    ``w_new[f,c,p,q] = w[f,c,p,q] - lr * (grad_w[f,c,p,q] + weight_decay * w[f,c,p,q])`` and
    ``b_new[f] = b[f] - lr * grad_b[f]`` (the bias is not decayed).

    w, grad_w (F, C, KH, KW); b, grad_b (F,) or both None -> (w_new (F, C, KH, KW), b_new (F,) or None).
    """
    w, b, grad_w, grad_b, lr, weight_decay = check_update(w, b, grad_w, grad_b, lr=lr, weight_decay=weight_decay)
    w_new = np.zeros(w.shape)
    for f, c, p, q in np.ndindex(*w.shape):
        w_new[f, c, p, q] = w[f, c, p, q] - lr * (grad_w[f, c, p, q] + weight_decay * w[f, c, p, q])
    if b is None:
        return w_new, None
    b_new = np.zeros(b.shape)
    for f in range(b.shape[0]):
        b_new[f] = b[f] - lr * grad_b[f]
    return w_new, b_new
