"""REST endpoints the page draws from: one phase's grids and cell links for a slice (n, f, c),
and the scatter route to grad_x. The convolution's index arithmetic stays here, in Python
(``convviz.trace.view``); the page only draws what these return."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..trace.view import MAX_COLS_COLUMNS, VIEW_PHASES, View, scatter_steps
from .errors import ApiError
from .models import ProblemIn
from .routes import ERRORS, ProblemBody, limits_of, off_loop, solved

router = APIRouter(prefix="/api/v1/page", tags=["page"])

#: most cells one view may draw (the page keeps one element per cell)
MAX_VIEW_CELLS = 60_000
#: most scatter steps per request
MAX_SCATTER_STEPS = 500

ViewPhase = Literal[VIEW_PHASES]  # type: ignore[valid-type]
Sel = Annotated[int, Query(ge=0, description="0-based")]


def _dumps(obj) -> Response:
    return Response(json.dumps(obj, separators=(",", ":"), allow_nan=False).encode(), media_type="application/json")


def _drawn_cells(geo, phase: str, scatter: bool) -> int:
    """Cells a view of ``phase`` draws, from the shapes alone (checked before anything is built)."""
    g = geo
    plane = {"x_pad": g.Hp * g.Wp, "out": g.Ho * g.Wo, "x": g.H * g.W, "g_pad": g.Hg * g.Wg, "k": g.KH * g.KW}
    if phase == "forward":
        return plane["x_pad"] + plane["k"] + g.F + plane["out"]
    if phase == "grad_x":
        return plane["out"] + plane["k"] + plane["x"] + (0 if scatter else plane["g_pad"] + plane["k"])
    if phase == "grad_w":
        return plane["x_pad"] + plane["out"] + plane["k"]
    if phase == "grad_b":
        return plane["out"] + g.F
    K = g.C * g.KH * g.KW
    columns = K if K <= MAX_COLS_COLUMNS else plane["k"]
    return plane["x_pad"] + plane["out"] * columns + columns * g.F + g.F + plane["out"] * g.F


def _check_select(geo, n: int, f: int, c: int) -> None:
    for name, value, size, axis in (("n", n, geo.N, "N"), ("f", f, geo.F, "F"), ("c", c, geo.C, "C")):
        if value >= size:
            raise ApiError(422, "invalid_query", f"{name} must be between 0 and {size - 1} ({axis} = {size}), got {value}",
                           ["query", name])


@router.post("/view/{phase}", responses=ERRORS, summary="What the page draws for one phase and slice")
async def view(
    phase: ViewPhase,
    problem: ProblemBody,
    request: Request,
    n: Sel = 0,
    f: Sel = 0,
    c: Sel = 0,
    scatter: Annotated[bool, Query(description="grad_x only: the scatter route (grad_out spread with w).")] = False,
) -> Response:
    """The grids of one phase for sample ``n``, kernel ``f`` and input channel ``c`` (each cell's
    0-based index, value and marks), and ``terms``: lists of drawn-cell ids (result first) that
    share one term of MATH.md's sums. Refused when it would draw more than 60,000 cells."""
    return await off_loop(request, problem, _view, phase, problem, request, n, f, c, scatter)


def _view(phase: str, problem: ProblemIn, request: Request, n: int, f: int, c: int, scatter: bool) -> Response:
    cv = solved(problem, request).conv
    _check_select(cv.geo, n, f, c)
    cells = _drawn_cells(cv.geo, phase, scatter)
    if cells > MAX_VIEW_CELLS:
        raise ApiError(422, "limit_exceeded", f"the {phase} view of this problem would draw {cells:,} cells; the page "
                       f"draws at most {MAX_VIEW_CELLS:,}: use a smaller H, W or kernel", ["body"])
    return _dumps(View(cv, phase, n, f, c, scatter=scatter).as_dict())


@router.post("/scatter", responses=ERRORS, summary="grad_x the scatter way, step by step")
async def scatter(
    problem: ProblemBody,
    request: Request,
    n: Sel = 0,
    c: Sel = 0,
    start: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_SCATTER_STEPS)] = 100,
) -> Response:
    """One step per grad_out cell (row-major): its value spread over its window with the
    unrotated w. ``partial`` is grad_x[n, c] (row-major) after that step."""
    return await off_loop(request, problem, _scatter, problem, request, n, c, start, limit)


def _scatter(problem: ProblemIn, request: Request, n: int, c: int, start: int, limit: int) -> Response:
    cv = solved(problem, request).conv
    g = cv.geo
    _check_select(g, n, 0, c)
    total = g.N * g.F * g.Ho * g.Wo
    if start > total:
        raise ApiError(422, "invalid_query", f"start must be between 0 and {total} (the scatter route has {total} "
                       f"steps), got {start}", ["query", "start"])
    if g.KH * g.KW * min(limit, total - start) > limits_of(request).max_page_terms:
        raise ApiError(422, "limit_exceeded", f"limit {limit} x {g.KH * g.KW} terms per step is over "
                       f"max_page_terms ({limits_of(request).max_page_terms:,}); ask for fewer steps", ["query", "limit"])
    stop = min(total, start + limit)
    return _dumps({"total": total, "start": start, "steps": scatter_steps(cv, start, stop, n, c)})


__all__ = ["router", "ProblemIn"]
