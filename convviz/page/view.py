"""What the page draws for one phase and one slice (sample n, kernel f, input channel c): the
grids, and which drawn cells share a term; and the scatter route's steps with running sums.

All index arithmetic of the convolution happens in Python (the page only draws): each drawn
cell gets a number (its *id*: grids in order, row-major inside each), and a term is the list of
ids of the drawn cells it involves (result first).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ..engine import Geometry
from ..problem import Limits, ProblemError, check_select
from ..trace import Convolution, Trace, phase as registry_entry
from ..trace.phases import check_applies
from .builders import BUILDERS
from .grids import Grid, GridPlan, plane


def plan(geo: Geometry, phase: str, n: int, f: int, c: int, loss: str = "none") -> list[GridPlan]:
    """The grids the view of ``phase`` for slice (n, f, c) will draw, from the shapes alone (and,
    for a phase that reads grad_out made by the loss "mse", the out and target it came from)."""
    plans = BUILDERS[phase].plan(geo, n, f, c)
    if loss == "mse" and any(p.tensor == "grad_out" for p in plans):
        plans += [plane(geo, "out", (n, f), "out", f"sample n={n}, kernel f={f}: the forward pass's output"),
                  plane(geo, "target", (n, f), "target", f"sample n={n}, kernel f={f}: what out should be")]
        for p in plans[-2:]:
            p.area = "origin"
    return plans


class View:
    """The drawing of ``phase`` for the slice (n, f, c) of ``conv``: planned, checked against
    ``max_cells`` (``ProblemError`` when over), then built."""

    def __init__(self, conv: Convolution, phase: str, n: int = 0, f: int = 0, c: int = 0,
                 max_cells: int | None = None):
        self.entry = registry_entry(phase)
        check_select(conv.geo, n, f, c)
        try:
            check_applies(self.entry, conv.geo)
        except ValueError as exc:
            raise ProblemError("invalid_query", str(exc), param="phase") from None
        if conv.geo.groups > 1 and f // conv.geo.Fg != c // conv.geo.Cg:
            # kernel f sees only its group's channels: the drawn kernel moves into channel c's group,
            # keeping its place there (the answer's "select" says which was drawn)
            f = conv.geo.kernel_of(c, f % conv.geo.Fg)
        plans = plan(conv.geo, phase, n, f, c, conv.loss)
        cells = sum(p.size for p in plans)
        if max_cells is not None and cells > max_cells:
            raise ProblemError("limit_exceeded", f"the {phase} view of this problem would draw {cells:,} cells; the "
                               f"page draws at most {max_cells:,}: use a smaller H, W or kernel")
        self.conv, self.geo, self.phase, self.n, self.f, self.c = conv, conv.geo, phase, n, f, c
        self.notes: list[str] = []
        self.terms: list[list[int]] = []
        self.grids: list[Grid] = []
        for p in plans:
            self.grids.append(Grid.from_plan(p, conv, offset=sum(gr.rows * gr.cols for gr in self.grids)))
        self._by_title = {gr.title: gr for gr in self.grids}
        BUILDERS[phase].link(self)
        if conv.loss == "mse" and "target" in self._by_title:  # grad_out = out - target, cell by cell
            go, out, target = (self.grid(t) for t in ("grad_out", "out", "target"))
            self.link(go.ids_of(out.flat), out.ids_of(out.flat), target.ids_of(out.flat))

    def grid(self, title: str) -> Grid:
        return self._by_title[title]

    @property
    def result_grid(self) -> Grid:
        return next(gr for gr in self.grids if gr.role == "result")

    def link(self, *id_columns: np.ndarray) -> None:
        """Append terms: one per row of the columns, result first; a term is kept when its result
        is drawn, with its other drawn cells (undrawn ones, -1, left out)."""
        table = np.stack([np.asarray(col).ravel() for col in id_columns], axis=1)
        table = table[table[:, 0] >= 0]
        for row in table.tolist():
            term = [v for v in row if v >= 0]
            if len(term) > 1:
                self.terms.append(term)

    # output -------------------------------------------------------------------------------
    @cached_property
    def trace(self) -> Trace:
        """The trace whose steps this view's player shows."""
        return Trace(self.conv, self.entry.plays)

    @property
    def first_step(self) -> int:
        """The first step whose result cell lies in the drawn slice (where the player starts)."""
        if self.entry.result == "grad_b":
            return self.f  # grad_b's drawn slice is one cell of it
        return int(self.result_grid.flat.min())

    @property
    def terms_per_step(self) -> int:
        shown = BUILDERS[self.phase].terms_shown
        return shown(self.geo) if shown else self.trace.terms_per_step

    def as_dict(self, *, name: str | None = None) -> dict:
        """``name``: the phase as the request named it (``grad_x`` with ``scatter=true`` is the
        grad_x_scatter view under its old name). With groups, ``group_of``; for a transposed
        convolution, ``dual`` (the plain case's answer is as it always was)."""
        out = {
            "phase": name or self.phase, "scatter": self.entry.variant_of is not None,
            "select": {"n": self.n, "f": self.f, "c": self.c},
            "geometry": self.geo.as_dict(), "total": len(self.trace), "notes": self.notes,
            "terms_per_step": self.terms_per_step, "first_step": self.first_step,
            "grids": [gr.as_dict() for gr in self.grids], "terms": self.terms,
        }
        if self.geo.groups > 1:
            out["group_of"] = group_structure(self.geo)
        if self.geo.transposed:
            out["dual"] = dual_problem(self.conv)
        return out


def group_structure(g) -> list[dict]:
    """Which input channels each group's kernels see: [{"kernels": [f0, f1], "channels": [c0, c1]}]
    (half-open ranges, 0-based), one entry per group."""
    return [{"kernels": [k * g.Fg, (k + 1) * g.Fg], "channels": [k * g.Cg, (k + 1) * g.Cg]} for k in range(g.groups)]


#: most values a link to the dual convolution carries as typed cells (w and grad_out)
MAX_DUAL_VALUES = 400


def dual_problem(conv: Convolution) -> dict:
    """The convolution whose grad_x a transposed convolution's forward is (TransposedGeometry.dual):
    its problem (x the size of this out, the same w, stride, padding, dilation and groups), its w
    and grad_out (this x, and zero rows / columns where its output is larger) as the page's typed
    cells when they are few enough, and what to say about it."""
    g, dual = conv.geo, conv.geo.dual
    problem = {"x_shape": list(dual.x_shape), "w_shape": list(dual.w_shape), "stride": list(g.stride),
               "padding": list(g.padding), "dilation": list(g.dilation), "groups": g.groups, "values": "integers",
               "seed": 0}
    grad_out = np.zeros(dual.out_shape)
    grad_out[:, :, :g.H, :g.W] = conv.x
    edits = None
    if conv.w.size + grad_out.size <= MAX_DUAL_VALUES:
        cells = [f"w@{','.join(map(str, idx))}={float(v)!r}" for idx, v in np.ndenumerate(conv.w)]
        cells += [f"grad_out@{','.join(map(str, idx))}={float(v)!r}" for idx, v in np.ndenumerate(grad_out)]
        edits = ";".join(cells)
    return {"problem": problem, "phase": "grad_x", "edits": edits,
            "text": ("This forward pass is exactly the grad_x of a convolution: the one that takes an input of out's "
                     f"size, {g.F}\u00d7{g.Ho}\u00d7{g.Wo} per sample, with the same w, stride, padding, dilation and "
                     "groups, given this x as its grad_out. Its grad_x equals out without the bias."
                     + ("" if edits else " (This problem is too large for its numbers to travel in a link: the "
                        "convolution opens with its shapes and other numbers.)"))}


# the scatter route's steps, with running sums ------------------------------------------------------
def scatter_steps(conv: Convolution, start: int, stop: int, n: int, c: int) -> list[dict]:
    """grad_x_scatter steps ``start .. stop-1`` with channel ``c``'s terms only, and ``partial``:
    the drawn slice grad_x[n, c] (row-major) after this step and every earlier one."""
    g = conv.geo
    (ph, pw) = g.padding
    # grad_x_pad[n, c] after steps 0 .. start-1: the scatter of the grad_out cells before `start`
    before = (np.arange(conv.grad_out.size) < start).reshape(g.out_shape)
    masked = np.where(before, conv.grad_out, 0.0)[n]  # (F, Ho, Wo)
    acc = np.zeros((g.Hp, g.Wp))
    kernels, cg = slice(g.kernel_of(c, 0), g.kernel_of(c, 0) + g.Fg), c % g.Cg  # c's group (all kernels: groups 1)
    for p in range(g.KH):
        for q in range(g.KW):
            acc[g.tap_slices(p, q)] += np.tensordot(conv.w[kernels, cg, p, q], masked[kernels], axes=(0, 0))
    trace = Trace(conv, "grad_x_scatter")
    steps = []
    for blk in trace.blocks(start, stop):
        for rec in trace.records(blk):
            rec["terms"] = [t for t in rec["terms"] if t["x_pad"][1] == c]  # the drawn channel's terms
            if rec["at"][0] == n:
                for t in rec["terms"]:
                    acc[t["x_pad"][2], t["x_pad"][3]] += t["product"]
            rec["partial"] = acc[ph: ph + g.H, pw: pw + g.W].ravel().tolist()
            steps.append(rec)
    return steps


def check_scatter_page(conv: Convolution, start: int, limit: int, limits: Limits) -> int:
    """Validate a page of the scatter route; return its stop step."""
    g, total = conv.geo, conv.grad_out.size  # one step per grad_out cell
    if start > total:
        raise ProblemError("invalid_query", f"start must be between 0 and {total} (the scatter route has {total} "
                           f"steps), got {start}", param="start")
    if limit > limits.max_scatter_steps:
        raise ProblemError("invalid_query", f"limit must be between 1 and {limits.max_scatter_steps} "
                           f"(max_scatter_steps), got {limit}", param="limit")
    if g.KH * g.KW * min(limit, total - start) > limits.max_page_terms:
        raise ProblemError("limit_exceeded", f"limit {limit} x {g.KH * g.KW} terms per step is over "
                           f"max_page_terms ({limits.max_page_terms:,}); ask for fewer steps", param="limit")
    return min(total, start + limit)
