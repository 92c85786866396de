"""The tutorial's own backward code, transcribed as a function: the worked example of a wrong
implementation (it rotates the kernel inside its scatter loop, and crops with ``[pad:-pad]``).

Kept as the tutorial wrote it, loops and comments aside, so that ``convviz.check`` can be shown
finding both of its bugs; never used to compute anything convviz shows as right.
"""

from __future__ import annotations

import numpy as np


def tutorial_scatter(x, w, grad_out, stride=1, padding=0):
    """The tutorial's loops: ``(dx_pad, dw, db)`` with dx_pad (N, C, H+2p, W+2p), before its crop."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    pad = padding
    H_out = int(1 + (H + 2 * pad - HH) / stride)
    W_out = int(1 + (W + 2 * pad - WW) / stride)
    x_pad = np.pad(x, ((0,), (0,), (pad,), (pad,)), mode="constant", constant_values=0)
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = np.sum(grad_out, axis=(0, 2, 3))
    for i in range(H_out):
        for j in range(W_out):
            x_pad_masked = x_pad[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            for k in range(F):
                dw[k, :, :, :] += np.sum(x_pad_masked * (grad_out[:, k, i, j])[:, None, None, None], axis=0)
            for n in range(N):
                temp_w = np.rot90(w, 2, (2, 3))  # the bug: the scatter route takes w as it is
                dx_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW] += np.sum(
                    (temp_w[:, :, :, :] * (grad_out[n, :, i, j])[:, None, None, None]), axis=0)
    return dx_pad, dw, db


def tutorial_backward(x, w, grad_out, stride=1, padding=0):
    """The tutorial's backward: ``(dx, dw, db)``; with padding 0 its crop raises (the slice is empty)."""
    dx_pad, dw, db = tutorial_scatter(x, w, grad_out, stride, padding)
    pad = padding
    dx = np.zeros_like(x)
    dx[:, :, :, :] = dx_pad[:, :, pad:-pad, pad:-pad]
    return dx, dw, db


def examples() -> list[dict]:
    """Submissions the page offers to try the Check mode: ``{"name", "title", "description",
    "problem" (a REST problem body), "submitted" (tensor name -> nested lists)}``."""
    from ..problem import PRESETS
    from .battery import BATTERY

    worked = BATTERY[0]
    problem = PRESETS["worked"]["problem"]
    pb = worked.problem()
    dx_pad, _, _ = tutorial_scatter(pb.x, pb.w, pb.grad_out)  # with padding 0, dx_pad is dx: no crop needed
    return [{
        "name": "tutorial_backward",
        "title": "The tutorial's backward code",
        "description": "grad_x of the worked example as the tutorial's own backward computes it: its scatter loop "
                       "rotates the kernel (with padding 0 its [pad:-pad] crop would leave nothing, so this is the "
                       "array before the crop).",
        "problem": problem,
        "submitted": {"grad_x": dx_pad.tolist()},
    }]
