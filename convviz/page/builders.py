"""One view builder per phase of the registry: what the page draws for a slice (sample n,
kernel f, input channel c), and which drawn cells share a term.

A builder has two parts. ``plan`` lists the grids from the shapes alone (so the view's size is
checked before anything is built); ``link`` fills in marks, step numbers and the cells each drawn
cell stands for, and turns the phase's term sets (``Trace.block``, the same term sets the step
traces stream) into lists of drawn-cell ids, result first. The page hovers a cell and lights
every other cell of every term it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..engine import Geometry
from ..trace import PHASES, Trace
from .grids import GridPlan, index_texts, plane, vector, x_pad_marks, x_twin, grad_out_pad_marks

#: im2col draws every column of ``cols`` up to this many (C*KH*KW), else channel c's columns only
MAX_COLS_COLUMNS = 72


# A link function receives the ``view.View`` being built (its grids made from the plan) and adds
# to it; it is not imported here, so the two modules do not import each other.
@dataclass(frozen=True)
class Builder:
    plan: Callable[[Geometry, int, int, int], list[GridPlan]]
    link: Callable[..., None]  # link(view): adds marks, twins, step numbers and terms to the view
    #: terms a step shows on the page when not all of the trace's (the scatter route: channel c's)
    terms_shown: Callable[[Geometry], int] | None = None


# shared grids -------------------------------------------------------------------------------------
def _x_pad(g: Geometry, n: int, c: int) -> GridPlan:
    top, bottom, left, right = g.pads
    padding = (f"padding {top},{left}" if (top, left) == (bottom, right) else
               f"padding top {top}, bottom {bottom}, left {left}, right {right}")
    mode = f" ({g.padding_mode}: the border copies x)" if g.padding_mode != "zeros" else ""
    if min(g.pads) < 0:  # the modes that copy x only (F.pad crops there)
        mode = f" ({g.padding_mode}: a negative side crops x, the border copies x)"
    return plane(g, "x_pad", (n, c), "x_pad", f"sample n={n}, channel c={c}; {padding}{mode}")


def _w_lead(g: Geometry, f: int, c: int) -> tuple[int, int]:
    """The plane of w (and of grad_w, w_new) that kernel f reads from input channel c: w[f, cg]
    with cg c's place in f's group (groups = 1: c); transposed, w[c, fg]. The view keeps f in
    c's group (view.py)."""
    if g.transposed:
        return (c, f - g.kernel_of(c, 0))
    return (f, c - g.x_channel(f, 0))


def _w(g: Geometry, f: int, c: int, note: str = "") -> GridPlan:
    lead = _w_lead(g, f, c)
    if g.transposed:
        return plane(g, "w", lead, "w", f"input channel c={c} to output channel f={f}{note}")
    where = f", its channel {lead[1]} in group {f // g.Fg}" if g.groups > 1 else ""
    return plane(g, "w", lead, "w", f"kernel f={f}, channel c={c}{where}{note}")


def _grad_out(g: Geometry, n: int, f: int, role: str = "source") -> GridPlan:
    return plane(g, "grad_out", (n, f), "grad_out", f"sample n={n}, kernel f={f}", role)


def _mark_x_pad(view) -> None:
    grid = view.grid("x_pad")
    grid.marks = x_pad_marks(view.geo)
    grid.twin = x_twin(view.geo, grid.flat)


def _mark_result(view) -> None:
    grid = view.result_grid
    grid.step = grid.flat.tolist()  # the trace's step k computes the k-th cell, row-major


def _terms_of(view, phase: str, ks: np.ndarray):
    return Trace(view.conv, phase).block(ks)


def _result_ids(view, ks: np.ndarray, shape: tuple) -> np.ndarray:
    """The result cell's id, broadcast over each step's terms."""
    return np.broadcast_to(view.result_grid.ids_of(ks)[:, None], shape)


def _count_zeros(grid, kinds: dict[str, np.ndarray]) -> None:
    """``grid.zeros``: for each kind of zero, how many terms of each drawn cell's step read one;
    ``kinds[kind]`` is a (cells, terms) bool array, rows in the grid's cell order."""
    counts = {kind: hit.sum(axis=1) for kind, hit in kinds.items()}
    grid.zeros = {kind: c.tolist() for kind, c in counts.items() if c.any()} or None


def _x_pad_zeros(g: Geometry, x_pad_flat: np.ndarray) -> dict[str, np.ndarray]:
    """pad: the x_pad cell is in the padding ring (no cell of x)."""
    _, _, hp, wp = np.unravel_index(x_pad_flat, g.x_pad_shape)
    inside, _, _ = g.x_pad_to_x(hp, wp)
    return {"pad": ~inside}


# forward -----------------------------------------------------------------------------------------
def plan_forward(g, n, f, c):
    return [_x_pad(g, n, c), _w(g, f, c), vector("b", g.F, "bias, one per kernel", column=True),
            plane(g, "out", (n, f), "out", f"sample n={n}, kernel f={f}", "result")]


def link_forward(view):
    g, f, c = view.geo, view.f, view.c
    _mark_x_pad(view)
    _mark_result(view)
    xg, wg, bg, og = (view.grid(t) for t in ("x_pad", "w", "b", "out"))
    blk = _terms_of(view, "forward", og.flat)
    _count_zeros(og, _x_pad_zeros(g, blk.a))
    keep = np.unravel_index(blk.a, g.x_pad_shape)[1] == c  # this channel's terms
    res = _result_ids(view, og.flat, blk.a.shape)
    view.link(res[keep], xg.ids_of(blk.a[keep]), wg.ids_of(blk.b[keep]))
    view.link(og.ids_of(og.flat), bg.ids_of(np.full(og.flat.size, f)))


# grad_x (gather) ---------------------------------------------------------------------------------
def plan_grad_x(g, n, f, c, result: str = "grad_x"):
    (wf, wc), fg = _w_lead(g, f, c), f - g.kernel_of(c, 0)
    caption = (f"sample n={n}, channel c={c}" if result == "grad_x" else
               f"sample n={n}, channel c={c}: dL/dx_pad, border included")
    return [_grad_out(g, n, f),
            plane(g, "grad_out_pad", (n, f), "grad_out_pad",
                  f"grad_out spread by stride {g.stride[0]},{g.stride[1]} and padded"),
            _w(g, f, c),
            plane(g, "w_rot", (c, fg), "w_rot", f"w[{wf},{wc}] rotated 180 degrees = w_rot[{c},{fg}]"),
            plane(g, result, (n, c), result, caption, "result")]


def plan_grad_x_pad(g, n, f, c):
    return plan_grad_x(g, n, f, c, "grad_x_pad")


def link_grad_x(view):
    g, n, f = view.geo, view.n, view.f
    _mark_result(view)
    go, gp, wg, wr, gx = (view.grid(t) for t in ("grad_out", "grad_out_pad", "w", "w_rot", view.entry.result))
    gp.marks = grad_out_pad_marks(g)
    _, _, gu, gt = gp.index()
    real, gi, gj = g.grad_out_pad_to_grad_out(gu, gt)
    gp.twin = index_texts(real, np.full_like(gi, n), np.full_like(gi, f), gi, gj)
    rc, rf, rp, rq = wr.index()
    wr.twin = index_texts(np.ones(rp.shape, bool), *g.w_rot_to_w(rc, rf, rp, rq))
    blk = _terms_of(view, view.phase, gx.flat)
    _, ff, u, t = np.unravel_index(blk.a, g.grad_out_pad_shape)
    real, _, _ = g.grad_out_pad_to_grad_out(u, t)
    inside, _, _ = g.grad_out_pad_to_dilated(u, t)
    _count_zeros(gx, {"margin": ~inside, "gap": inside & ~real})
    keep = ff == f
    u, t, a, b = u[keep], t[keep], blk.a[keep], blk.b[keep]
    real, i, j = g.grad_out_pad_to_grad_out(u, t)
    go_ids = np.where(real, go.ids_of(np.ravel_multi_index((n, f, i, j), g.out_shape)), -1)
    w_ids = wg.ids_of(np.ravel_multi_index(g.w_rot_to_w(*np.unravel_index(b, g.w_rot_shape)), g.w_shape))
    res = _result_ids(view, gx.flat, keep.shape)[keep]
    view.link(res, gp.ids_of(a), go_ids, wr.ids_of(b), w_ids)


# grad_x (scatter) --------------------------------------------------------------------------------
def plan_grad_x_scatter(g, n, f, c):
    return [_grad_out(g, n, f, "result"), _w(g, f, c, " (not rotated)"),
            plane(g, "grad_x", (n, c), "grad_x", f"sample n={n}, channel c={c}")]


def link_grad_x_scatter(view):
    """One step per grad_out cell, spread over its window with w (not rotated)."""
    g, c = view.geo, view.c
    _mark_result(view)  # scatter step k spreads the k-th grad_out cell
    go, wg, gx = (view.grid(t) for t in ("grad_out", "w", "grad_x"))
    blk = _terms_of(view, "grad_x_scatter", go.flat)
    keep = np.unravel_index(blk.cells[2], g.x_pad_shape)[1] == c  # the terms that land on channel c
    n_, c_, hp, wp = np.unravel_index(blk.cells[2][keep], g.x_pad_shape)
    inside, h, v = g.x_pad_to_x(hp, wp)
    target = np.ravel_multi_index((n_, c_, np.clip(h, 0, g.H - 1), np.clip(v, 0, g.W - 1)), g.x_shape)
    gx_ids = np.where(inside, gx.ids_of(target), -1)
    view.link(_result_ids(view, go.flat, keep.shape)[keep], wg.ids_of(blk.b[keep]), gx_ids)


# grad_w ------------------------------------------------------------------------------------------
def plan_grad_w(g, n, f, c):
    return [_x_pad(g, n, c), _grad_out(g, n, f),
            plane(g, "grad_w", _w_lead(g, f, c), "grad_w", f"kernel f={f}, channel c={c}", "result")]


def link_grad_w(view):
    g, n = view.geo, view.n
    _mark_x_pad(view)
    _mark_result(view)
    xg, go, gw = (view.grid(t) for t in ("x_pad", "grad_out", "grad_w"))
    blk = _terms_of(view, "grad_w", gw.flat)
    _count_zeros(gw, _x_pad_zeros(g, blk.b))
    keep = np.unravel_index(blk.a, g.out_shape)[0] == n  # this sample's terms
    res = _result_ids(view, gw.flat, keep.shape)[keep]
    view.link(res, go.ids_of(blk.a[keep]), xg.ids_of(blk.b[keep]))


# grad_b ------------------------------------------------------------------------------------------
def plan_grad_b(g, n, f, c):
    return [_grad_out(g, n, f),
            vector("grad_b", g.F, "one per kernel: the sum of its grad_out over n, i, j", "result", column=True)]


def link_grad_b(view):
    g, n, f = view.geo, view.n, view.f
    _mark_result(view)
    go, gb = view.grid("grad_out"), view.grid("grad_b")
    blk = _terms_of(view, "grad_b", np.array([f]))
    keep = np.unravel_index(blk.a, g.out_shape)[0] == n
    view.link(np.full(int(keep.sum()), gb.offset + f), go.ids_of(blk.a[keep]))


# update ------------------------------------------------------------------------------------------
def plan_update(g, n, f, c):
    lead = _w_lead(g, f, c)
    return [_w(g, f, c), plane(g, "grad_w", lead, "grad_w", f"kernel f={f}, channel c={c}: dL/dw"),
            plane(g, "w_new", lead, "w_new", f"kernel f={f}, channel c={c} after the step", "result"),
            vector("b", g.F, "bias, one per kernel"), vector("grad_b", g.F, "dL/db"),
            vector("b_new", g.F, "bias after the step (not decayed)", "result")]


def link_update(view):
    """Each new weight (and bias) with its old value and its gradient."""
    _mark_result(view)
    wg, gw, wn, bg, gb, bn = (view.grid(t) for t in ("w", "grad_w", "w_new", "b", "grad_b", "b_new"))
    view.link(wn.ids_of(wn.flat), wg.ids_of(wn.flat), gw.ids_of(wn.flat))  # w, grad_w, w_new share a shape
    view.link(bn.ids_of(bn.flat), bg.ids_of(bn.flat), gb.ids_of(bn.flat))
    view.notes.append(f"lr = {view.conv.lr:g}, weight_decay = {view.conv.weight_decay:g}.")


# im2col ------------------------------------------------------------------------------------------
def _im2col_columns(g: Geometry, c: int) -> np.ndarray:
    """The columns of cols drawn: all of them, or channel c's when there are too many."""
    K = g.C * g.KH * g.KW
    return np.arange(K) if K <= MAX_COLS_COLUMNS else c * g.KH * g.KW + np.arange(g.KH * g.KW)


def plan_im2col(g, n, f, c):
    K = g.C * g.KH * g.KW
    columns = _im2col_columns(g, c)
    rows = n * g.Ho * g.Wo + np.arange(g.Ho * g.Wo)  # this sample's windows
    cc, pp, qq = np.unravel_index(columns, (g.C, g.KH, g.KW))
    col_labels = [f"c{a} ({b + 1},{d + 1})" if g.C > 1 else f"({b + 1},{d + 1})" for a, b, d in zip(cc, pp, qq)]
    ii, jj = np.unravel_index(np.arange(g.Ho * g.Wo), (g.Ho, g.Wo))
    row_labels = [f"({a + 1},{b + 1})" for a, b in zip(ii.tolist(), jj.tolist())]
    ff = np.arange(g.F)
    f_labels = [f"f{v}" for v in ff.tolist()]
    cols = GridPlan("cols", "cols", f"im2col of sample n={n}: one row per window (i, j), one column per (c, p, q)",
                    rows.size, columns.size, lambda: (rows[:, None] * K + columns[None, :]).ravel(),
                    row_labels=row_labels, col_labels=col_labels)
    # w_mat (C*KH*KW x F): each cell is a cell of w, drawn as such; with groups, one block per group
    # on the diagonal, zeros outside it (the cells of the w_mat tensor itself)
    if g.groups == 1:
        w_mat = GridPlan("w", "w_mat", "the kernels as columns: column f is w[f] unrolled", columns.size, g.F,
                         lambda: np.ravel_multi_index((ff[None, :], cc[:, None], pp[:, None], qq[:, None]),
                                                      g.w_shape).ravel(),
                         row_labels=col_labels, col_labels=f_labels)
    else:
        w_mat = GridPlan("w_mat", "w_mat", f"the kernels as columns, one block per group ({g.groups} groups): column f "
                         "holds w[f] in the rows of its group's channels, zeros elsewhere", columns.size, g.F,
                         lambda: (columns[:, None] * g.F + ff[None, :]).ravel(), row_labels=col_labels,
                         col_labels=f_labels)
    out = GridPlan("out", "out", "out unrolled = cols @ w_mat + b (row (i, j), column f)", ii.size, g.F,
                   lambda: np.ravel_multi_index((n, ff[None, :], ii[:, None], jj[:, None]), g.out_shape).ravel(),
                   "result", row_labels=row_labels, col_labels=f_labels)
    return [_x_pad(g, n, c), cols, w_mat, vector("b", g.F, "added to every row"), out]


def link_im2col(view):
    g, n, c = view.geo, view.n, view.c
    K = g.C * g.KH * g.KW
    columns = _im2col_columns(g, c)
    if columns.size < K:
        view.notes.append(f"cols has {K} columns (C*KH*KW); showing channel c={c}'s {columns.size}. "
                          "Each output still sums every channel.")
    _mark_x_pad(view)
    xg, colsg, wm, bg, og = (view.grid(t) for t in ("x_pad", "cols", "w_mat", "b", "out"))
    rr, kk = np.unravel_index(colsg.flat, g.cols_shape)
    rn, ri, rj = np.unravel_index(rr, (g.N, g.Ho, g.Wo))
    kc, kp, kq = np.unravel_index(kk, (g.C, g.KH, g.KW))
    colsg.twin = x_twin(g, np.ravel_multi_index((rn, kc, *g.tap(ri, rj, kp, kq)), g.x_pad_shape))
    if g.groups > 1:  # w_mat's cells outside their kernel's group are zeros of no weight
        mr, mf = np.unravel_index(wm.flat, g.w_mat_shape)
        mc = mr // (g.KH * g.KW)
        wm.marks = np.where(mc // g.Cg == mf // g.Fg, "", "group").tolist()
        wf, wcg, wp, wq = np.unravel_index(wm.flat, g.w_mat_shape)[1], mc % g.Cg, (mr // g.KW) % g.KH, mr % g.KW
        wm.twin = index_texts(mc // g.Cg == mf // g.Fg, wf, wcg, wp, wq)
    out_flat = og.flat
    og.step = out_flat.tolist()  # forward step order
    blk = _terms_of(view, "forward", out_flat)
    _count_zeros(og, _x_pad_zeros(g, blk.a))
    _, f_, i_, j_ = np.unravel_index(out_flat, g.out_shape)
    # term (cg, p, q) of a forward step reads column (c*KH + p)*KW + q of cols, c its channel
    # (groups = 1: term t is column t)
    tcg, tp, tq = np.unravel_index(np.arange(g.Cg * g.KH * g.KW), (g.Cg, g.KH, g.KW))
    t_idx = (g.x_channel(f_[:, None], tcg[None, :]) * g.KH + tp) * g.KW + tq
    r = (n * g.Ho + i_) * g.Wo + j_
    cols_of_term = r[:, None] * K + t_idx
    res = _result_ids(view, out_flat, blk.a.shape)
    drawn = np.isin(np.broadcast_to(t_idx, blk.a.shape), columns)
    x_ids = np.where(np.unravel_index(blk.a, g.x_pad_shape)[1] == c, xg.ids_of(blk.a), -1)
    w_cells = blk.b
    if g.groups > 1:  # term (cg, p, q) of kernel f multiplies w_mat[(c*KH + p)*KW + q, f]
        bf, bcg, bp, bq = np.unravel_index(blk.b, g.w_shape)
        w_cells = ((g.x_channel(bf, bcg) * g.KH + bp) * g.KW + bq) * g.F + bf
    view.link(res[drawn], colsg.ids_of(cols_of_term[drawn]), x_ids[drawn], wm.ids_of(w_cells[drawn]))
    view.link(og.ids_of(out_flat), bg.ids_of(f_))


# fold (padding modes) -----------------------------------------------------------------------------
def plan_fold(g, n, f, c):
    return [plane(g, "grad_x_pad", (n, c), "grad_x_pad", f"sample n={n}, channel c={c}: dL/dx_pad (stage 1)"),
            plane(g, "grad_x", (n, c), "grad_x", f"sample n={n}, channel c={c}: each cell collects its copies",
                  "result"),
            _x_pad(g, n, c)]


def link_fold(view):
    """Each grad_x cell with the grad_x_pad cells of its copies, and the x_pad cells (the copies
    themselves) at the same places."""
    g = view.geo
    _mark_x_pad(view)
    _mark_result(view)
    gxp, gx, xg = (view.grid(t) for t in ("grad_x_pad", "grad_x", "x_pad"))
    gxp.marks = view.grid("x_pad").marks
    gxp.twin = xg.twin
    blk = _terms_of(view, "fold", gx.flat)
    real = blk.a < view.conv.grad_x_pad.size
    cells = np.where(real, blk.a, 0)
    res = _result_ids(view, gx.flat, blk.a.shape)
    view.link(res[real], gxp.ids_of(cells[real]), xg.ids_of(cells[real]))  # x_pad and grad_x_pad share a shape
    _, _, h, v = np.unravel_index(gx.flat, g.x_shape)
    own_kept = (g.pads[0] + h >= 0) & (g.pads[0] + h < g.Hp) & (g.pads[2] + v >= 0) & (g.pads[2] + v < g.Wp)
    copies = real.sum(axis=1) - own_kept  # a cell that a negative side crops has no place of its own in x_pad
    if copies.max(initial=0) > 0:
        view.notes.append(f"{int((copies > 0).sum())} of the {copies.size} cells of x shown have copies on the "
                          f"border ({g.padding_mode}): each of them collects the gradient of up to "
                          f"{int(real.sum(axis=1).max())} cells of grad_x_pad.")


# transposed convolution ------------------------------------------------------------------------------
def _transposed_x_pad(g, n, c):
    return plane(g, "x_pad", (n, c), "x_pad", f"x spread by stride {g.stride[0]},{g.stride[1]} and padded by "
                 f"dilation*(K-1) - padding: {g.x_pad_margins[0]} top, {g.x_pad_margins[1]} bottom")


def plan_transposed_forward(g, n, f, c):
    cg = c - g.x_channel(f, 0)
    return [plane(g, "x", (n, c), "x", f"sample n={n}, channel c={c}"), _transposed_x_pad(g, n, c),
            _w(g, f, c), plane(g, "w_rot", (f, cg), "w_rot", f"w[{c},{f - g.kernel_of(c, 0)}] rotated 180 degrees = "
                                                             f"w_rot[{f},{cg}]"),
            vector("b", g.F, "bias, one per output channel", column=True),
            plane(g, "out", (n, f), "out", f"sample n={n}, output channel f={f}", "result")]


def link_transposed_forward(view):
    g, n, c, f = view.geo, view.n, view.c, view.f
    _mark_result(view)
    xg, xp, wg, wr, bg, og = (view.grid(t) for t in ("x", "x_pad", "w", "w_rot", "b", "out"))
    xp.marks = x_pad_marks(g)
    xp.twin = x_twin(g, xp.flat)
    rf, rc, rp, rq = wr.index()
    wr.twin = index_texts(np.ones(rp.shape, bool), *g.w_rot_to_w(rf, rc, rp, rq))
    blk = _terms_of(view, "transposed_forward", og.flat)
    _, cc, u, t = np.unravel_index(blk.a, g.x_pad_shape)
    real, i, j = g.x_pad_to_x(u, t)
    inside, _, _ = g.x_pad_to_dilated(u, t)
    _count_zeros(og, {"xmargin": ~inside, "xgap": inside & ~real})
    keep = cc == c
    real, i, j, a, b = real[keep], i[keep], j[keep], blk.a[keep], blk.b[keep]
    x_ids = np.where(real, xg.ids_of(np.ravel_multi_index((n, c, i, j), g.x_shape)), -1)
    w_ids = wg.ids_of(np.ravel_multi_index(g.w_rot_to_w(*np.unravel_index(b, g.w_rot_shape)), g.w_shape))
    view.link(_result_ids(view, og.flat, keep.shape)[keep], xp.ids_of(a), x_ids, wr.ids_of(b), w_ids)
    view.link(og.ids_of(og.flat), bg.ids_of(np.full(og.flat.size, f)))  # the duality: the view's "dual" (view.py)


def plan_transposed_scatter(g, n, f, c):
    return [plane(g, "x", (n, c), "x", f"sample n={n}, channel c={c}: each cell stamps w[{c}] into out", "result"),
            _w(g, f, c), plane(g, "out", (n, f), "out", f"sample n={n}, output channel f={f}: every stamp added up "
                                                     "(plus the bias)")]


def link_transposed_scatter(view):
    g, f = view.geo, view.f
    _mark_result(view)
    xg, wg, og = (view.grid(t) for t in ("x", "w", "out"))
    blk = _terms_of(view, "transposed_scatter", xg.flat)
    n_, ff, u, t = np.unravel_index(blk.cells[2], g.grad_out_pad_shape)
    keep = ff == f  # the stamps on the drawn output channel
    inside, i, j = g.grad_out_pad_to_grad_out(u[keep], t[keep])
    out_ids = np.where(inside, og.ids_of(np.ravel_multi_index((n_[keep], ff[keep], i, j), g.out_shape)), -1)
    view.link(_result_ids(view, xg.flat, keep.shape)[keep], wg.ids_of(blk.b[keep]), out_ids)


def plan_transposed_grad_x(g, n, f, c):
    return [_grad_out(g, n, f),
            plane(g, "grad_out_pad", (n, f), "grad_out_pad", f"grad_out in a border of {g.padding[0]},{g.padding[1]} "
                  "zeros"),
            _w(g, f, c), plane(g, "grad_x", (n, c), "grad_x", f"sample n={n}, channel c={c}", "result")]


def link_transposed_grad_x(view):
    g, n, f = view.geo, view.n, view.f
    _mark_result(view)
    go, gp, wg, gx = (view.grid(t) for t in ("grad_out", "grad_out_pad", "w", "grad_x"))
    gp.marks = grad_out_pad_marks(g)
    _, _, gu, gt = gp.index()
    inside, gi, gj = g.grad_out_pad_to_grad_out(gu, gt)
    gp.twin = index_texts(inside, np.full_like(gi, n), np.full_like(gi, f), gi, gj)
    blk = _terms_of(view, "transposed_grad_x", gx.flat)
    _, ff, u, t = np.unravel_index(blk.a, g.grad_out_pad_shape)
    inside, _, _ = g.grad_out_pad_to_grad_out(u, t)
    _count_zeros(gx, {"margin": ~inside})
    keep = ff == f
    inside, i, j = g.grad_out_pad_to_grad_out(u[keep], t[keep])
    go_ids = np.where(inside, go.ids_of(np.ravel_multi_index((n, f, i, j), g.out_shape)), -1)
    view.link(_result_ids(view, gx.flat, keep.shape)[keep], gp.ids_of(blk.a[keep]), go_ids, wg.ids_of(blk.b[keep]))
    view.notes.append("This is the forward pass of the convolution whose grad_x the transposed forward is: grad_out "
                      "read by windows that slide by the stride, times w as it is.")


def plan_transposed_grad_w(g, n, f, c):
    return [plane(g, "x", (n, c), "x", f"sample n={n}, channel c={c}"),
            plane(g, "grad_out_pad", (n, f), "grad_out_pad", f"grad_out in a border of {g.padding[0]},{g.padding[1]} "
                  "zeros"),
            plane(g, "grad_w", _w_lead(g, f, c), "grad_w", f"input channel c={c} to output channel f={f}", "result")]


def link_transposed_grad_w(view):
    g, n = view.geo, view.n
    _mark_result(view)
    xg, gp, gw = (view.grid(t) for t in ("x", "grad_out_pad", "grad_w"))
    gp.marks = grad_out_pad_marks(g)
    blk = _terms_of(view, "transposed_grad_w", gw.flat)
    _, _, u, t = np.unravel_index(blk.b, g.grad_out_pad_shape)
    inside, _, _ = g.grad_out_pad_to_grad_out(u, t)
    _count_zeros(gw, {"margin": ~inside})
    keep = np.unravel_index(blk.a, g.x_shape)[0] == n
    view.link(_result_ids(view, gw.flat, keep.shape)[keep], xg.ids_of(blk.a[keep]), gp.ids_of(blk.b[keep]))


#: the view builder of every phase of the registry
BUILDERS: dict[str, Builder] = {
    "forward": Builder(plan_forward, link_forward),
    "grad_x": Builder(plan_grad_x, link_grad_x),
    "grad_x_scatter": Builder(plan_grad_x_scatter, link_grad_x_scatter, terms_shown=lambda g: g.KH * g.KW),
    "grad_x_pad": Builder(plan_grad_x_pad, link_grad_x),
    "fold": Builder(plan_fold, link_fold),
    "grad_w": Builder(plan_grad_w, link_grad_w),
    "grad_b": Builder(plan_grad_b, link_grad_b),
    "update": Builder(plan_update, link_update),
    "im2col": Builder(plan_im2col, link_im2col),
    "transposed_forward": Builder(plan_transposed_forward, link_transposed_forward),
    "transposed_scatter": Builder(plan_transposed_scatter, link_transposed_scatter,
                                  terms_shown=lambda g: g.KH * g.KW),
    "transposed_grad_x": Builder(plan_transposed_grad_x, link_transposed_grad_x),
    "transposed_grad_w": Builder(plan_transposed_grad_w, link_transposed_grad_w),
}

if set(BUILDERS) != set(PHASES):  # a phase without a view (or a view without a phase) is a bug of ours
    raise RuntimeError(f"view builders {sorted(BUILDERS)} do not match the phase registry {sorted(PHASES)}")
