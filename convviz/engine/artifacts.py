"""The intermediate tensors of docs/conventions.md a reader wants to see: x_pad, grad_out_pad, w_rot,
im2col, and the fold that takes the gradient of x_pad back onto x.

Both engines and the step traces build them here, so there is one definition of each.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .geometry import Geometry


#: NumPy's name of each padding mode
NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad_input(x: np.ndarray, geo) -> np.ndarray:
    """``x`` (N, C, H, W) -> ``x_pad`` (N, C, Hp, Wp): a border of top / bottom / left / right
    cells, zeros or copies of x's cells (``geo.padding_mode``; ``geo.x_pad_source`` says which).

    For a transposed convolution (``TransposedGeometry``): x dilated by the stride and padded
    by ``dh(KH-1) - ph`` (cropped where negative), ``oph`` more at the bottom (likewise columns).
    """
    if geo.transposed:
        return _dilate_pad(x, geo.stride, geo.x_pad_margins, (geo.Hp, geo.Wp))[0]
    top, bottom, left, right = geo.pads
    if min(geo.pads) >= 0:
        return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode=NUMPY_PAD_MODES[geo.padding_mode])
    # a negative side crops (modes that copy x only): np.pad takes no negative width, and reflect
    # mirrors about uncropped x's edge (docs/conventions.md), so gather each row and column by its source
    _, rows, _ = geo.x_pad_source(np.arange(geo.Hp), 0)
    _, _, cols = geo.x_pad_source(0, np.arange(geo.Wp))
    return x[:, :, rows][:, :, :, cols]


def fold(grad_x_pad: np.ndarray, geo: Geometry) -> np.ndarray:
    """``grad_x_pad`` (N, C, Hp, Wp) -> ``grad_x`` (N, C, H, W): each x_pad cell's gradient added
    onto the x cell it copies (``geo.x_pad_source``); zeros of the border copy nothing, and a
    cell of x that a negative side crops and no border copies gets 0.

    Rows first, then columns: the border of a padding mode copies whole rows and whole columns.
    Each cell adds its own place first, then its copies in order (``geo.copies``)."""
    rows = _fold_axis(grad_x_pad, geo.copies(0), 2)
    return _fold_axis(rows, geo.copies(1), 3)


def _fold_axis(t: np.ndarray, table: np.ndarray, axis: int) -> np.ndarray:
    """``t`` summed along ``axis`` by ``table`` (size, K): entry ``h`` of the result is the sum of
    ``t``'s entries ``table[h]`` (-1: none), added in the table's order."""
    shape = list(t.shape)
    shape[axis] = table.shape[0]
    out = np.zeros(shape)
    for k in range(table.shape[1]):
        dst = np.nonzero(table[:, k] >= 0)[0]
        if axis == 2:
            out[:, :, dst] += t[:, :, table[dst, k]]
        else:
            out[:, :, :, dst] += t[:, :, :, table[dst, k]]
    return out


def rotate_kernel(w: np.ndarray, groups: int = 1) -> np.ndarray:
    """``w`` (F, C/groups, KH, KW) -> ``w_rot`` (C, F/groups, KH, KW): rotated 180 degrees, and
    inside each group the kernel and channel axes swapped.

    ``w_rot[c, fg, p, q] == w[f, cg, KH-1-p, KW-1-q]`` with ``f`` the fg-th kernel of c's group
    and ``cg`` c's place in it (groups = 1: ``w_rot[c, f, p, q] == w[f, c, KH-1-p, KW-1-q]``).
    A transposed convolution's w (C, F/groups, KH, KW) turns into its (F, C/groups, KH, KW) the same way.
    """
    a, b, kh, kw = w.shape
    per_group = w[:, :, ::-1, ::-1].reshape(groups, a // groups, b, kh, kw).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(per_group).reshape(groups * b, a // groups, kh, kw)


def _place(size_dilated: int, before: int, after: int) -> tuple[slice, slice]:
    """Where the dilated map lands in the padded one; a negative margin crops instead.

    A crop can remove every row of the dilated map (tiny input, large stride and padding): the
    length is then 0 and grad_out_pad is all zeros.
    """
    length = max(0, size_dilated - max(0, -before) - max(0, -after))
    src = slice(max(0, -before), max(0, -before) + length)
    dst = slice(max(0, before), max(0, before) + length)
    return src, dst


def _dilate_pad(t: np.ndarray, stride, margins, size) -> tuple[np.ndarray, np.ndarray]:
    """``t`` (N, K, A, B) with stride - 1 zeros inserted between neighbours, then ``margins``
    (top, bottom, left, right) of zeros (cropped where negative) -> ``(padded, real)``,
    (N, K, *size) and a (*size) mask of the cells that hold a value of ``t``."""
    sh, sw = stride
    top, bottom, left, right = margins
    dil_h, dil_w = (t.shape[2] - 1) * sh + 1, (t.shape[3] - 1) * sw + 1
    dilated = np.zeros(t.shape[:2] + (dil_h, dil_w))
    dilated[:, :, ::sh, ::sw] = t
    real_dilated = np.zeros((dil_h, dil_w), dtype=bool)
    real_dilated[::sh, ::sw] = True
    src_h, dst_h = _place(dil_h, top, bottom)
    src_w, dst_w = _place(dil_w, left, right)
    padded = np.zeros(t.shape[:2] + tuple(size))
    padded[:, :, dst_h, dst_w] = dilated[:, :, src_h, src_w]
    real = np.zeros(tuple(size), dtype=bool)
    real[dst_h, dst_w] = real_dilated[src_h, src_w]
    return padded, real


def dilate_and_pad(grad_out: np.ndarray, geo) -> tuple[np.ndarray, np.ndarray]:
    """``grad_out`` (N, F, Ho, Wo) -> ``(grad_out_pad, real)``, both (N, F, Hg, Wg).

    Step 1 inserts ``sh-1`` zero rows (``sw-1`` columns) between neighbours; step 2 pads with
    ``dh(KH-1) - ph`` zeros on top and ``dh(KH-1) - ph + r_h`` at the bottom (likewise left /
    right), cropping where that is negative (docs/conventions.md). ``real`` is a boolean mask (H, W
    dimensions only: ``(Hg, Wg)``) that is True where the cell holds a real ``grad_out`` value
    and False for an inserted zero.

    For a transposed convolution: grad_out with a border of ph / pw zeros (its grad_x is a plain
    convolution of that), (N, F, Ho + 2ph, Wo + 2pw).
    """
    if geo.transposed:
        ph, pw = geo.padding
        return _dilate_pad(grad_out, (1, 1), (ph, ph, pw, pw), (geo.Hg, geo.Wg))
    return _dilate_pad(grad_out, geo.stride, geo.grad_out_pad_margins, (geo.Hg, geo.Wg))


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


def kernel_matrix(w: np.ndarray, groups: int = 1) -> np.ndarray:
    """``w`` (F, C/groups, KH, KW) -> ``w_mat`` (C*KH*KW, F), so that ``cols @ w_mat`` is ``out``
    unrolled. With groups, one block per group on the diagonal: kernel f's column holds its
    weights in the rows of its group's channels and zeros in the others'."""
    F, Cg = w.shape[:2]
    if groups == 1:
        return w.reshape(F, -1).T
    rows, Fg = Cg * w.shape[2] * w.shape[3], F // groups
    w_mat = np.zeros((groups * rows, F))
    for g in range(groups):
        w_mat[g * rows:(g + 1) * rows, g * Fg:(g + 1) * Fg] = w[g * Fg:(g + 1) * Fg].reshape(Fg, -1).T
    return w_mat
