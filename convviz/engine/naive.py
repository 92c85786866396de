"""The naive engine: loops that read like docs/conventions.md, one output cell at a time.

Slow on purpose; it is the executable form of the formulas and the reference the fast engine
(``fast.py``, same signatures) is tested against.
"""

from __future__ import annotations

import numpy as np

from .artifacts import dilate_and_pad, pad_input, rotate_kernel
from .checks import check_problem, check_update


def conv2d_forward(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros") -> np.ndarray:
    """``out[n,f,i,j] = b[f] + sum_{cg,p,q} x_pad[n, c, i*sh + p*dh, j*sw + q*dw] * w[f,cg,p,q]``,
    ``c`` the cg-th channel of kernel f's group (groups = 1: c = cg).

    x (N, C, H, W), w (F, C/groups, KH, KW), b (F,) or None -> out (N, F, Ho, Wo).
    """
    x, w, b, _, geo = check_problem(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups,
                                    padding_mode=padding_mode)
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    x_pad = pad_input(x, geo)  # zeros, or copies of x's cells (padding_mode)
    out = np.zeros(geo.out_shape)
    for n in range(geo.N):
        for f in range(geo.F):
            channels = slice(geo.x_channel(f, 0), geo.x_channel(f, 0) + geo.Cg)  # kernel f's group
            for i in range(geo.Ho):
                for j in range(geo.Wo):
                    window = x_pad[n, channels, i * sh : i * sh + geo.span_h : dh, j * sw : j * sw + geo.span_w : dw]
                    out[n, f, i, j] = np.sum(window * w[f]) + (b[f] if b is not None else 0.0)
    return out


def conv2d_backward(x, w, grad_out, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """Gradients of the loss given ``grad_out`` = dL/d out.

    x (N, C, H, W), w (F, C/groups, KH, KW), grad_out (N, F, Ho, Wo)
    -> (grad_x (N, C, H, W), grad_w (F, C/groups, KH, KW), grad_b (F,)).
    ``grad_x`` uses the gather form: a correlation of ``grad_out_pad`` with ``w_rot``; in the
    padding modes that copy x's cells it gives ``grad_x_pad``, which the fold adds onto x.
    """
    x, w, _, grad_out, geo = check_problem(x, w, None, grad_out, stride=stride, padding=padding, dilation=dilation,
                                           groups=groups, padding_mode=padding_mode, need_grad_out=True)
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    x_pad = pad_input(x, geo)

    grad_b = np.zeros(geo.F)
    for f in range(geo.F):
        grad_b[f] = np.sum(grad_out[:, f])

    # grad_w[f,cg,p,q] = sum_{n,i,j} grad_out[n,f,i,j] * x_pad[n, c, i*sh + p*dh, j*sw + q*dw]
    grad_w = np.zeros(geo.w_shape)
    for f in range(geo.F):
        for cg in range(geo.Cg):
            c = geo.x_channel(f, cg)
            for p in range(geo.KH):
                for q in range(geo.KW):
                    seen = x_pad[:, c, p * dh : p * dh + (geo.Ho - 1) * sh + 1 : sh,
                                       q * dw : q * dw + (geo.Wo - 1) * sw + 1 : sw]
                    grad_w[f, cg, p, q] = np.sum(grad_out[:, f] * seen)

    grad_x = _gather(grad_out, w, geo)
    if geo.padding_mode != "zeros":
        grad_x = _fold(grad_x, geo)
    return grad_x, grad_w, grad_b


def grad_x_pad(x, w, grad_out, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros") -> np.ndarray:
    """``grad_x_pad`` = dL/d x_pad, every cell of the padded input, border included (in zeros
    mode the border's part is what grad_x drops; in the other modes what the fold adds onto x).

    x (N, C, H, W), w (F, C/groups, KH, KW), grad_out (N, F, Ho, Wo) -> grad_x_pad (N, C, Hp, Wp).
    """
    x, w, _, grad_out, geo = check_problem(x, w, None, grad_out, stride=stride, padding=padding, dilation=dilation,
                                           groups=groups, padding_mode=padding_mode, need_grad_out=True)
    return _scatter_pad(grad_out, w, geo)


def _gather(grad_out, w, geo) -> np.ndarray:
    """``grad_x[n,c,h,v] = sum_{fg,p,q} grad_out_pad[n, f, h + p*dh, v + q*dw] * w_rot[c,fg,p,q]``
    over the kernels f of c's group; ``grad_x_pad`` (every x_pad cell) in the modes that copy x."""
    (dh, dw) = geo.dilation
    grad_out_pad, _ = dilate_and_pad(grad_out, geo)
    w_rot = rotate_kernel(w, geo.groups)
    result = np.zeros(getattr(geo, geo.gather_result + "_shape"))
    N, C, rows, cols = result.shape
    for n in range(N):
        for c in range(C):
            kernels = slice(geo.kernel_of(c, 0), geo.kernel_of(c, 0) + geo.Fg)  # c's group
            for h in range(rows):
                for v in range(cols):
                    window = grad_out_pad[n, kernels, h : h + geo.span_h : dh, v : v + geo.span_w : dw]
                    result[n, c, h, v] = np.sum(window * w_rot[c])
    return result


def _fold(grad_x_pad, geo) -> np.ndarray:
    """``grad_x[n,c,h,v] = sum of grad_x_pad[n,c,hp,wp]`` over every x_pad cell that copies x[n,c,h,v]."""
    grad_x = np.zeros(geo.x_shape)
    for hp in range(geo.Hp):
        for wp in range(geo.Wp):
            copies, h, v = geo.x_pad_source(hp, wp)
            if copies:
                grad_x[:, :, int(h), int(v)] += grad_x_pad[:, :, hp, wp]
    return grad_x


def _scatter_pad(grad_out, w, geo) -> np.ndarray:
    """Each ``grad_out[n,f,i,j] * w[f]`` (not rotated) added over its window of ``grad_x_pad``."""
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    grad_x_pad = np.zeros(geo.x_pad_shape)
    for n in range(geo.N):
        for f in range(geo.F):
            channels = slice(geo.x_channel(f, 0), geo.x_channel(f, 0) + geo.Cg)
            for i in range(geo.Ho):
                for j in range(geo.Wo):
                    grad_x_pad[n, channels, i * sh : i * sh + geo.span_h : dh, j * sw : j * sw + geo.span_w : dw] += (
                        grad_out[n, f, i, j] * w[f]
                    )
    return grad_x_pad


def grad_x_scatter(x, w, grad_out, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros") -> np.ndarray:
    """``grad_x`` the scatter way: spread each ``grad_out[n,f,i,j] * w[f]`` (not rotated) over
    its window of ``grad_x_pad``, then crop the zero border (or fold a border of copies onto x).

    x (N, C, H, W), w (F, C/groups, KH, KW), grad_out (N, F, Ho, Wo) -> grad_x (N, C, H, W).
    """
    x, w, _, grad_out, geo = check_problem(x, w, None, grad_out, stride=stride, padding=padding, dilation=dilation,
                                           groups=groups, padding_mode=padding_mode, need_grad_out=True)
    grad_x_pad = _scatter_pad(grad_out, w, geo)
    if geo.padding_mode != "zeros":
        return _fold(grad_x_pad, geo)
    # Explicit stop indices: the tutorial's ``[pad:-pad]`` is empty when pad == 0.
    (ph, pw) = geo.padding
    return grad_x_pad[:, :, ph : ph + geo.H, pw : pw + geo.W]


def conv_transpose2d(x, w, b=None, *, stride=1, padding=0, output_padding=0, groups=1, dilation=1) -> np.ndarray:
    """Transposed convolution (PyTorch's ``conv_transpose2d``), as a convolution: ``x_pad`` (x
    dilated by the stride, padded by dh(KH-1) - ph, cropped where negative, oph more at the
    bottom) correlated with ``w_rot``, stride 1:
    ``out[n,f,u,t] = b[f] + sum_{cg,p,q} x_pad[n, c, u + p*dh, t + q*dw] * w_rot[f,cg,p,q]``.

    x (N, C, H, W), w (C, F/groups, KH, KW), b (F,) or None -> out (N, F, Ho, Wo) with
    Ho = (H - 1) sh - 2 ph + dh (KH - 1) + oph + 1.
    """
    x, w, b, _, geo = check_problem(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups,
                                    transposed=True, output_padding=output_padding)
    (dh, dw) = geo.dilation
    x_pad = pad_input(x, geo)
    w_rot = rotate_kernel(w, geo.groups)  # (F, C/groups, KH, KW)
    out = np.zeros(geo.out_shape)
    for n in range(geo.N):
        for f in range(geo.F):
            channels = slice(geo.x_channel(f, 0), geo.x_channel(f, 0) + geo.Cg)
            for u in range(geo.Ho):
                for t in range(geo.Wo):
                    window = x_pad[n, channels, u : u + geo.span_h : dh, t : t + geo.span_w : dw]
                    out[n, f, u, t] = np.sum(window * w_rot[f]) + (b[f] if b is not None else 0.0)
    return out


def conv_transpose2d_backward(x, w, grad_out, *, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Gradients of a transposed convolution given ``grad_out`` = dL/d out (N, F, Ho, Wo).

    x (N, C, H, W), w (C, F/groups, KH, KW) -> (grad_x (N, C, H, W), grad_w (C, F/groups, KH, KW), grad_b (F,)).
    ``grad_x`` is a plain convolution of ``grad_out_pad`` (grad_out in a border of ph / pw zeros)
    with ``w``: ``grad_x[n,c,i,j] = sum_{fg,p,q} grad_out_pad[n, f, i*sh + p*dh, j*sw + q*dw] * w[c,fg,p,q]``.
    """
    x, w, _, grad_out, geo = check_problem(x, w, None, grad_out, stride=stride, padding=padding, dilation=dilation,
                                           groups=groups, transposed=True, output_padding=output_padding,
                                           need_grad_out=True)
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    grad_out_pad, _ = dilate_and_pad(grad_out, geo)

    grad_b = np.zeros(geo.F)
    for f in range(geo.F):
        grad_b[f] = np.sum(grad_out[:, f])

    grad_x = np.zeros(geo.x_shape)
    for n in range(geo.N):
        for c in range(geo.C):
            kernels = slice(geo.kernel_of(c, 0), geo.kernel_of(c, 0) + geo.Fg)
            for i in range(geo.H):
                for j in range(geo.W):
                    window = grad_out_pad[n, kernels, i * sh : i * sh + geo.span_h : dh, j * sw : j * sw + geo.span_w : dw]
                    grad_x[n, c, i, j] = np.sum(window * w[c])

    # grad_w[c,fg,p,q] = sum_{n,i,j} x[n,c,i,j] * grad_out_pad[n, f, i*sh + p*dh, j*sw + q*dw]
    grad_w = np.zeros(geo.w_shape)
    for c in range(geo.C):
        for fg in range(geo.Fg):
            f = geo.kernel_of(c, fg)
            for p in range(geo.KH):
                for q in range(geo.KW):
                    seen = grad_out_pad[:, f, p * dh : p * dh + (geo.H - 1) * sh + 1 : sh,
                                              q * dw : q * dw + (geo.W - 1) * sw + 1 : sw]
                    grad_w[c, fg, p, q] = np.sum(x[:, c] * seen)
    return grad_x, grad_w, grad_b


def sgd_update(w, b, grad_w, grad_b, *, lr=0.01, weight_decay=0.0, transposed=False):
    """One step of plain SGD with weight decay on the kernels, one cell at a time:
    ``w_new[f,c,p,q] = w[f,c,p,q] - lr * (grad_w[f,c,p,q] + weight_decay * w[f,c,p,q])`` and
    ``b_new[f] = b[f] - lr * grad_b[f]`` (the bias is not decayed).

    w, grad_w (F, C, KH, KW); b, grad_b (F,) or both None -> (w_new (F, C, KH, KW), b_new (F,) or None).
    ``transposed``: w is a transposed convolution's (C, F/groups, KH, KW), b still (F,).
    """
    w, b, grad_w, grad_b, lr, weight_decay = check_update(w, b, grad_w, grad_b, lr=lr, weight_decay=weight_decay,
                                                          transposed=transposed)
    w_new = np.zeros(w.shape)
    for f, c, p, q in np.ndindex(*w.shape):
        w_new[f, c, p, q] = w[f, c, p, q] - lr * (grad_w[f, c, p, q] + weight_decay * w[f, c, p, q])
    if b is None:
        return w_new, None
    b_new = np.zeros(b.shape)
    for f in range(b.shape[0]):
        b_new[f] = b[f] - lr * grad_b[f]
    return w_new, b_new
