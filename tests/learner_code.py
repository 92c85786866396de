"""Convolutions as learners write them, right and wrong, for the tests of ``convviz.check``.

Written plainly, loops and all, the way a course assignment or a from-scratch framework does it,
each independently of convviz's engine: the right ones compute out / grad_x / grad_w / grad_b from
the definitions, and each mutant makes exactly one mistake (named in ``MUTANTS``), or one that no
code covers (``UNNAMED``).
"""

from __future__ import annotations

import numpy as np


def out_size(H, KH, s, p, d):
    return (H + 2 * p - d * (KH - 1) - 1) // s + 1


# --- forward ----------------------------------------------------------------------------------

def conv_forward(x, w, b, stride=1, padding=0, dilation=1, *, flip=False, bias=True, size=out_size):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    s, p, d = stride, padding, dilation
    Ho, Wo = size(H, KH, s, p, d), size(W, KW, s, p, d)
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    kernel = w[:, :, ::-1, ::-1] if flip else w
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = x_pad[n, :, i * s:i * s + d * (KH - 1) + 1:d, j * s:j * s + d * (KW - 1) + 1:d]
                    out[n, f, i, j] = np.sum(window * kernel[f]) + (b[f] if bias else 0)
    return out


def forward_right(x, w, b, stride=1, padding=0, dilation=1):
    return conv_forward(x, w, b, stride, padding, dilation)


def forward_kernel_flipped(x, w, b, stride=1, padding=0, dilation=1):
    return conv_forward(x, w, b, stride, padding, dilation, flip=True)


def forward_bias_missing(x, w, b, stride=1, padding=0, dilation=1):
    return conv_forward(x, w, b, stride, padding, dilation, bias=False)


def forward_output_size_wrong(x, w, b, stride=1, padding=0, dilation=1):
    # forgets the padding in the output size (reads only the first windows)
    return conv_forward(x, w, b, stride, padding, dilation, size=lambda H, K, s, p, d: (H - d * (K - 1) - 1) // s + 1)


def forward_bias_per_channel(x, w, b, stride=1, padding=0, dilation=1):
    """Unnamed: adds b[f] once per input channel (C times)."""
    out = conv_forward(x, w, b, stride, padding, dilation, bias=False)
    return out + x.shape[1] * b[None, :, None, None]


# --- backward: scatter (each grad_out cell stamps its kernel onto its window) -----------------

def scatter_backward(x, w, grad_out, stride=1, padding=0, dilation=1, *, rotate=False, crop="right",
                     batch="sum", grad_b="sum", rotate_grad_w=False, sign_w=1.0, skip_last_tap=False):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    s, p, d = stride, padding, dilation
    Ho, Wo = grad_out.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    kernel = np.rot90(w, 2, (2, 3)) if rotate else w
    for n in range(N):
        dw_n = np.zeros_like(w)
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    g = grad_out[n, f, i, j]
                    for kh in range(KH):
                        for kw in range(KW):
                            r, c = i * s + kh * d, j * s + kw * d
                            if not (skip_last_tap and kh == KH - 1):
                                dx_pad[n, :, r, c] += g * kernel[f, :, kh, kw]
                            dw_n[f, :, kh, kw] += g * x_pad[n, :, r, c]
        if batch == "last":
            dw = dw_n  # assigns instead of adding
        else:
            dw += dw_n
    if batch == "mean":
        dw /= N
    if rotate_grad_w:
        dw = dw[:, :, ::-1, ::-1]
    dw = dw * sign_w
    if crop == "right":
        dx = dx_pad[:, :, p:p + H, p:p + W]
    elif crop == "none":
        dx = dx_pad
    elif crop == "minus_p":
        dx = dx_pad[:, :, p:-p, p:-p]
    else:
        raise ValueError(crop)
    db = {"sum": lambda: grad_out.sum(axis=(0, 2, 3)), "mean": lambda: grad_out.mean(axis=(0, 2, 3))}[grad_b]()
    return dx, dw, db


def backward_right_scatter(x, w, grad_out, stride=1, padding=0, dilation=1):
    return scatter_backward(x, w, grad_out, stride, padding, dilation)


# --- backward: gather (grad_out dilated and padded, correlated with the rotated kernel) -------

def gather_grad_x(x, w, grad_out, stride=1, padding=0, dilation=1, *, rotate=True, swap=True, dilate=True):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    s, p, d = stride, padding, dilation
    Ho, Wo = grad_out.shape[2:]
    Hp, Wp = H + 2 * p, W + 2 * p
    step = s if dilate else 1
    top, left = d * (KH - 1), d * (KW - 1)
    g_pad = np.zeros((N, F, Hp + 2 * top, Wp + 2 * left))
    g_pad[:, :, top:top + (Ho - 1) * step + 1:step, left:left + (Wo - 1) * step + 1:step] = grad_out
    w_rot = np.rot90(w, 2, (2, 3)) if rotate else w  # (F, C, KH, KW), rotated in its last two axes
    dx_pad = np.zeros((N, C, Hp, Wp))
    for n in range(N):
        for c in range(C):
            for h in range(Hp):
                for v in range(Wp):
                    total = 0.0
                    for f in range(F):
                        kernel = w_rot[f, c] if swap else w_rot[c, f]
                        window = g_pad[n, f, h:h + d * (KH - 1) + 1:d, v:v + d * (KW - 1) + 1:d]
                        total += np.sum(window * kernel)
                    dx_pad[n, c, h, v] = total
    return dx_pad[:, :, p:p + H, p:p + W]


def backward_right_gather(x, w, grad_out, stride=1, padding=0, dilation=1):
    _, dw, db = scatter_backward(x, w, grad_out, stride, padding, dilation)
    return gather_grad_x(x, w, grad_out, stride, padding, dilation), dw, db


# --- the mutants: one named mistake each ------------------------------------------------------

def _with_grad_x(grad_x_fn):
    def backward(x, w, grad_out, stride=1, padding=0, dilation=1):
        _, dw, db = scatter_backward(x, w, grad_out, stride, padding, dilation)
        return grad_x_fn(x, w, grad_out, stride, padding, dilation), dw, db
    return backward


def _scatter_variant(**kwargs):
    def backward(x, w, grad_out, stride=1, padding=0, dilation=1):
        return scatter_backward(x, w, grad_out, stride, padding, dilation, **kwargs)
    return backward


def backward_tutorial_crop(x, w, grad_out, stride=1, padding=0, dilation=1):
    """The right scatter, but the tutorial's crop: assigns dx_pad[p:-p] into dx (raises at p = 0)."""
    dx_pad_like, dw, db = scatter_backward(x, w, grad_out, stride, padding, dilation, crop="none")
    dx = np.zeros_like(x)
    dx[:, :, :, :] = dx_pad_like[:, :, padding:-padding, padding:-padding]
    return dx, dw, db


def backward_cropped_top_left(x, w, grad_out, stride=1, padding=0, dilation=1):
    dx_pad, dw, db = scatter_backward(x, w, grad_out, stride, padding, dilation, crop="none")
    return dx_pad[:, :, :x.shape[2], :x.shape[3]], dw, db


MUTANTS_BACKWARD = {
    "rotated_kernel_in_scatter": _scatter_variant(rotate=True),
    "rotated_kernel_in_scatter (gather, kernel not rotated)": _with_grad_x(
        lambda *a: gather_grad_x(*a, rotate=False)),
    "channels_not_swapped": _with_grad_x(lambda *a: gather_grad_x(*a, swap=False)),
    "stride_not_dilated": _with_grad_x(lambda *a: gather_grad_x(*a, dilate=False)),
    "padding_not_removed": _scatter_variant(crop="none"),
    "padding_not_removed (cropped at the top-left)": backward_cropped_top_left,
    "crop_empty_at_zero_padding": _scatter_variant(crop="minus_p"),
    "crop_empty_at_zero_padding (assigned, raises)": backward_tutorial_crop,
    "grad_w_rotated": _scatter_variant(rotate_grad_w=True),
    "grad_w_not_summed_over_batch": _scatter_variant(batch="last"),
    "grad_w_not_summed_over_batch (mean)": _scatter_variant(batch="mean"),
    "grad_b_not_summed": _scatter_variant(grad_b="mean"),
}

MUTANTS_FORWARD = {
    "forward_kernel_flipped": forward_kernel_flipped,
    "bias_missing": forward_bias_missing,
    "output_size_wrong": forward_output_size_wrong,
}

# Wrong in ways no code covers: (function, kind, the tensor that is wrong)
UNNAMED = {
    "grad_x misses the last kernel row": (_scatter_variant(skip_last_tap=True), "backward", "grad_x"),
    "grad_w has the wrong sign": (_scatter_variant(sign_w=-1.0), "backward", "grad_w"),
    "bias added once per input channel": (forward_bias_per_channel, "forward", "out"),
    "grad_x halved": (_with_grad_x(lambda *a: 0.5 * gather_grad_x(*a)), "backward", "grad_x"),
}


# --- CS231n's assignment style ----------------------------------------------------------------

def conv_forward_naive(x, w, b, conv_param):
    out = conv_forward(x, w, b, conv_param["stride"], conv_param["pad"])
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    return scatter_backward(x, w, dout, conv_param["stride"], conv_param["pad"])


def conv_backward_naive_rotated(dout, cache):
    x, w, b, conv_param = cache
    return scatter_backward(x, w, dout, conv_param["stride"], conv_param["pad"], rotate=True)


# --- per-axis (pairs) -------------------------------------------------------------------------

def forward_pairs(x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Right, with (vertical, horizontal) pairs: pads each axis by its own amount."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho, Wo = out_size(H, KH, sh, ph, dh), out_size(W, KW, sw, pw, dw)
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            window = x_pad[:, :, i * sh:i * sh + dh * (KH - 1) + 1:dh, j * sw:j * sw + dw * (KW - 1) + 1:dw]
            out[:, :, i, j] = np.einsum("nckl,fckl->nf", window, w) + b
    return out
