"""What the page draws for one phase and one slice (sample n, output channel f, input channel c):
the grids of cells, and which drawn cells share a term (MATH.md, "Which inputs feed which
outputs"), plus the *scatter* route to ``grad_x``.

All index arithmetic of the convolution happens here (the page only draws): each term set is
taken from ``Trace.block`` (the same term sets the step traces stream) and restricted to the
drawn slice; each drawn cell gets a number (its *id*: grids in order, row-major inside each),
and a term is the list of ids of the drawn cells it involves (result first). A cell the page
hovers highlights every other cell of every term it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .convolution import Convolution
from .steps import Trace

VIEW_PHASES = ("forward", "grad_x", "grad_w", "grad_b", "im2col")
#: im2col draws every column of ``cols`` up to this many (C*KH*KW), else channel c's columns only
MAX_COLS_COLUMNS = 72


@dataclass
class Grid:
    """One drawn 2-D block of a tensor: ``flat`` holds, row-major, each cell's flat index in the tensor."""

    tensor: str
    title: str
    caption: str
    shape: tuple  # the whole tensor's shape
    rows: int
    cols: int
    flat: np.ndarray
    values: np.ndarray
    marks: list | None = None  # per cell: "" or pad / unread / margin / gap
    step: list | None = None  # result grids: the step number that computes each cell
    role: str = "source"  # result, source, partner
    row_labels: list | None = None
    col_labels: list | None = None
    twin: list | None = None  # per cell: the index (string) of the x / grad_out / w cell it shows, or None
    offset: int = 0
    lookup: np.ndarray | None = field(default=None, repr=False)

    def ids_of(self, flat: np.ndarray) -> np.ndarray:
        """Ids of the cells ``flat`` (flat indices in the tensor); -1 where not drawn."""
        if self.lookup is None:
            self.lookup = np.full(int(np.prod(self.shape)), -1, dtype=np.int64)
            self.lookup[self.flat] = self.offset + np.arange(self.flat.size)
        return self.lookup[flat]

    def as_dict(self) -> dict:
        idx = np.stack(np.unravel_index(self.flat, self.shape), axis=-1).tolist()
        out = {
            "tensor": self.tensor, "title": self.title, "caption": self.caption, "role": self.role,
            "rows": self.rows, "cols": self.cols, "offset": self.offset,
            "idx": [",".join(map(str, ix)) for ix in idx],
            "values": self.values.tolist(),
        }
        for name in ("marks", "step", "row_labels", "col_labels", "twin"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


def _slice_grid(conv: Convolution, tensor: str, lead: tuple, title: str, caption: str, *,
                array: np.ndarray | None = None, role: str = "source") -> Grid:
    """The last two axes of ``tensor[lead]`` as a grid."""
    arr = getattr(conv, tensor) if array is None else array
    rows, cols = arr.shape[-2:]
    base = np.ravel_multi_index(tuple(lead) + (0, 0), arr.shape)
    flat = base + np.arange(rows * cols)
    return Grid(tensor, title, caption, arr.shape, rows, cols, flat, arr.reshape(-1)[flat], role=role)


def _x_pad_marks(conv: Convolution) -> list[str]:
    """pad: the zero ring (no cell of x); unread: rows / columns no window reads (stride remainder)."""
    g = conv.geo
    (ph, pw), (rh, rw) = g.padding, g.remainder
    hp, wp = np.indices((g.Hp, g.Wp))
    pad = (hp < ph) | (hp >= ph + g.H) | (wp < pw) | (wp >= pw + g.W)
    unread = (hp >= g.Hp - rh) | (wp >= g.Wp - rw)
    marks = np.where(pad, "pad", np.where(unread, "unread", ""))
    return marks.ravel().tolist()


def _index_strings(valid: np.ndarray, *axes: np.ndarray) -> list:
    return [",".join(map(str, ix)) if ok else None for ok, ix in zip(valid.tolist(), zip(*(a.tolist() for a in axes)))]


def _x_twin(conv: Convolution, x_pad_flat: np.ndarray) -> list:
    """The x cell each x_pad cell holds (None on padding)."""
    g = conv.geo
    n, c, hp, wp = np.unravel_index(x_pad_flat, g.x_pad_shape)
    h, v = hp - g.padding[0], wp - g.padding[1]
    return _index_strings((h >= 0) & (h < g.H) & (v >= 0) & (v < g.W), n, c, h, v)


def _grad_out_pad_twin(conv: Convolution, u: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For cells (u, t) of grad_out_pad: (real, i, j) with grad_out[., ., i, j] the value held where real."""
    g = conv.geo
    top, _, left, _ = g.grad_out_pad_margins
    sh, sw = g.stride
    du, dt = u - top, t - left
    real = conv.grad_out_pad_mask[u, t]
    return real, np.where(real, du // sh, 0), np.where(real, dt // sw, 0)


def _grad_out_pad_marks(conv: Convolution) -> list[str]:
    """margin: zeros padded around the dilated grad_out; gap: zeros inserted between rows / columns (stride)."""
    g = conv.geo
    top, _, left, _ = g.grad_out_pad_margins
    sh, sw = g.stride
    u, t = np.indices((g.Hg, g.Wg))
    du, dt = u - top, t - left
    inside = (du >= 0) & (du <= (g.Ho - 1) * sh) & (dt >= 0) & (dt <= (g.Wo - 1) * sw)
    marks = np.where(conv.grad_out_pad_mask, "", np.where(inside, "gap", "margin"))
    return marks.ravel().tolist()


def _steps_of(grid: Grid, result_shape: tuple) -> list[int]:
    """Each result cell's step number: its row-major position in the result (Trace order)."""
    return grid.flat.tolist() if tuple(grid.shape) == tuple(result_shape) else None


class View:
    """The drawing of ``phase`` for the slice (n, f, c) of ``conv``."""

    def __init__(self, conv: Convolution, phase: str, n: int = 0, f: int = 0, c: int = 0, *, scatter: bool = False):
        if phase not in VIEW_PHASES:
            raise ValueError(f"phase must be one of {', '.join(VIEW_PHASES)}, got {phase!r}")
        g = conv.geo
        for name, value, size, axis in (("n", n, g.N, "N"), ("f", f, g.F, "F"), ("c", c, g.C, "C")):
            if not 0 <= value < size:
                raise ValueError(f"{name} must be between 0 and {size - 1} ({axis} = {size}), got {value}")
        self.conv, self.phase, self.n, self.f, self.c = conv, phase, n, f, c
        self.scatter = bool(scatter and phase == "grad_x")
        self.notes: list[str] = []
        self.grids: list[Grid] = []
        self.terms: list[list[int]] = []
        getattr(self, "_build_" + ("scatter" if self.scatter else phase))()

    # helpers ------------------------------------------------------------------------------
    def _add(self, grid: Grid) -> Grid:
        grid.offset = sum(gr.rows * gr.cols for gr in self.grids)
        self.grids.append(grid)
        return grid

    def _link(self, *id_columns: np.ndarray) -> None:
        """Append terms: one per row of the columns, result first; a term is kept when its result
        is drawn, with its other drawn cells (undrawn ones, -1, left out)."""
        table = np.stack([np.asarray(col).ravel() for col in id_columns], axis=1)
        table = table[table[:, 0] >= 0]
        for row in table.tolist():
            term = [v for v in row if v >= 0]
            if len(term) > 1:
                self.terms.append(term)

    def _x_pad_grid(self) -> Grid:
        g, n, c = self.conv.geo, self.n, self.c
        grid = _slice_grid(self.conv, "x_pad", (n, c), "x_pad", f"sample n={n}, channel c={c}; "
                           f"padding {g.padding[0]},{g.padding[1]}")
        grid.marks = _x_pad_marks(self.conv)
        grid.twin = _x_twin(self.conv, grid.flat)
        return grid

    def _result_grid(self, tensor: str, lead: tuple, title: str, caption: str) -> Grid:
        grid = _slice_grid(self.conv, tensor, lead, title, caption, role="result")
        grid.step = grid.flat.tolist()  # the trace's step k computes the k-th cell, row-major
        return grid

    def _block(self, phase: str, ks: np.ndarray):
        return Trace(self.conv, phase).block(ks)

    # phases -------------------------------------------------------------------------------
    def _build_forward(self):
        cv, g, n, f, c = self.conv, self.conv.geo, self.n, self.f, self.c
        xg = self._add(self._x_pad_grid())
        wg = self._add(_slice_grid(cv, "w", (f, c), "w", f"kernel f={f}, channel c={c}"))
        bg = self._add(Grid("b", "b", "bias, one per kernel", (g.F,), 1, g.F, np.arange(g.F), cv.b))
        og = self._add(self._result_grid("out", (n, f), "out", f"sample n={n}, kernel f={f}"))
        blk = self._block("forward", og.flat)
        keep = np.unravel_index(blk.a, g.x_pad_shape)[1] == c  # this channel's terms
        res = np.broadcast_to(og.ids_of(og.flat)[:, None], blk.a.shape)
        self._link(res[keep], xg.ids_of(blk.a[keep]), wg.ids_of(blk.b[keep]))
        self._link(og.ids_of(og.flat), bg.ids_of(np.full(og.flat.size, f)))

    def _build_grad_x(self):
        cv, g, n, f, c = self.conv, self.conv.geo, self.n, self.f, self.c
        go = self._add(_slice_grid(cv, "grad_out", (n, f), "grad_out", f"sample n={n}, kernel f={f}"))
        gp = self._add(_slice_grid(cv, "grad_out_pad", (n, f), "grad_out_pad",
                                   f"grad_out spread by stride {g.stride[0]},{g.stride[1]} and padded"))
        gp.marks = _grad_out_pad_marks(cv)
        _, _, gu, gt = np.unravel_index(gp.flat, g.grad_out_pad_shape)
        greal, gi, gj = _grad_out_pad_twin(cv, gu, gt)
        gp.twin = _index_strings(greal, np.full_like(gi, n), np.full_like(gi, f), gi, gj)
        wg = self._add(_slice_grid(cv, "w", (f, c), "w", f"kernel f={f}, channel c={c}"))
        wr = self._add(_slice_grid(cv, "w_rot", (c, f), "w_rot", f"w[{f},{c}] rotated 180 degrees = w_rot[{c},{f}]"))
        _, _, rp, rq = np.unravel_index(wr.flat, g.w_rot_shape)
        wr.twin = _index_strings(np.ones(rp.shape, bool), np.full_like(rp, f), np.full_like(rp, c),
                                 g.KH - 1 - rp, g.KW - 1 - rq)
        gx = self._add(self._result_grid("grad_x", (n, c), "grad_x", f"sample n={n}, channel c={c}"))
        blk = self._block("grad_x", gx.flat)
        _, ff, u, t = np.unravel_index(blk.a, g.grad_out_pad_shape)
        keep = ff == f
        u, t, a, b = u[keep], t[keep], blk.a[keep], blk.b[keep]
        real, i, j = _grad_out_pad_twin(cv, u, t)
        go_ids = np.where(real, go.ids_of(np.ravel_multi_index((n, f, i, j), g.out_shape)), -1)
        _, _, p, q = np.unravel_index(b, g.w_rot_shape)
        w_ids = wg.ids_of(np.ravel_multi_index((f, c, g.KH - 1 - p, g.KW - 1 - q), g.w_shape))
        res = np.broadcast_to(gx.ids_of(gx.flat)[:, None], keep.shape)[keep]
        self._link(res, gp.ids_of(a), go_ids, wr.ids_of(b), w_ids)

    def _build_scatter(self):
        """grad_x the scatter way: one step per grad_out cell, spread over its window with w (not rotated)."""
        cv, g, n, f, c = self.conv, self.conv.geo, self.n, self.f, self.c
        go = self._add(_slice_grid(cv, "grad_out", (n, f), "grad_out", f"sample n={n}, kernel f={f}", role="result"))
        go.step = go.flat.tolist()  # scatter step k spreads the k-th grad_out cell
        wg = self._add(_slice_grid(cv, "w", (f, c), "w", f"kernel f={f}, channel c={c} (not rotated)"))
        gx = self._add(_slice_grid(cv, "grad_x", (n, c), "grad_x", f"sample n={n}, channel c={c}"))
        for term in scatter_terms(cv, go.flat):
            k, wflat, target = term
            keep = np.unravel_index(wflat, g.w_shape)[1] == c
            gx_ids = np.where(target[keep] >= 0, gx.ids_of(np.maximum(target[keep], 0)), -1)
            self._link(go.ids_of(np.full(int(keep.sum()), k)), wg.ids_of(wflat[keep]), gx_ids)

    def _build_grad_w(self):
        cv, g, n, f, c = self.conv, self.conv.geo, self.n, self.f, self.c
        xg = self._add(self._x_pad_grid())
        go = self._add(_slice_grid(cv, "grad_out", (n, f), "grad_out", f"sample n={n}, kernel f={f}"))
        gw = self._add(self._result_grid("grad_w", (f, c), "grad_w", f"kernel f={f}, channel c={c}"))
        blk = self._block("grad_w", gw.flat)
        keep = np.unravel_index(blk.a, g.out_shape)[0] == n  # this sample's terms
        res = np.broadcast_to(gw.ids_of(gw.flat)[:, None], keep.shape)[keep]
        self._link(res, go.ids_of(blk.a[keep]), xg.ids_of(blk.b[keep]))

    def _build_grad_b(self):
        cv, g, n, f = self.conv, self.conv.geo, self.n, self.f
        go = self._add(_slice_grid(cv, "grad_out", (n, f), "grad_out", f"sample n={n}, kernel f={f}"))
        gb = self._add(Grid("grad_b", "grad_b", "one per kernel: the sum of its grad_out over n, i, j", (g.F,),
                            1, g.F, np.arange(g.F), cv.grad_b, role="result"))
        gb.step = list(range(g.F))
        blk = self._block("grad_b", np.array([f]))
        keep = np.unravel_index(blk.a, g.out_shape)[0] == n
        self._link(np.full(int(keep.sum()), gb.offset + f), go.ids_of(blk.a[keep]))

    def _build_im2col(self):
        cv, g, n, c = self.conv, self.conv.geo, self.n, self.c
        K = g.C * g.KH * g.KW
        if K <= MAX_COLS_COLUMNS:
            columns = np.arange(K)
        else:
            columns = c * g.KH * g.KW + np.arange(g.KH * g.KW)
            self.notes.append(f"cols has {K} columns (C*KH*KW); showing channel c={c}'s {columns.size}. "
                              "Each output still sums every channel.")
        rows = n * g.Ho * g.Wo + np.arange(g.Ho * g.Wo)  # this sample's windows
        xg = self._add(self._x_pad_grid())
        cc, pp, qq = np.unravel_index(columns, (g.C, g.KH, g.KW))
        col_labels = [f"c{a} ({b + 1},{d + 1})" if g.C > 1 else f"({b + 1},{d + 1})" for a, b, d in zip(cc, pp, qq)]
        ii, jj = np.unravel_index(np.arange(g.Ho * g.Wo), (g.Ho, g.Wo))
        row_labels = [f"({a + 1},{b + 1})" for a, b in zip(ii.tolist(), jj.tolist())]
        cols_flat = (rows[:, None] * K + columns[None, :]).ravel()
        colsg = self._add(Grid("cols", "cols", f"im2col of sample n={n}: one row per window (i, j), one column per "
                               "(c, p, q)", g.cols_shape, rows.size, columns.size, cols_flat,
                               cv.cols.reshape(-1)[cols_flat], row_labels=row_labels, col_labels=col_labels))
        rr, kk = np.unravel_index(cols_flat, g.cols_shape)
        rn, ri, rj = np.unravel_index(rr, (g.N, g.Ho, g.Wo))
        kc, kp, kq = np.unravel_index(kk, (g.C, g.KH, g.KW))
        colsg.twin = _x_twin(cv, np.ravel_multi_index(
            (rn, kc, ri * g.stride[0] + kp * g.dilation[0], rj * g.stride[1] + kq * g.dilation[1]), g.x_pad_shape))
        # w_mat (C*KH*KW x F): each cell is a cell of w, drawn as such
        ff = np.arange(g.F)
        w_flat = np.ravel_multi_index((ff[None, :], cc[:, None], pp[:, None], qq[:, None]), g.w_shape).ravel()
        wm = self._add(Grid("w", "w_mat", "the kernels as columns: column f is w[f] unrolled", g.w_shape,
                            columns.size, g.F, w_flat, cv.w.reshape(-1)[w_flat],
                            row_labels=col_labels, col_labels=[f"f{v}" for v in ff.tolist()]))
        bg = self._add(Grid("b", "b", "added to every row", (g.F,), 1, g.F, np.arange(g.F), cv.b))
        out_flat = np.ravel_multi_index((n, ff[None, :], ii[:, None], jj[:, None]), g.out_shape).ravel()
        og = self._add(Grid("out", "out", "out unrolled = cols @ w_mat + b (row (i, j), column f)", g.out_shape,
                            ii.size, g.F, out_flat, cv.out.reshape(-1)[out_flat], role="result",
                            row_labels=row_labels, col_labels=[f"f{v}" for v in ff.tolist()]))
        og.step = out_flat.tolist()  # forward step order
        blk = self._block("forward", out_flat)
        t_idx = np.arange(K)[None, :]  # term t of a forward step is column t of cols (c, p, q row-major)
        _, _, i_, j_ = np.unravel_index(out_flat, g.out_shape)
        r = (n * g.Ho + i_) * g.Wo + j_
        cols_of_term = r[:, None] * K + t_idx
        res = np.broadcast_to(og.ids_of(out_flat)[:, None], blk.a.shape)
        drawn = np.isin(np.broadcast_to(t_idx, blk.a.shape), columns)
        x_ids = xg.ids_of(blk.a)
        x_ids = np.where(np.unravel_index(blk.a, g.x_pad_shape)[1] == c, x_ids, -1)
        self._link(res[drawn], colsg.ids_of(cols_of_term[drawn]), x_ids[drawn], wm.ids_of(blk.b[drawn]))
        self._link(og.ids_of(out_flat), bg.ids_of(out_flat * 0 + np.unravel_index(out_flat, g.out_shape)[1]))

    # output -------------------------------------------------------------------------------
    @property
    def total(self) -> int:
        """Steps of this view's player: the phase's trace (im2col: forward), or one per grad_out cell (scatter)."""
        g = self.conv.geo
        if self.scatter:
            return g.N * g.F * g.Ho * g.Wo
        return len(Trace(self.conv, "forward" if self.phase == "im2col" else self.phase))

    @property
    def first_step(self) -> int:
        """The first step whose result cell lies in the drawn slice (where the player starts)."""
        if self.phase == "grad_b":
            return self.f
        result = next(gr for gr in self.grids if gr.role == "result")
        return int(result.flat.min()) if self.phase == "im2col" else int(result.flat[0])

    @property
    def terms_per_step(self) -> int:
        """Terms in each step the player shows (the scatter route: one per w cell of channel c)."""
        g = self.conv.geo
        if self.scatter:
            return g.KH * g.KW
        return Trace(self.conv, "forward" if self.phase == "im2col" else self.phase).terms_per_step

    def cell_count(self) -> int:
        return sum(gr.rows * gr.cols for gr in self.grids)

    def as_dict(self) -> dict:
        return {
            "phase": self.phase, "scatter": self.scatter, "select": {"n": self.n, "f": self.f, "c": self.c},
            "geometry": self.conv.geo.as_dict(), "total": self.total, "notes": self.notes,
            "terms_per_step": self.terms_per_step, "first_step": self.first_step,
            "grids": [gr.as_dict() for gr in self.grids], "terms": self.terms,
        }


# scatter route to grad_x -------------------------------------------------------------------
def scatter_terms(conv: Convolution, ks: np.ndarray):
    """For each scatter step k (a flat grad_out cell): (k, w flat indices, grad_x flat targets or -1).

    Step k spreads grad_out[n,f,i,j] over x_pad[n, c, i*sh + p*dh, j*sw + q*dw] with w[f,c,p,q],
    for every (c, p, q) (MATH.md, "Scatter"); a target in the padding ring is cropped (-1).
    """
    g = conv.geo
    (sh, sw), (dh, dw), (ph, pw) = g.stride, g.dilation, g.padding
    c, p, q = (a.ravel() for a in np.indices((g.C, g.KH, g.KW)))
    for k in np.asarray(ks).tolist():
        n, f, i, j = np.unravel_index(k, g.out_shape)
        h, v = i * sh + p * dh - ph, j * sw + q * dw - pw
        inside = (h >= 0) & (h < g.H) & (v >= 0) & (v < g.W)
        target = np.where(inside, np.ravel_multi_index((n, c, np.clip(h, 0, g.H - 1), np.clip(v, 0, g.W - 1)),
                                                       g.x_shape), -1)
        yield k, np.ravel_multi_index((f, c, p, q), g.w_shape), target


def scatter_steps(conv: Convolution, start: int, stop: int, n: int, c: int) -> list[dict]:
    """Scatter steps ``start .. stop-1``: each grad_out cell's terms into channel ``c``, and
    ``partial``, the drawn slice grad_x[n, c] (row-major) after this step and every earlier one."""
    g = conv.geo
    (sh, sw), (dh, dw), (ph, pw) = g.stride, g.dilation, g.padding
    # grad_x_pad[n, c] after steps 0 .. start-1: the scatter of the grad_out cells before `start`
    before = (np.arange(conv.grad_out.size) < start).reshape(g.out_shape)
    masked = np.where(before, conv.grad_out, 0.0)[n]  # (F, Ho, Wo)
    acc = np.zeros((g.Hp, g.Wp))
    for p in range(g.KH):
        for q in range(g.KW):
            acc[p * dh: p * dh + (g.Ho - 1) * sh + 1: sh, q * dw: q * dw + (g.Wo - 1) * sw + 1: sw] += \
                np.tensordot(conv.w[:, c, p, q], masked, axes=(0, 0))
    steps = []
    x_shape = g.x_shape
    for k, wflat, target in scatter_terms(conv, np.arange(start, stop)):
        kn, kf, i, j = (int(v) for v in np.unravel_index(k, g.out_shape))
        gval = float(conv.grad_out[kn, kf, i, j])
        wvals = conv.w.reshape(-1)[wflat]
        products = gval * wvals
        widx = np.stack(np.unravel_index(wflat, g.w_shape), axis=-1).tolist()
        terms = []
        for wi, wv, tg, pr in zip(widx, wvals.tolist(), target.tolist(), products.tolist()):
            cc, p, q = wi[1], wi[2], wi[3]
            if cc != c:  # the drawn channel's terms only
                continue
            terms.append({"grad_out": [kn, kf, i, j], "grad_out_value": gval, "w": wi, "w_value": wv,
                          "x_pad": [kn, cc, i * sh + p * dh, j * sw + q * dw],
                          "grad_x": list(map(int, np.unravel_index(tg, x_shape))) if tg >= 0 else None,
                          "product": pr})
        if kn == n:
            for p in range(g.KH):
                for q in range(g.KW):
                    acc[i * sh + p * dh, j * sw + q * dw] += gval * conv.w[kf, c, p, q]
        steps.append({"index": k, "at": [kn, kf, i, j], "value": gval, "terms": terms,
                      "partial": acc[ph: ph + g.H, pw: pw + g.W].ravel().tolist()})
    return steps
