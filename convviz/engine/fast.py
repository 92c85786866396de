"""The fast engine: im2col plus one matrix product (GEMM) per pass over the whole batch; same
signatures as ``naive.py`` (and tested equal to it).

The unrolled windows are kept transposed, ``cols_t``: a row per window cell (c, p, q) and a
column per output position, so every pass is one GEMM:

- ``out`` = ``w_rows`` (F, C*KH*KW) @ ``cols_t``;
- ``grad_w`` = ``cols_t`` @ ``g.T``, with ``g`` (F, positions) = grad_out in the column order of
  ``cols_t``: the same windows the forward pass read;
- ``grad_x``: below.

(``rows`` unrolls only the kernel's first column and takes each product per kernel column,
shifted: below.)

Two tuned formulations for a zero border (``rows`` also with groups), picked per shape by
``formulation(geo)`` (README "Performance" has the measurements):

``rows`` (the usual layers, any stride). The padded input is split by the stride into sh*sw
*phase planes* (rows a, a + sh, ...; columns b, b + sw, ...; one plane with stride 1), each
stored row-interleaved, (C, R, N, Cc): row r of every sample, then row r + 1. Kernel cell (p, q)
reads, over all output positions, one contiguous run of each channel's plane, and cell (p, q + 1)
reads the same run moved by dw columns (stride 1). So only the kernel's first column is unrolled,
``cols_t`` (C*KH, positions + (KW-1)*dw), one block copy per kernel row: KW times less copying
than the full unrolling (which was itself 3x cheaper than one short copy per output row). Each
product is then taken against the KW kernel columns stacked as rows, and the full product put
together by KW shifted additions (``_shift_sum``):

- ``out``: ``w_q`` ((q, f), (c, p)) @ ``cols_t``, then ``out[f, u] = sum_q y[(q, f), u + q*dw]``;
- ``grad_w``: ``g`` copied KW times, moved right by q*dw (``_shift_rows``), @ ``cols_t.T``;
- ``grad_x`` (stride 1): the gather form (docs/conventions.md 4.4), the transposed convolution
  computed as an ordinary one on ``grad_out_pad``, unrolled and summed the same way with ``w_rot``:
  no scatter.

The price is ``Cc - Wo`` extra columns per output row, computed and thrown away (``g`` is zero
there, so ``grad_w`` is unaffected). Consecutive rows share their zeros (``_Layout``): a row's
right padding is the next row's left padding, so Cc is (Wp - min(left, right)) / sw: +7% of the
products on the tutorial's 14x14 layer (15 positions per row for 14 outputs), +3% on 32x32.
With stride > 1, kernel column q reads column phase b = q*dw % sw moved by c0 = q*dw // sw
columns: the same scheme per phase b read (``_phase_groups``; one unrolled row per (b, c, p),
one product per phase, shifts c0), and ``grad_x`` by col2im (the scatter form): each unrolled
row's gradient (``g_shifts.T @ w_q``, positions as rows) added back into channels-last phase
planes, one block per (phase, kernel row). The gather form would multiply every zero the stride
inserts into ``grad_out_pad`` (sh*sw times the work); taken phase by phase of the stride instead
(each phase a stride-1 correlation with the kernel taps that reach it: no zero multiplied), its
products were too small for OpenBLAS (K = 32-48) and it measured 10% slower than col2im on the
strided layer.

``windows`` (layers so narrow that the thrown-away columns would be over half of the work,
``ROWS_MAX_EXTRA``: a 1-pixel-wide map under a 3x3 kernel). Channel-first (C, N, Hp, Wp),
``cols_t`` copied from the window view, ``grad_x`` by col2im with KH*KW strided slice additions.

Each product runs in the orientation OpenBLAS is fastest at here (``_product``), except the
stride-1 ``grad_x`` of ``rows``: row-major, so its shifted sums add long contiguous rows (faster
overall on the tutorial's and the larger layer).

Per call. A small layer's call is short enough (about 1 ms) for Python to show: the geometry
and every layout derived from it are worked out once and remembered (immutable), and the
pool hands back a buffer of the same size with one lookup. A 1x1x3x3 problem's forward and
backward, all overhead, take about 75 us.

Groups (``rows`` only): every product is batched over the groups, ((G, KW*F/G, C/G*KH) @
(G, C/G*KH, positions)); a depthwise layer's grad_w (3 x 3 per group) as dot products
(``_products_nt``); with a stride, grad_x's unrolled gradient is written per group into
(positions, G, KH, C/G), so col2im still adds each kernel row as one block.

``general`` (a border of copies: reflect, replicate, circular; groups on a map too narrow for
``rows``): the ``windows`` layout with one batched GEMM over the groups ((G, F/G, C/G*KH*KW) @
(G, C/G*KH*KW, positions)),
x padded in its mode first and convolved with no further padding; ``grad_x_pad`` by col2im per
group, then cropped (zeros) or folded onto x (``artifacts.fold``: each border copy's gradient
added onto its source). The transposed convolution runs through its dual (``TransposedGeometry.dual``):
its forward is the dual's grad_x, its grad_x the dual's forward, its grad_w the dual's grad_w
with the roles of x and grad_out swapped, each in the dual's formulation (``general``: col2im).

Memory. Work buffers (padded tensors, unrolled windows, GEMM results) come from a small pool
and go back after the call: a fresh buffer of tens of megabytes costs milliseconds of
first-touch page faults (1.6 ms a pass for the 37 MB of an 8x64x32x32 layer's windows). A
buffer is lent to one call at a time, so calls from several threads never share one, and what
a call returns is always a fresh array. The unrolled windows of the last forward pass are kept
(``_LastColumns``) for a backward pass on the same ``x``, checked bit for bit, as a framework
keeps them between the two passes.
"""

from __future__ import annotations

import functools
import math
import threading
from contextlib import contextmanager
from typing import Iterator, NamedTuple

import numpy as np

from .artifacts import fold, pad_input, windows
from .checks import check_problem, check_update
from .geometry import Geometry, TransposedGeometry


class _Lease:
    """What ``_Pool.lend`` gives: ``take(shape)`` -> an uninitialised float64 work array, valid
    until the ``with`` block ends (then back in the pool, even on an exception)."""

    def __init__(self, pool: "_Pool"):
        self.pool, self.taken = pool, []

    def __enter__(self) -> "_Lease":
        return self

    def __exit__(self, *exc) -> None:
        self.pool.give(self.taken)

    def __call__(self, shape) -> np.ndarray:
        size = math.prod(shape)
        buf = self.pool._take(size)
        self.taken.append(buf)
        return buf[:size].reshape(shape)

    def keep(self, arr: np.ndarray) -> np.ndarray:
        """Take the buffer holding ``arr`` out of the lease (it is not given back at the end);
        returns the buffer, for ``_Pool.give`` later."""
        for k, buf in enumerate(self.taken):
            if np.may_share_memory(buf, arr):
                return self.taken.pop(k)
        raise ValueError("not a work array of this lease")


class _Pool:
    """Float64 scratch buffers lent to one call at a time, kept for the next call.

    Bounded: a buffer larger than ``max_keep`` bytes is dropped when given back, and so are
    the smallest buffers beyond ``max_total`` bytes, so a server's memory does not grow with
    the largest problem it ever saw times its threads.
    """

    def __init__(self, max_keep: int = 64 << 20, max_total: int = 160 << 20):
        self.max_keep, self.max_total = max_keep, max_total
        self._free: dict[int, list[np.ndarray]] = {}  # by size (cells): a call asks for the same sizes again
        self._bytes = 0  # held in _free
        self._lock = threading.Lock()

    def buffers(self) -> list[np.ndarray]:
        """The buffers held now (for tests and accounting)."""
        with self._lock:
            return [buf for bufs in self._free.values() for buf in bufs]

    def _take(self, size: int) -> np.ndarray:
        with self._lock:
            # the same size if held, else the smallest that fits
            held = size if size in self._free else min((s for s in self._free if s >= size), default=None)
            if held is None:
                return np.empty(size)
            bufs = self._free[held]
            buf = bufs.pop()
            if not bufs:
                del self._free[held]
            self._bytes -= buf.nbytes
            return buf

    def give(self, bufs: list[np.ndarray]) -> None:
        with self._lock:
            for buf in bufs:
                if buf.nbytes <= self.max_keep:
                    self._free.setdefault(buf.size, []).append(buf)
                    self._bytes += buf.nbytes
            for size in sorted(self._free) if self._bytes > self.max_total else ():  # drop the smallest first
                bufs = self._free[size]
                while bufs and self._bytes > self.max_total:
                    self._bytes -= bufs.pop().nbytes
                if not bufs:
                    del self._free[size]

    def lend(self) -> _Lease:
        """``with pool.lend() as take:`` the arrays ``take(shape)`` returns are valid until the
        ``with`` block ends (then back in the pool, even on an exception)."""
        return _Lease(self)


_POOL = _Pool()


class _LastColumns:
    """The unrolled windows of the last forward pass, for a backward pass on the same ``x``
    (same bits, same geometry): one slot, handed to one call at a time."""

    def __init__(self, pool: _Pool):
        self.pool = pool
        self._slot = None  # (key, x copy, buffer, cols_t)
        self._lock = threading.Lock()

    @staticmethod
    def _key(x: np.ndarray, geo: Geometry, kind: str) -> tuple:
        return kind, x.shape, geo.KH, geo.KW, geo.stride, geo.pads, geo.dilation, geo.groups, geo.padding_mode

    def keep(self, x: np.ndarray, geo: Geometry, kind: str, cols_t: np.ndarray, take: _Lease) -> None:
        if cols_t.nbytes > self.pool.max_keep:
            return
        self._put((self._key(x, geo, kind), np.array(x), take.keep(cols_t), cols_t))

    @contextmanager
    def borrow(self, x: np.ndarray, geo: Geometry, kind: str) -> Iterator[np.ndarray | None]:
        """The kept ``cols_t`` if it was made from this ``x`` and geometry, else None."""
        with self._lock:
            slot, self._slot = self._slot, None
        if slot is not None and (slot[0] != self._key(x, geo, kind)
                                 or not np.array_equal(slot[1].view(np.int64), x.view(np.int64))):
            self.pool.give([slot[2]])
            slot = None
        try:
            yield None if slot is None else slot[3]
        finally:
            if slot is not None:
                self._put(slot)

    def _put(self, slot) -> None:
        with self._lock:
            old, self._slot = self._slot, slot
        if old is not None:
            self.pool.give([old[2]])


_LAST_COLUMNS = _LastColumns(_POOL)

# The "rows" formulation computes Cc - Wo thrown-away columns per output row; beyond this share
# of the columns the extra products cost more than the contiguous copies save (measured here:
# "rows" was faster with a third and with half of the columns thrown away, as fast with two thirds).
ROWS_MAX_EXTRA = 0.5


@functools.lru_cache(maxsize=256)  # per geometry (immutable): recomputing it was a visible share of a small layer's call
def formulation(geo: Geometry) -> str:
    """Which formulation the fast engine runs for ``geo``: ``"rows"`` or ``"windows"`` (module docstring)."""
    if geo.stride[0] > geo.Hp or geo.stride[1] > geo.Wp:
        # "rows" keeps sh*sw phase planes of at least one cell each: with a stride beyond the
        # padded input that is a plane per stride step, not per cell (stride 1e9: 1e18 cells)
        return "windows"
    cols = _x_layout(geo).Cc  # positions of a phase plane's row: Wo of them are real
    return "rows" if (cols - geo.Wo) / cols <= ROWS_MAX_EXTRA else "windows"


def _product(a: np.ndarray, b: np.ndarray, take: _Lease) -> np.ndarray:
    """``a @ b`` (M, L) in a work buffer, computed with the longer side of the result as its
    rows: a result of few rows and many columns ran up to 1.5x slower here (OpenBLAS 0.3,
    2 threads; ``benchmarks/bench_engine.py``). The (M, L) returned may be a transposed view."""
    if a.shape[0] >= b.shape[1]:
        return np.matmul(a, b, out=take((a.shape[0], b.shape[1])))
    return np.matmul(b.T, a.T, out=take((b.shape[1], a.shape[0]))).T


def _fresh(view: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """A C-contiguous copy that owns its memory (``np.ascontiguousarray`` would hand back a
    work buffer when the view is already contiguous), plus ``bias`` (F,) on axis 1 if given."""
    if bias is None:
        return np.array(view, order="C", copy=True)
    return np.add(view, bias[:, None, None], out=np.empty(view.shape))


# ------------------------------------------------------------------------------------------
# public functions
# ------------------------------------------------------------------------------------------

def _tuned(geo: Geometry) -> bool:
    """Whether the tuned formulations (``rows`` / ``windows``) take ``geo``: a zero border (of any
    sides) and one group, or groups in ``rows`` (each product batched over the groups); the rest
    runs the ``general`` one."""
    if geo.padding_mode != "zeros":
        return False
    return geo.groups == 1 or formulation(geo) == "rows"


def conv2d_forward(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros") -> np.ndarray:
    """x (N, C, H, W), w (F, C/groups, KH, KW), b (F,) or None -> out (N, F, Ho, Wo)."""
    x, w, b, _, geo = check_problem(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups,
                                    padding_mode=padding_mode)
    if not _tuned(geo):
        return _forward_general(x, w, b, geo)
    with _POOL.lend() as take:
        out, cols_t = _tuned_forward(x, w, b, geo, take)
        _LAST_COLUMNS.keep(x, geo, formulation(geo), cols_t, take)
    return out


def _tuned_forward(x, w, b, geo: Geometry, take: _Lease) -> tuple[np.ndarray, np.ndarray]:
    """``out`` (N, F, Ho, Wo), fresh, by the formulation of ``geo`` (``rows`` or ``windows``), and
    the unrolled windows it read (``cols_t``, a work array of ``take``)."""
    kind = formulation(geo)
    cols_t = _x_columns(x, geo, kind, take)
    if kind == "rows" and geo.stride == (1, 1):
        # cols_t: one row per (c, p), KW*dw columns longer; each kernel column q is a shift of it
        # per group: rows (q, f), columns (c, p)
        w_q = _column_weights(w, range(geo.KW), geo.groups)
        shifts = [q * geo.dilation[1] for q in range(geo.KW)]
        y = _products(w_q, cols_t.reshape(geo.groups, -1, cols_t.shape[1]), take)
        res = _shift_sum([(y, shifts)], geo.Fg, take)
    elif kind == "rows":
        # cols_t: per column phase b, one row per (c, p); kernel column q = (c0*sw + b) / dw is shift c0
        phases, G = _phase_groups(geo), geo.groups
        cols_b = cols_t.reshape(len(phases), G, geo.Cg * geo.KH, -1)
        res = _shift_sum([(_products(_column_weights(w, qs, G), cols_b[i], take), c0s)
                          for i, (_, qs, c0s) in enumerate(phases)], geo.Fg, take)
    else:
        res = _product(w.reshape(geo.F, -1), cols_t, take)  # F, positions
    if kind == "rows":
        out = _from_rows(res, geo.N, geo.Ho, _x_layout(geo).Cc, geo.Wo, b)
    else:
        out = _fresh(res.reshape(geo.F, geo.N, geo.Ho, geo.Wo).transpose(1, 0, 2, 3), b)
    return out, cols_t


def conv2d_backward(x, w, grad_out, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """x (N, C, H, W), w (F, C/groups, KH, KW), grad_out (N, F, Ho, Wo)
    -> (grad_x (N, C, H, W), grad_w (F, C/groups, KH, KW), grad_b (F,))."""
    x, w, _, grad_out, geo = check_problem(x, w, None, grad_out, stride=stride, padding=padding, dilation=dilation,
                                           groups=groups, padding_mode=padding_mode, need_grad_out=True)
    grad_b = grad_out.sum(axis=(0, 2, 3))
    if not _tuned(geo):
        return (*_backward_general(x, w, grad_out, geo), grad_b)
    kind = formulation(geo)
    with _POOL.lend() as take, _LAST_COLUMNS.borrow(x, geo, kind) as cols_t:
        if cols_t is None:
            cols_t = _x_columns(x, geo, kind, take)
        grad_x, grad_w = _tuned_backward(cols_t, w, grad_out, geo, take)
    return grad_x, grad_w, grad_b


def _tuned_backward(cols_t, w, grad_out, geo: Geometry, take: _Lease, grad_x: bool = True, bias=None):
    """``(grad_x, grad_w)`` by the formulation of ``geo``, each fresh; ``cols_t`` (the forward's
    unrolled windows) None: no grad_w (None), ``grad_x`` False: no grad_x (None). The transposed
    convolution asks for one of them (its forward is its dual's grad_x, its grad_w the dual's),
    and for ``bias`` (C,) added to grad_x where it is written (no pass of its own)."""
    backward = _backward_rows if formulation(geo) == "rows" else _backward_windows
    return backward(cols_t, w, grad_out, geo, take, grad_x, bias)


def grad_x_scatter(x, w, grad_out, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros") -> np.ndarray:
    """``grad_x`` the scatter way (col2im): each ``grad_out`` cell times ``w`` (not rotated),
    added over its window of ``grad_x_pad``, then the zero border cropped (a border of copies folded).

    x (N, C, H, W), w (F, C/groups, KH, KW), grad_out (N, F, Ho, Wo) -> grad_x (N, C, H, W).
    """
    x, w, _, grad_out, geo = check_problem(x, w, None, grad_out, stride=stride, padding=padding, dilation=dilation,
                                           groups=groups, padding_mode=padding_mode, need_grad_out=True)
    with _POOL.lend() as take:
        return _grad_x_col2im(_channel_first(grad_out, take).reshape(geo.F, -1), w, geo, take)


def grad_x_pad(x, w, grad_out, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros") -> np.ndarray:
    """``grad_x_pad`` = dL/d x_pad, border included (col2im, nothing cropped).

    x (N, C, H, W), w (F, C/groups, KH, KW), grad_out (N, F, Ho, Wo) -> grad_x_pad (N, C, Hp, Wp).
    """
    x, w, _, grad_out, geo = check_problem(x, w, None, grad_out, stride=stride, padding=padding, dilation=dilation,
                                           groups=groups, padding_mode=padding_mode, need_grad_out=True)
    with _POOL.lend() as take:
        return _fresh(_col2im_pad(_channel_first(grad_out, take).reshape(geo.F, -1), w, geo, take).transpose(1, 0, 2, 3))


def conv_transpose2d(x, w, b=None, *, stride=1, padding=0, output_padding=0, groups=1, dilation=1) -> np.ndarray:
    """Transposed convolution (PyTorch's ``conv_transpose2d``): the grad_x of its dual convolution
    (``TransposedGeometry.dual``) for a grad_out of x, by col2im: each x cell stamps w, scaled, into out.

    x (N, C, H, W), w (C, F/groups, KH, KW), b (F,) or None -> out (N, F, Ho, Wo).
    """
    x, w, b, _, geo = check_problem(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups,
                                    transposed=True, output_padding=output_padding)
    dual = geo.dual
    if _tuned(dual):  # the dual's tuned grad_x
        with _POOL.lend() as take:
            return _tuned_backward(None, w, _dual_grad_out(x, dual), dual, take, bias=b)[0]
    with _POOL.lend() as take:
        g = _channel_first(_dual_grad_out(x, dual), take).reshape(dual.F, -1)
        grad_x_pad_t = _col2im_pad(g, w, dual, take)  # (F, N, Ho + 2ph, Wo + 2pw)
        ph, pw = dual.padding
        return _fresh(grad_x_pad_t[:, :, ph:ph + geo.Ho, pw:pw + geo.Wo].transpose(1, 0, 2, 3), b)


def conv_transpose2d_backward(x, w, grad_out, *, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """x (N, C, H, W), w (C, F/groups, KH, KW), grad_out (N, F, Ho, Wo)
    -> (grad_x (N, C, H, W), grad_w (C, F/groups, KH, KW), grad_b (F,)).

    grad_x is the dual's forward on grad_out (a plain convolution), grad_w the dual's grad_w with
    grad_out as its input and x as its grad_out."""
    x, w, _, grad_out, geo = check_problem(x, w, None, grad_out, stride=stride, padding=padding, dilation=dilation,
                                           groups=groups, transposed=True, output_padding=output_padding,
                                           need_grad_out=True)
    dual = geo.dual
    grad_b = grad_out.sum(axis=(0, 2, 3))
    if _tuned(dual):  # the dual's tuned forward on grad_out, and its grad_w
        with _POOL.lend() as take:
            out_dual, cols_t = _tuned_forward(grad_out, w, None, dual, take)
            _, grad_w = _tuned_backward(cols_t, w, _dual_grad_out(x, dual), dual, take, grad_x=False)
        if out_dual.shape[2:] != (geo.H, geo.W):  # rows the dual's output has beyond x's (output_padding >= stride)
            out_dual = np.ascontiguousarray(out_dual[:, :, :geo.H, :geo.W])
        return out_dual, grad_w, grad_b
    with _POOL.lend() as take:
        cols_t = _general_columns(grad_out, dual, take)
        grad_x = _general_out(cols_t, w, None, dual, take)[:, :, :geo.H, :geo.W]
        g = _channel_first(_dual_grad_out(x, dual), take).reshape(dual.groups, dual.Fg, -1)
        grad_w = _fresh(np.matmul(g, cols_t.transpose(0, 2, 1))).reshape(geo.w_shape)
    return np.ascontiguousarray(grad_x), grad_w, grad_b


def sgd_update(w, b, grad_w, grad_b, *, lr=0.01, weight_decay=0.0, transposed=False):
    """One step of plain SGD with weight decay on the kernels, every cell at once:
    ``w_new = w - lr * (grad_w + weight_decay * w)``, ``b_new = b - lr * grad_b`` (the bias is not decayed).

    w, grad_w (F, C, KH, KW); b, grad_b (F,) or both None -> (w_new (F, C, KH, KW), b_new (F,) or None).
    ``transposed``: w is a transposed convolution's (C, F/groups, KH, KW), b still (F,).
    """
    w, b, grad_w, grad_b, lr, weight_decay = check_update(w, b, grad_w, grad_b, lr=lr, weight_decay=weight_decay,
                                                          transposed=transposed)
    w_new = w - lr * (grad_w + weight_decay * w)
    return w_new, (None if b is None else b - lr * grad_b)


def _x_columns(x: np.ndarray, geo: Geometry, kind: str, take: _Lease) -> np.ndarray:
    """``x``'s unrolled windows in the layout of ``kind``: (C*KH*KW, positions)."""
    if kind == "rows":
        lay = _x_layout(geo)
        x_phases = lay.split(x, take)
        if geo.stride == (1, 1):
            return _unroll_row_taps(x_phases, lay, geo.Ho, geo, take)  # C*KH, Ho*N*Cc + (KW-1)*dw
        groups = _phase_groups(geo)
        cols_t = take((len(groups), geo.C, geo.KH, geo.Ho * geo.N * lay.Cc + _max_shift(groups)))
        for i, p, src in _phase_row_runs(x_phases, lay, geo, cols_t.shape[-1]):
            np.copyto(cols_t[i, :, p], src)
        return cols_t.reshape(-1, cols_t.shape[-1])  # B*C*KH, Ho*N*Cc + max c0
    return _unroll_windows(_padded_t(x, geo, take), geo, take)  # C*KH*KW, N*Ho*Wo


# ------------------------------------------------------------------------------------------
# "rows": phase planes, row-interleaved
# ------------------------------------------------------------------------------------------

class _Layout(NamedTuple):
    """Where a tensor (N, K, A, B) sits in the "rows" layout: placed at (``top``, ``left``) on a
    canvas of zeros ``rows`` x ``cols`` (the padded tensor), split by ``stride`` into sh*sw phase
    planes (canvas cell (a + r*sh, b + c*sw) is cell (r, c) of phase (a, b)), each stored
    row-interleaved, (K, R, N, Cc): row r of every sample, then row r + 1. The planes follow each
    other in phase order a*sw + b, each followed by ``tail`` zeros.

    Rows share their zeros: a row in memory is followed by the next one (the next sample's,
    or the next row's), so row k's right zeros can be row k + 1's left zeros, and a phase row
    needs Cc = (cols - min(left, right)) / sw cells, not cols / sw (``_layout``): fewer
    thrown-away positions (14x14 with padding 1: 15 per row, not 16). A window of a real output
    reaching past its row's end reads the next row's left zeros; the tail keeps the last row's
    (and the thrown-away positions') reads inside the buffer.
    """

    k: int
    n: int
    top: int
    left: int
    rows: int
    cols: int
    stride: tuple[int, int]
    Cc: int
    tail: int

    @property
    def R(self) -> int:
        return -(-self.rows // self.stride[0])

    @property
    def plane(self) -> int:
        """Cells from one phase plane's start to the next's (the plane and its tail)."""
        return self.k * self.R * self.n * self.Cc + self.tail

    @property
    def cells(self) -> int:
        return self.stride[0] * self.stride[1] * self.plane

    def start(self, a: int, b: int, r: int = 0) -> int:
        """The flat index of row r, sample 0, cell 0 of channel 0 in phase plane (a, b)."""
        return (a * self.stride[1] + b) * self.plane + r * self.n * self.Cc

    def runs(self, flat: np.ndarray, start: int, length: int) -> np.ndarray:
        """The (K, length) view of ``flat`` from ``start`` in each channel."""
        item = flat.itemsize
        return np.ndarray((self.k, length), flat.dtype, flat, start * item, (self.R * self.n * self.Cc * item, item))

    def blocks(self, size: tuple[int, int]) -> list[tuple[int, slice, slice, slice, slice]]:
        """Where a tensor of ``size`` (A, B) at (top, left) lies in each phase plane:
        ``(start, plane rows, plane columns, tensor rows, tensor columns)`` (``_blocks``)."""
        return _blocks(self, size)

    def split(self, t: np.ndarray, take: "_Lease") -> np.ndarray:
        """``t`` (N, K, A, B) laid out: a flat work buffer of ``cells``, zeros around ``t``."""
        R, Cc, cells = self.R, self.Cc, self.k * self.R * self.n * self.Cc
        flat = take((self.cells,))
        flat[...] = 0
        for start, rows, cols, t_rows, t_cols in self.blocks(t.shape[2:]):
            dst = flat[start:start + cells].reshape(self.k, R, self.n, Cc)
            dst[:, rows, :, cols] = t[:, :, t_rows, t_cols].transpose(1, 2, 0, 3)
        return flat

    def merge(self, flat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The inverse of ``split``: a fresh (N, K, A, B) of ``size`` (A, B) read at (top, left).
        ``flat`` may also be channels last, (cells, K') with K = 1 here: then (N, K', A, B)."""
        R, Cc, cells = self.R, self.Cc, self.k * self.R * self.n * self.Cc
        last = flat.shape[1:]  # () or (K',)
        out = np.empty((self.n, self.k * math.prod(last)) + tuple(size))
        for start, rows, cols, t_rows, t_cols in self.blocks(size):
            src = flat[start:start + cells]
            if last:  # (R, N, Cc, K') -> (N, K', R, Cc)
                src = src.reshape(R, self.n, Cc, -1).transpose(1, 3, 0, 2)
            else:  # (K, R, N, Cc) -> (N, K, R, Cc)
                src = src.reshape(self.k, R, self.n, Cc).transpose(2, 0, 1, 3)
            out[:, :, t_rows, t_cols] = src[:, :, rows, cols]
        return out


@functools.lru_cache(maxsize=1024)
def _blocks(lay: _Layout, size: tuple[int, int]) -> list[tuple[int, slice, slice, slice, slice]]:
    """``_Layout.blocks``, worked out once per layout and size."""
    (sh, sw), out = lay.stride, []
    for a, r0, h0, nh in _phase_spans(lay.top, size[0], lay.rows, sh):
        for b, c0, v0, nv in _phase_spans(lay.left, size[1], lay.cols, sw):
            if nh and nv:
                out.append((lay.start(a, b), slice(r0, r0 + nh), slice(c0, c0 + nv),
                            slice(h0, h0 + (nh - 1) * sh + 1, sh), slice(v0, v0 + (nv - 1) * sw + 1, sw)))
    return out


def _layout(k: int, n: int, top: int, left: int, size: tuple[int, int], rows: int, cols: int, stride,
            out_cols: int, reach: int) -> _Layout:
    """The "rows" layout of an (N=n, K=k, size) tensor at (top, left) of a rows x cols canvas,
    with ``out_cols`` real window positions per row (Cc holds them: Cc*sw >= sw*out_cols) and
    windows ``reach`` canvas columns wide (the dilated kernel's last column: (KW-1)*dw)."""
    right = cols - left - size[1]
    shared = max(0, min(left, right))  # a crop (negative side) shares nothing
    Cc = -(-max(cols - shared, stride[1] * out_cols) // stride[1])
    return _Layout(k, n, top, left, rows, cols, tuple(stride), Cc, Cc + reach)


@functools.lru_cache(maxsize=256)
def _x_layout(geo: Geometry) -> _Layout:
    """x_pad's layout (and, channels last, grad_x_pad's), from the geometry."""
    return _layout(geo.C, geo.N, geo.padding[0], geo.padding[1], (geo.H, geo.W), geo.Hp, geo.Wp,
                   geo.stride, geo.Wo, (geo.KW - 1) * geo.dilation[1])


def _phase_spans(offset: int, size: int, length: int, step: int):
    """Where a tensor axis of ``size`` cells placed at ``offset`` (negative: cropped) on a
    canvas axis of ``length`` falls in each phase ``a`` of the canvas axis split by ``step``
    (canvas cell ``a + r*step`` is cell ``r`` of phase ``a``): ``(a, r0, t0, count)``, the
    tensor's cells ``t0, t0 + step, ...`` at phase cells ``r0, r0 + 1, ...``."""
    for a in range(step):
        r0 = max(0, -(-(offset - a) // step))  # first phase cell on the tensor
        t0 = a + r0 * step - offset
        count = max(0, min(len(range(t0, size, step)), -(-(length - a) // step) - r0))
        yield a, r0, t0, count


def _unroll_row_taps(flat: np.ndarray, lay: _Layout, out_rows: int, geo: Geometry, take: _Lease) -> np.ndarray:
    """Stride 1: the unrolled windows of kernel column 0 only, with (KW-1)*dw more columns,
    (K*KH, out_rows*N*Cc + (KW-1)*dw): row (c, p) is one contiguous run of channel c's plane
    (``flat`` in ``lay``) from row p*dh. Kernel cell (p, q)'s row of the full unrolling is this
    row shifted by q*dw columns, so the copy is KW times smaller; the products read the shifts
    (``_shift_sum``, ``_shift_rows``)."""
    run = out_rows * lay.n * lay.Cc + (geo.KW - 1) * geo.dilation[1]  # ends inside the tail
    item, rows = flat.itemsize, lay.runs(flat, 0, run)
    src = np.ndarray((lay.k, geo.KH, run), flat.dtype, flat, 0,
                     (rows.strides[0], geo.dilation[0] * lay.n * lay.Cc * item, item))
    cols_t = take((lay.k, geo.KH, run))
    np.copyto(cols_t, src)
    return cols_t.reshape(lay.k * geo.KH, run)


def _shift_sum(blocks: list, k: int, take: _Lease) -> np.ndarray:
    """``blocks``: ``(y, shifts)`` pairs, ``y`` (G, len(shifts)*k, L + max shift), one per group
    -> (G*k, L): the sum over the blocks and their shifts m of ``y[g, m*k + i, u + shifts[m]]``,
    the product of the full unrolled windows put together from its kernel columns' shifted parts."""
    terms = [y[:, m * k:(m + 1) * k, s:s + y.shape[2] - max(shifts)] for y, shifts in blocks for m, s in enumerate(shifts)]
    length = min(t.shape[2] for t in terms)
    terms = [t[:, :, :length] for t in terms]
    if len(terms) == 1:
        return terms[0].reshape(-1, length)
    # the sum in the memory order of the first y (``_product`` may return a transposed view)
    y, groups = blocks[0][0], terms[0].shape[0]
    acc = take((groups, length, k)).transpose(0, 2, 1) if y.strides[1] < y.strides[2] else take((groups, k, length))
    np.add(terms[0], terms[1], out=acc)
    for t in terms[2:]:
        acc += t
    return acc.reshape(-1, length)


def _shift_rows(g: np.ndarray, shifts, width: int, take: _Lease, groups: int = 1) -> np.ndarray:
    """``g`` (k, L) -> (G, len(shifts)*k/G, width), row (m, i) of group g = row i of the group's
    rows of ``g`` moved right by ``shifts[m]``, zeros around it: the products with the rows of
    the unrolled kernel column 0 then hold each kernel column's."""
    k, length = g.shape
    out = take((groups, len(shifts), k // groups, width))
    g = g.reshape(groups, k // groups, length)
    for m, s in enumerate(shifts):
        out[:, m, :, :s] = 0
        out[:, m, :, s:s + length] = g
        out[:, m, :, s + length:] = 0
    return out.reshape(groups, -1, width)


def _column_weights(w: np.ndarray, qs, groups: int = 1) -> np.ndarray:
    """``w`` (F, C/G, KH, KW) -> per group, the kernel columns ``qs`` as rows (q, f) and columns
    (c, p): (G, len(qs)*F/G, C/G*KH)."""
    F, Cg, KH, KW = w.shape
    qs = list(qs)
    w_q = w.reshape(groups, F // groups, Cg, KH, KW)[..., qs].transpose(0, 4, 1, 2, 3)
    return np.ascontiguousarray(w_q).reshape(groups, len(qs) * (F // groups), Cg * KH)


def _products_nt(a: np.ndarray, c: np.ndarray, take: _Lease) -> np.ndarray:
    """``a`` (G, M, L) @ ``c`` (G, K, L).T -> (G, M, K): per group, every row of ``a`` dotted with
    every row of ``c``. Many groups of a few rows (a depthwise layer's grad_w: 3 x 3 per group)
    run as M*K dot products of length L (``vecdot``): BLAS's matrix product packs its long
    operands for so small a result, 3.8x slower here; from about 9 x 9 up the matrix product wins."""
    if a.shape[0] > 1 and a.shape[1] * c.shape[1] <= 36:
        return np.vecdot(a[:, :, None, :], c[:, None, :, :])
    return _products(a, c.transpose(0, 2, 1), take)


def _products(a: np.ndarray, b: np.ndarray, take: _Lease) -> np.ndarray:
    """``a`` (G, M, K) @ ``b`` (G, K, L) -> (G, M, L) in a work buffer, one product per group;
    with one group in ``_product``'s orientation (so possibly a transposed view)."""
    if a.shape[0] == 1:
        return _product(a[0], b[0], take)[None]
    return np.matmul(a, b, out=take((a.shape[0], a.shape[1], b.shape[2])))


@functools.lru_cache(maxsize=256)
def _phase_groups(geo: Geometry) -> list[tuple[int, list[int], list[int]]]:
    """Stride > 1: kernel column q reads column phase b = q*dw % sw, shifted by c0 = q*dw // sw
    columns: per phase b read, ``(b, [q ...], [c0 ...])``. Remembered per geometry: callers
    only read it."""
    sw, dw = geo.stride[1], geo.dilation[1]
    groups: dict[int, tuple[list, list]] = {}
    for q in range(geo.KW):
        c0, b = divmod(q * dw, sw)
        groups.setdefault(b, ([], []))
        groups[b][0].append(q)
        groups[b][1].append(c0)
    return [(b, qs, c0s) for b, (qs, c0s) in sorted(groups.items())]


def _max_shift(groups) -> int:
    return max(max(c0s) for _, _, c0s in groups)


def _phase_row_spans(lay: _Layout, geo: Geometry, length: int):
    """Stride > 1: per column phase group ``i`` (``_phase_groups``) and kernel row p:
    ``(i, p, (start, length))``, the run of ``lay``'s phase planes from the cell holding canvas
    cell (p*dh, b): where the kernel cells (p, q) of that phase read, at shift c0 = 0. It ends
    inside its plane's tail (max c0 <= (KW-1)*dw)."""
    sh, dh = geo.stride[0], geo.dilation[0]
    for i, (b, _, _) in enumerate(_phase_groups(geo)):
        for p in range(geo.KH):
            r0, a = divmod(p * dh, sh)
            yield i, p, (lay.start(a, b, r0), length)


def _phase_row_runs(flat: np.ndarray, lay: _Layout, geo: Geometry, length: int):
    """``_phase_row_spans`` as (K, length) views of ``flat`` (laid out as ``lay``)."""
    for i, p, (start, length) in _phase_row_spans(lay, geo, length):
        yield i, p, lay.runs(flat, start, length)


def _from_rows(res: np.ndarray, n: int, rows: int, cols: int, keep: int, bias=None) -> np.ndarray:
    """A GEMM result (K, rows*N*cols) -> a fresh (N, K, rows, keep) (+ ``bias`` per K): the first
    ``keep`` columns of each row are real, the rest were the thrown-away positions."""
    k = res.shape[0]
    return _fresh(res.reshape(k, rows, n, cols)[:, :, :, :keep].transpose(2, 0, 1, 3), bias)


@functools.lru_cache(maxsize=256)
def _grad_out_layouts(geo: Geometry) -> tuple[_Layout, _Layout]:
    """grad_out in the column order of ``cols_t`` (F, Ho*N*Cc), zero on the thrown-away
    columns; and (stride 1) ``grad_out_pad`` for the gather, its rows W + (KW-1)*dw positions."""
    Cc = _x_layout(geo).Cc
    top, _, left, _ = geo.grad_out_pad_margins
    return (_layout(geo.F, geo.N, 0, 0, (geo.Ho, geo.Wo), geo.Ho, Cc, (1, 1), Cc, 0),
            _layout(geo.F, geo.N, top, left, (geo.Ho, geo.Wo), geo.Hg, geo.Wg, (1, 1), geo.W,
                    (geo.KW - 1) * geo.dilation[1]))


def _backward_rows(cols_t, w, grad_out, geo: Geometry, take: _Lease, grad_x: bool = True, bias=None):
    Cc = _x_layout(geo).Cc
    g_lay, pad_lay = _grad_out_layouts(geo)
    positions = geo.Ho * geo.N * Cc
    if geo.stride == (1, 1):
        top, bottom, left, right = geo.grad_out_pad_margins
        same = min(top, bottom, left, right) >= 0 and pad_lay.Cc == Cc
        g_pad = pad_lay.split(grad_out, take) if grad_x or same else None  # grad_out_pad, (F, Hg, N, Cc')
        grad_w = None
        if cols_t is not None:
            if same:
                # "same" padding: grad_out_pad's rows are as wide as x_pad's, so g is a view of it:
                # each row's thrown-away columns are its margins (zeros)
                g = pad_lay.runs(g_pad, pad_lay.start(0, 0, top) + left, positions)
            else:
                g = g_lay.runs(g_lay.split(grad_out, take), 0, positions)
            # the windows the forward read: (q, f) x (c, p)
            G, width = geo.groups, cols_t.shape[1]
            g_shifts = _shift_rows(g, [q * geo.dilation[1] for q in range(geo.KW)], width, take, G)
            res = _products_nt(g_shifts, cols_t.reshape(G, -1, width), take)  # G, (q, f), (c, p)
            grad_w = _fresh(res.reshape(G, geo.KW, geo.Fg, geo.Cg, geo.KH).transpose(0, 2, 3, 4, 1)).reshape(geo.w_shape)
        return (_grad_x_gather(g_pad, pad_lay, w, geo, take, bias) if grad_x else None), grad_w

    g = g_lay.runs(g_lay.split(grad_out, take), 0, positions)
    phases, G, Fg, Cg, KH = _phase_groups(geo), geo.groups, geo.Fg, geo.Cg, geo.KH
    width = positions + _max_shift(phases)  # a row of cols_t
    grad_w = None if cols_t is None else np.empty(geo.w_shape)
    w_g = w.reshape(G, Fg, Cg, KH, geo.KW)
    # the gradient of each unrolled row, transposed: (B, positions, G, KH, C/G), positions Ho*N*Cc + max c0
    d_cols_t = take((len(phases), width, G, KH, Cg)) if grad_x else None
    for i, (_, qs, c0s) in enumerate(phases):
        g_shifts = _shift_rows(g, c0s, width, take, G)  # G, (q, f) of this phase
        if grad_w is not None:
            # the windows the forward read, (q, f) x (c, p)
            cols_i = cols_t.reshape(len(phases), G, Cg * KH, width)[i]
            res = _products_nt(g_shifts, cols_i, take).reshape(G, len(qs), Fg, Cg, KH)
            grad_w.reshape(w_g.shape)[..., qs] = res.transpose(0, 2, 3, 4, 1)
        if grad_x:
            # with the positions as rows: the orientation OpenBLAS is fastest at here (1.3x, _product)
            w_q = np.ascontiguousarray(w_g[..., qs].transpose(0, 4, 1, 3, 2)).reshape(G, len(qs) * Fg, KH * Cg)  # (q, f), (p, c)
            np.matmul(g_shifts.transpose(0, 2, 1), w_q, out=d_cols_t[i].transpose(1, 0, 2, 3).reshape(G, width, KH * Cg))
    if not grad_x:
        return None, grad_w

    # col2im on the phase planes, channels last (positions, C): each (phase, p) block of d_cols_t
    # is added back as one block, a run of whole positions (rows of C cells)
    lay = _x_layout(geo)._replace(k=1)
    grad_x_phases = take((lay.cells, geo.C))
    grad_x_phases[...] = 0 if bias is None else bias  # a bias per channel costs no pass of its own
    for i, p, (start, length) in _phase_row_spans(lay, geo, width):
        # thrown-away positions add zeros (g is zero there)
        grad_x_phases[start:start + length].reshape(length, G, Cg)[...] += d_cols_t[i, :, :, p]
    return lay.merge(grad_x_phases, (geo.H, geo.W)), grad_w


def _grad_x_gather(g_pad, lay: _Layout, w, geo: Geometry, take: _Lease, bias=None) -> np.ndarray:
    """Stride 1: ``grad_x[:, c, h, v] = sum_{f,p,q} grad_out_pad[:, f, h + p*dh, v + q*dw] * w_rot[c, f, p, q]``:
    ``grad_out_pad`` (no inserted zeros with stride 1; ``g_pad`` in ``lay``) unrolled like
    ``x_pad``, times ``w_rot``."""
    gcols_t = _unroll_row_taps(g_pad, lay, geo.H, geo, take)  # F*KH, H*N*Cc' + (KW-1)*dw
    # w_rot[c, f, p, q] = w[f, c, KH-1-p, KW-1-q], per group as rows (q, c) and columns (f, p)
    G, run = geo.groups, gcols_t.shape[1]
    w_rot_q = w.reshape(G, geo.Fg, geo.Cg, geo.KH, geo.KW)[:, :, :, ::-1, ::-1].transpose(0, 4, 2, 1, 3)
    w_rot_q = np.ascontiguousarray(w_rot_q).reshape(G, geo.KW * geo.Cg, -1)
    shifts = [q * geo.dilation[1] for q in range(geo.KW)]
    # row-major product whatever _product would pick: the shifted sums then add long contiguous rows
    # (measured here: faster overall on the tutorial's and the larger layer)
    y = np.matmul(w_rot_q, gcols_t.reshape(G, -1, run), out=take((G, w_rot_q.shape[1], run)))
    grad_x = _shift_sum([(y, shifts)], geo.Cg, take)  # C, H*N*Cc'
    return _from_rows(grad_x, geo.N, geo.H, lay.Cc, geo.W, bias)


# ------------------------------------------------------------------------------------------
# "windows": channel-first layout, col2im
# ------------------------------------------------------------------------------------------

def _channel_first(t: np.ndarray, take: _Lease) -> np.ndarray:
    """(N, K, A, B) -> (K, N, A, B) in a work buffer."""
    out = take((t.shape[1], t.shape[0]) + t.shape[2:])
    np.copyto(out, t.transpose(1, 0, 2, 3))
    return out


def _padded_t(x: np.ndarray, geo: Geometry, take: _Lease) -> np.ndarray:
    """``x`` (N, C, H, W) -> ``x_pad`` channel-first, (C, N, Hp, Wp), in a work buffer."""
    ph, pw = geo.padding
    x_pad_t = take((geo.C, geo.N, geo.Hp, geo.Wp))
    if any(geo.pads):  # zero only the border; the inside is overwritten
        x_pad_t[:, :, :ph] = 0
        x_pad_t[:, :, ph + geo.H:] = 0
        x_pad_t[:, :, ph:ph + geo.H, :pw] = 0
        x_pad_t[:, :, ph:ph + geo.H, pw + geo.W:] = 0
    x_pad_t[:, :, ph:ph + geo.H, pw:pw + geo.W] = x.transpose(1, 0, 2, 3)
    return x_pad_t


def _unroll_windows(x_pad_t: np.ndarray, geo: Geometry, take: _Lease) -> np.ndarray:
    """``x_pad_t`` (C, N, Hp, Wp) -> ``cols_t`` = ``im2col(x_pad).T`` (C*KH*KW, N*Ho*Wo)."""
    win = windows(x_pad_t, geo)  # C, N, Ho, Wo, KH, KW (a view)
    cols_t = take((geo.C, geo.KH, geo.KW, geo.N, geo.Ho, geo.Wo))
    np.copyto(cols_t, win.transpose(0, 4, 5, 1, 2, 3))
    return cols_t.reshape(geo.C * geo.KH * geo.KW, -1)


def _padded_mode_t(x: np.ndarray, geo: Geometry, take: _Lease) -> np.ndarray:
    """``x_pad`` channel-first, (C, N, Hp, Wp), whatever the border holds."""
    if geo.padding_mode == "zeros":
        return _padded_t(x, geo, take)
    x_pad_t = take((geo.C, geo.N, geo.Hp, geo.Wp))
    np.copyto(x_pad_t, pad_input(x.transpose(1, 0, 2, 3), geo))  # negative sides crop
    return x_pad_t


def _backward_windows(cols_t, w, grad_out, geo: Geometry, take: _Lease, grad_x: bool = True, bias=None):
    g = _channel_first(grad_out, take).reshape(geo.F, -1)  # F, N*Ho*Wo: the column order of cols_t
    grad_w = None if cols_t is None else _fresh(_product(cols_t, g.T, take).T).reshape(geo.w_shape)
    return (_crop_or_fold(_col2im_pad(g, w, geo, take), geo, bias) if grad_x else None), grad_w


def _grad_x_col2im(g: np.ndarray, w: np.ndarray, geo: Geometry, take: _Lease) -> np.ndarray:
    """``grad_x`` by col2im: ``grad_x_pad`` (``_col2im_pad``), its zero border cropped or its
    border of copies folded onto x. ``g`` is grad_out as (F, N*Ho*Wo)."""
    return _crop_or_fold(_col2im_pad(g, w, geo, take), geo)


def _col2im_pad(g: np.ndarray, w: np.ndarray, geo: Geometry, take: _Lease) -> np.ndarray:
    """``d_cols`` = ``w_mat`` @ ``g`` per group (C*KH*KW, N*Ho*Wo), each column the gradient of
    one window, added back into ``grad_x_pad`` where the window was read: (C, N, Hp, Wp), a work
    buffer. ``g`` is grad_out as (F, N*Ho*Wo)."""
    G = geo.groups
    # row-major (C*KH*KW, N*Ho*Wo) whatever _product would pick: the additions read its rows
    d_cols = np.matmul(w.reshape(G, geo.Fg, -1).transpose(0, 2, 1), g.reshape(G, geo.Fg, -1),
                       out=take((G, geo.Cg * geo.KH * geo.KW, g.shape[1])))
    d_cols = d_cols.reshape(geo.C, geo.KH, geo.KW, geo.N, geo.Ho, geo.Wo)
    # Accumulate in (C, N, ...) order, d_cols' own, so each added plane is one strided block.
    grad_x_pad_t = take((geo.C, geo.N, geo.Hp, geo.Wp))
    grad_x_pad_t[...] = 0
    for p in range(geo.KH):
        for q in range(geo.KW):
            grad_x_pad_t[(..., *geo.tap_slices(p, q))] += d_cols[:, p, q]
    return grad_x_pad_t


def _crop_or_fold(grad_x_pad_t: np.ndarray, geo: Geometry, bias=None) -> np.ndarray:
    """(C, N, Hp, Wp) -> a fresh grad_x (N, C, H, W) (+ ``bias`` (C,) if given): the zero border
    cropped, or a border of copies folded onto the cells it copies."""
    if geo.padding_mode != "zeros":
        return _fresh(fold(grad_x_pad_t, geo).transpose(1, 0, 2, 3), bias)
    ph, pw = geo.padding
    return _fresh(grad_x_pad_t[:, :, ph:ph + geo.H, pw:pw + geo.W].transpose(1, 0, 2, 3), bias)


# ------------------------------------------------------------------------------------------
# "general": groups and padding modes, one batched GEMM over the groups
# ------------------------------------------------------------------------------------------

def _general_columns(x: np.ndarray, geo: Geometry, take: _Lease) -> np.ndarray:
    """x_pad's unrolled windows per group: (G, C/G*KH*KW, N*Ho*Wo), row (cg, p, q) of group g."""
    cols_t = _unroll_windows(_padded_mode_t(x, geo, take), geo, take)  # C*KH*KW, N*Ho*Wo
    return cols_t.reshape(geo.groups, geo.Cg * geo.KH * geo.KW, -1)


def _general_out(cols_t: np.ndarray, w: np.ndarray, b, geo: Geometry, take: _Lease) -> np.ndarray:
    """out (N, F, Ho, Wo), fresh: per group, its kernels (F/G, C/G*KH*KW) @ its columns."""
    res = np.matmul(w.reshape(geo.groups, geo.Fg, -1), cols_t, out=take((geo.groups, geo.Fg, cols_t.shape[2])))
    return _fresh(res.reshape(geo.F, geo.N, geo.Ho, geo.Wo).transpose(1, 0, 2, 3), b)


def _forward_general(x, w, b, geo: Geometry) -> np.ndarray:
    with _POOL.lend() as take:
        return _general_out(_general_columns(x, geo, take), w, b, geo, take)


def _backward_general(x, w, grad_out, geo: Geometry):
    """``(grad_x, grad_w)``: grad_w from the windows the forward reads, grad_x by col2im."""
    with _POOL.lend() as take:
        cols_t = _general_columns(x, geo, take)
        g = _channel_first(grad_out, take).reshape(geo.F, -1)
        grad_w = _fresh(np.matmul(g.reshape(geo.groups, geo.Fg, -1), cols_t.transpose(0, 2, 1))).reshape(geo.w_shape)
        return _grad_x_col2im(g, w, geo, take), grad_w


def _dual_grad_out(x: np.ndarray, dual: Geometry) -> np.ndarray:
    """A transposed convolution's x as its dual's grad_out: (N, C, H, W) followed by the zero
    rows / columns the dual's output has beyond H / W (output_padding >= stride only)."""
    extra_h, extra_w = dual.Ho - x.shape[2], dual.Wo - x.shape[3]
    return np.pad(x, ((0, 0), (0, 0), (0, extra_h), (0, extra_w))) if extra_h or extra_w else x
