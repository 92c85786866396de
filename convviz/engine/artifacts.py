"""The intermediate tensors of docs/conventions.md a reader wants to see: x_pad, grad_out_pad, w_rot, im2col.

Both engines and the step traces build them here, so there is one definition of each.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .geometry import Geometry


def pad_input(x: np.ndarray, geo: Geometry) -> np.ndarray:
    """``x`` (N, C, H, W) -> ``x_pad`` (N, C, Hp, Wp): a ring of ph / pw zeros."""
    ph, pw = geo.padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def rotate_kernel(w: np.ndarray) -> np.ndarray:
    """``w`` (F, C, KH, KW) -> ``w_rot`` (C, F, KH, KW): rotated 180 degrees, first two axes swapped.

    ``w_rot[c, f, p, q] == w[f, c, KH-1-p, KW-1-q]``.
    """
    return np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))


def _place(size_dilated: int, before: int, after: int) -> tuple[slice, slice]:
    """Where the dilated map lands in the padded one; a negative margin crops instead.

    A crop can remove every row of the dilated map (tiny input, large stride and padding): the
    length is then 0 and grad_out_pad is all zeros.
    """
    length = max(0, size_dilated - max(0, -before) - max(0, -after))
    src = slice(max(0, -before), max(0, -before) + length)
    dst = slice(max(0, before), max(0, before) + length)
    return src, dst


def dilate_and_pad(grad_out: np.ndarray, geo: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """``grad_out`` (N, F, Ho, Wo) -> ``(grad_out_pad, real)``, both (N, F, Hg, Wg).

    Step 1 inserts ``sh-1`` zero rows (``sw-1`` columns) between neighbours; step 2 pads with
    ``dh(KH-1) - ph`` zeros on top and ``dh(KH-1) - ph + r_h`` at the bottom (likewise left /
    right), cropping where that is negative (docs/conventions.md). ``real`` is a boolean mask (H, W
    dimensions only: ``(Hg, Wg)``) that is True where the cell holds a real ``grad_out`` value
    and False for an inserted zero.
    """
    sh, sw = geo.stride
    top, bottom, left, right = geo.grad_out_pad_margins
    dil_h, dil_w = (geo.Ho - 1) * sh + 1, (geo.Wo - 1) * sw + 1
    dilated = np.zeros(grad_out.shape[:2] + (dil_h, dil_w))
    dilated[:, :, ::sh, ::sw] = grad_out
    real_dilated = np.zeros((dil_h, dil_w), dtype=bool)
    real_dilated[::sh, ::sw] = True

    src_h, dst_h = _place(dil_h, top, bottom)
    src_w, dst_w = _place(dil_w, left, right)
    grad_out_pad = np.zeros(grad_out.shape[:2] + (geo.Hg, geo.Wg))
    grad_out_pad[:, :, dst_h, dst_w] = dilated[:, :, src_h, src_w]
    real = np.zeros((geo.Hg, geo.Wg), dtype=bool)
    real[dst_h, dst_w] = real_dilated[src_h, src_w]
    return grad_out_pad, real


def windows(x_pad: np.ndarray, geo: Geometry) -> np.ndarray:
    """A read-only view (N, C, Ho, Wo, KH, KW) of every window of ``x_pad``; no copy."""
    sh, sw = geo.stride
    dh, dw = geo.dilation
    view = sliding_window_view(x_pad, (geo.span_h, geo.span_w), axis=(2, 3))
    return view[:, :, ::sh, ::sw, ::dh, ::dw]


def im2col(x_pad: np.ndarray, geo: Geometry) -> np.ndarray:
    """``x_pad`` -> ``cols`` (N*Ho*Wo, C*KH*KW): row (n*Ho + i)*Wo + j is the window of out[n, :, i, j]."""
    win = windows(x_pad, geo)  # N, C, Ho, Wo, KH, KW
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(geo.cols_shape)


def kernel_matrix(w: np.ndarray) -> np.ndarray:
    """``w`` (F, C, KH, KW) -> ``w_mat`` (C*KH*KW, F), so that ``cols @ w_mat`` is ``out`` unrolled."""
    return w.reshape(w.shape[0], -1).T
