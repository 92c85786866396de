"""The fast engine: im2col plus one matrix product (GEMM) per pass over the whole batch; same
signatures as ``naive.py`` (and tested equal to it).

The unrolled windows are kept transposed, rows (c, p, q) and one column per output position,
so every pass is one GEMM:

- ``out`` = ``w_rows`` (F, C*KH*KW) @ ``cols_t``;
- ``grad_w`` = ``g`` (F, positions) @ ``cols_t.T``, with ``g`` = grad_out in the column order of
  ``cols_t``: the same windows the forward pass read;
- ``grad_x``: see the two formulations below.

Two formulations, picked by ``formulation(geo)``:

``rows`` (stride 1, the common case). The padded input is stored row-interleaved, (C, Hp, N, Wp):
row ``h`` of every sample, then row ``h + 1``. A window row (c, p, q) of ``cols_t`` is then one
contiguous run of ``x_pad`` of length Ho*N*Wp, starting at (c, p*dh, 0, q*dw): one memcpy per
row instead of one short copy per output row, which is what im2col costs in NumPy. The price is
``span_w - 1`` extra columns per output row (positions ``j >= Wo``, computed and thrown away;
``g`` is zero there, so ``grad_w`` is unaffected): +14% of the products on the tutorial's 14x14
layer, +6% on 32x32. ``grad_x`` is the gather form (docs/conventions.md 4.4), the transposed
convolution computed as an ordinary one: ``grad_out_pad`` (no inserted zeros with stride 1)
unrolled the same way, times ``w_rot``. One more GEMM, no scatter.

``windows`` (stride > 1, and layers so narrow that the extra columns would cost more than the
copies save). The padded input is channel-first, (C, N, Hp, Wp), and ``cols_t`` is copied from
the window view. ``grad_x`` is col2im (the scatter form): ``d_cols`` = ``w_mat`` @ ``g``, then
KH*KW strided slice additions where each window was read. The gather form would multiply every
zero the stride inserts into ``grad_out_pad`` (sh*sw times the work); col2im multiplies only
real values.

Each product is computed in the orientation OpenBLAS runs fastest here: the longer side of the
result as its rows (``_product``).

Work buffers (padded tensors, unrolled windows, GEMM results) come from a small pool and go
back to it after the call: a fresh buffer of tens of megabytes costs about as much in
first-touch page faults as the product that fills it. A buffer is lent to one call at a time,
so calls from several threads never share one; what a call returns is always a fresh array.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .artifacts import _place, windows
from .checks import check_problem
from .geometry import Geometry

Take = Callable[[tuple], np.ndarray]


class _Pool:
    """Float64 scratch buffers lent to one call at a time, kept for the next call.

    Bounded: a buffer larger than ``max_keep`` bytes is dropped when given back, and so are
    the smallest buffers beyond ``max_total`` bytes, so a server's memory does not grow with
    the largest problem it ever saw times its threads.
    """

    def __init__(self, max_keep: int = 64 << 20, max_total: int = 160 << 20):
        self.max_keep, self.max_total = max_keep, max_total
        self._free: list[np.ndarray] = []  # largest first
        self._lock = threading.Lock()

    def _take(self, size: int) -> np.ndarray:
        with self._lock:
            for k in range(len(self._free) - 1, -1, -1):  # the smallest that fits
                if self._free[k].size >= size:
                    return self._free.pop(k)
        return np.empty(size)

    def _give(self, bufs: list[np.ndarray]) -> None:
        with self._lock:
            self._free.extend(buf for buf in bufs if buf.nbytes <= self.max_keep)
            self._free.sort(key=lambda buf: -buf.size)
            total = sum(buf.nbytes for buf in self._free)
            while total > self.max_total:
                total -= self._free.pop().nbytes

    @contextmanager
    def lend(self) -> Iterator[Take]:
        """``with pool.lend() as take:`` ``take(shape)`` is an uninitialised float64 array,
        valid until the ``with`` block ends (then back in the pool, even on an exception)."""
        taken: list[np.ndarray] = []

        def take(shape) -> np.ndarray:
            size = int(np.prod(shape))
            buf = self._take(size)
            taken.append(buf)
            return buf[:size].reshape(shape)

        try:
            yield take
        finally:
            self._give(taken)


_POOL = _Pool()

# The "rows" formulation computes span_w - 1 thrown-away columns per output row; beyond this
# share of the columns the extra products cost more than the contiguous copies save.
ROWS_MAX_EXTRA = 0.25


def formulation(geo: Geometry) -> str:
    """Which formulation the fast engine runs for ``geo``: ``"rows"`` or ``"windows"`` (module docstring)."""
    if geo.stride == (1, 1) and (geo.span_w - 1) / geo.Wp <= ROWS_MAX_EXTRA:
        return "rows"
    return "windows"


def _product(a: np.ndarray, b: np.ndarray, take: Take) -> np.ndarray:
    """``a @ b`` (M, L) in a work buffer, computed with the longer side of the result as its
    rows: OpenBLAS splits that side between its threads, and a result of few rows and many
    columns ran up to 1.5x slower here. The (M, L) returned may be a transposed view."""
    if a.shape[0] >= b.shape[1]:
        return np.matmul(a, b, out=take((a.shape[0], b.shape[1])))
    return np.matmul(b.T, a.T, out=take((b.shape[1], a.shape[0]))).T


def _fresh(view: np.ndarray) -> np.ndarray:
    """A C-contiguous copy that owns its memory: what a call returns never lives in the pool
    (``np.ascontiguousarray`` would hand back a work buffer when the view is already contiguous)."""
    return np.array(view, order="C", copy=True)


# ------------------------------------------------------------------------------------------
# public functions
# ------------------------------------------------------------------------------------------

def conv2d_forward(x, w, b=None, *, stride=1, padding=0, dilation=1) -> np.ndarray:
    """x (N, C, H, W), w (F, C, KH, KW), b (F,) or None -> out (N, F, Ho, Wo)."""
    x, w, b, _, geo = check_problem(x, w, b, stride=stride, padding=padding, dilation=dilation)
    with _POOL.lend() as take:
        if formulation(geo) == "rows":
            out = _forward_rows(x, w, geo, take)
        else:
            out = _forward_windows(x, w, geo, take)
    if b is not None:
        out += b[:, None, None]
    return out


def conv2d_backward(x, w, grad_out, *, stride=1, padding=0, dilation=1):
    """x (N, C, H, W), w (F, C, KH, KW), grad_out (N, F, Ho, Wo)
    -> (grad_x (N, C, H, W), grad_w (F, C, KH, KW), grad_b (F,))."""
    x, w, _, grad_out, geo = check_problem(
        x, w, None, grad_out, stride=stride, padding=padding, dilation=dilation, need_grad_out=True
    )
    grad_b = grad_out.sum(axis=(0, 2, 3))
    with _POOL.lend() as take:
        if formulation(geo) == "rows":
            grad_x, grad_w = _backward_rows(x, w, grad_out, geo, take)
        else:
            grad_x, grad_w = _backward_windows(x, w, grad_out, geo, take)
    return grad_x, grad_w, grad_b


def grad_x_scatter(x, w, grad_out, *, stride=1, padding=0, dilation=1) -> np.ndarray:
    """``grad_x`` the scatter way (col2im): each ``grad_out`` cell times ``w`` (not rotated),
    added over its window of ``grad_x_pad``, then the padding ring cropped.

    x (N, C, H, W), w (F, C, KH, KW), grad_out (N, F, Ho, Wo) -> grad_x (N, C, H, W).
    """
    x, w, _, grad_out, geo = check_problem(
        x, w, None, grad_out, stride=stride, padding=padding, dilation=dilation, need_grad_out=True
    )
    with _POOL.lend() as take:
        return _grad_x_col2im(_channel_first(grad_out, take).reshape(geo.F, -1), w, geo, take)


# ------------------------------------------------------------------------------------------
# "rows": stride 1, row-interleaved layout
# ------------------------------------------------------------------------------------------

def _interleave_rows(t: np.ndarray, top: int, left: int, rows: int, cols: int, take: Take) -> np.ndarray:
    """``t`` (N, K, A, B) -> a flat buffer holding (K, rows, N, cols) with ``t`` at (top, left)
    (negative: cropped) and zeros around, plus ``cols`` zeros at the end: a window row's run
    may reach past the last row into them (its extra columns, thrown away)."""
    n, k, a, bb = t.shape
    size = k * rows * n * cols
    flat = take((size + cols,))
    dst = flat[:size].reshape(k, rows, n, cols)
    src_h, dst_h = _place(a, top, rows - a - top)
    src_w, dst_w = _place(bb, left, cols - bb - left)
    if (dst_h.stop - dst_h.start, dst_w.stop - dst_w.start) == (rows, cols):
        flat[size:] = 0
    else:
        flat[...] = 0
    dst[:, dst_h, :, dst_w] = t[:, :, src_h, src_w].transpose(1, 2, 0, 3)
    return flat


def _unroll_rows(flat: np.ndarray, k: int, rows: int, cols: int, out_rows: int, geo: Geometry, take: Take) -> np.ndarray:
    """Window rows of a row-interleaved (k, rows, N, cols) buffer read with stride 1:
    (k*KH*KW, out_rows*N*cols); row (c, p, q) is the run starting at (c, p*dh, 0, q*dw)."""
    dh, dw = geo.dilation
    run = out_rows * geo.N * cols
    item = flat.itemsize
    view = as_strided(flat, shape=(k, geo.KH, geo.KW, run),
                      strides=(rows * geo.N * cols * item, dh * geo.N * cols * item, dw * item, item), writeable=False)
    cols_t = take((k, geo.KH, geo.KW, run))
    np.copyto(cols_t, view)
    return cols_t.reshape(k * geo.KH * geo.KW, run)


def _from_rows(res: np.ndarray, n: int, rows: int, cols: int, keep: int) -> np.ndarray:
    """A GEMM result (K, rows*N*cols) -> a fresh (N, K, rows, keep): the first ``keep`` columns
    of each row are real, the rest were the thrown-away positions."""
    k = res.shape[0]
    return _fresh(res.reshape(k, rows, n, cols)[:, :, :, :keep].transpose(2, 0, 1, 3))


def _forward_rows(x, w, geo: Geometry, take: Take) -> np.ndarray:
    ph, pw = geo.padding
    x_rows = _interleave_rows(x, ph, pw, geo.Hp, geo.Wp, take)  # x_pad as (C, Hp, N, Wp)
    cols_t = _unroll_rows(x_rows, geo.C, geo.Hp, geo.Wp, geo.Ho, geo, take)  # C*KH*KW, Ho*N*Wp
    out = _product(w.reshape(geo.F, -1), cols_t, take)  # F, Ho*N*Wp
    return _from_rows(out, geo.N, geo.Ho, geo.Wp, geo.Wo)


def _backward_rows(x, w, grad_out, geo: Geometry, take: Take):
    ph, pw = geo.padding
    x_rows = _interleave_rows(x, ph, pw, geo.Hp, geo.Wp, take)
    cols_t = _unroll_rows(x_rows, geo.C, geo.Hp, geo.Wp, geo.Ho, geo, take)  # C*KH*KW, Ho*N*Wp
    # grad_out in the column order of cols_t, zero on the thrown-away columns
    g = _interleave_rows(grad_out, 0, 0, geo.Ho, geo.Wp, take)[: geo.F * geo.Ho * geo.N * geo.Wp]
    grad_w = _product(cols_t, g.reshape(geo.F, -1).T, take)  # C*KH*KW, F
    grad_w = _fresh(grad_w.T).reshape(geo.w_shape)

    # gather: grad_x[:, c, h, v] = sum_{f,p,q} grad_out_pad[:, f, h + p*dh, v + q*dw] * w_rot[c, f, p, q]
    top, _, left, _ = geo.grad_out_pad_margins
    g_rows = _interleave_rows(grad_out, top, left, geo.Hg, geo.Wg, take)  # grad_out_pad as (F, Hg, N, Wg)
    gcols_t = _unroll_rows(g_rows, geo.F, geo.Hg, geo.Wg, geo.H, geo, take)  # F*KH*KW, H*N*Wg
    w_rot_rows = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(geo.C, -1)
    grad_x = _product(w_rot_rows, gcols_t, take)  # C, H*N*Wg
    return _from_rows(grad_x, geo.N, geo.H, geo.Wg, geo.W), grad_w


# ------------------------------------------------------------------------------------------
# "windows": any stride, channel-first layout, col2im
# ------------------------------------------------------------------------------------------

def _channel_first(t: np.ndarray, take: Take) -> np.ndarray:
    """(N, K, A, B) -> (K, N, A, B) in a work buffer."""
    out = take((t.shape[1], t.shape[0]) + t.shape[2:])
    np.copyto(out, t.transpose(1, 0, 2, 3))
    return out


def _padded_t(x: np.ndarray, geo: Geometry, take: Take) -> np.ndarray:
    """``x`` (N, C, H, W) -> ``x_pad`` channel-first, (C, N, Hp, Wp), in a work buffer."""
    ph, pw = geo.padding
    x_pad_t = take((geo.C, geo.N, geo.Hp, geo.Wp))
    if ph or pw:  # zero only the ring; the inside is overwritten
        x_pad_t[:, :, :ph] = 0
        x_pad_t[:, :, ph + geo.H:] = 0
        x_pad_t[:, :, ph:ph + geo.H, :pw] = 0
        x_pad_t[:, :, ph:ph + geo.H, pw + geo.W:] = 0
    x_pad_t[:, :, ph:ph + geo.H, pw:pw + geo.W] = x.transpose(1, 0, 2, 3)
    return x_pad_t


def _unroll_windows(x_pad_t: np.ndarray, geo: Geometry, take: Take) -> np.ndarray:
    """``x_pad_t`` (C, N, Hp, Wp) -> ``cols_t`` = ``im2col(x_pad).T`` (C*KH*KW, N*Ho*Wo)."""
    win = windows(x_pad_t, geo)  # C, N, Ho, Wo, KH, KW (a view)
    cols_t = take((geo.C, geo.KH, geo.KW, geo.N, geo.Ho, geo.Wo))
    np.copyto(cols_t, win.transpose(0, 4, 5, 1, 2, 3))
    return cols_t.reshape(geo.C * geo.KH * geo.KW, -1)


def _batch_first(res: np.ndarray, shape: tuple[int, int, int, int]) -> np.ndarray:
    """A GEMM result (K, N*A*B) -> a fresh (N, K, A, B)."""
    n, k, a, b = shape
    return _fresh(res.reshape(k, n, a, b).transpose(1, 0, 2, 3))


def _forward_windows(x, w, geo: Geometry, take: Take) -> np.ndarray:
    cols_t = _unroll_windows(_padded_t(x, geo, take), geo, take)  # C*KH*KW, N*Ho*Wo
    return _batch_first(_product(w.reshape(geo.F, -1), cols_t, take), geo.out_shape)


def _backward_windows(x, w, grad_out, geo: Geometry, take: Take):
    g = _channel_first(grad_out, take).reshape(geo.F, -1)  # F, N*Ho*Wo: the column order of cols_t
    cols_t = _unroll_windows(_padded_t(x, geo, take), geo, take)
    grad_w = _fresh(_product(cols_t, g.T, take).T).reshape(geo.w_shape)
    return _grad_x_col2im(g, w, geo, take), grad_w


def _grad_x_col2im(g: np.ndarray, w: np.ndarray, geo: Geometry, take: Take) -> np.ndarray:
    """``d_cols`` = ``w_mat`` @ ``g`` (C*KH*KW, N*Ho*Wo), each column the gradient of one
    window, added back into ``grad_x_pad`` where the window was read, then cropped.
    ``g`` is grad_out as (F, N*Ho*Wo)."""
    d_cols = _product(w.reshape(geo.F, -1).T, g, take)
    d_cols = d_cols.reshape(geo.C, geo.KH, geo.KW, geo.N, geo.Ho, geo.Wo)
    # Accumulate in (C, N, ...) order, d_cols' own, so each added plane is one strided block.
    grad_x_pad_t = take((geo.C, geo.N, geo.Hp, geo.Wp))
    grad_x_pad_t[...] = 0
    for p in range(geo.KH):
        for q in range(geo.KW):
            grad_x_pad_t[(..., *geo.tap_slices(p, q))] += d_cols[:, p, q]
    ph, pw = geo.padding
    return _batch_first(grad_x_pad_t[:, :, ph:ph + geo.H, pw:pw + geo.W], geo.x_shape)
