"""REST endpoints the page draws from: one phase's grids and cell links for a slice (n, f, c),
and the scatter route's steps with running sums. The convolution's index arithmetic stays in
Python (``convviz.page``); the page only draws what these return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..page import check_scatter_page, scatter_steps
from ..problem import ProblemIn, check_select, dumps
from .deps import ERRORS, ProblemBody, Sel, limits_of, off_loop, solved, solved_view
from .models import ViewPhase

router = APIRouter(prefix="/api/v1/page", tags=["page"])

def _dumps(obj) -> Response:
    return Response(dumps(obj), media_type="application/json")


@router.post("/view/{phase}", responses=ERRORS, summary="What the page draws for one phase and slice")
async def view(
    phase: ViewPhase,
    problem: ProblemBody,
    request: Request,
    n: Sel = 0,
    f: Sel = 0,
    c: Sel = 0,
    scatter: Annotated[bool, Query(description="grad_x only: the scatter route, as /view/grad_x_scatter.")] = False,
) -> Response:
    """The grids of one phase for sample ``n``, kernel ``f`` and input channel ``c`` (each cell's
    0-based index, value and marks), and ``terms``: lists of drawn-cell ids (result first) that
    share one term of the phase's sums. Refused when it would draw more than max_view_cells."""
    return await off_loop(request, problem, _view, phase, problem, request, n, f, c, scatter)


def _view(phase: str, problem: ProblemIn, request: Request, n: int, f: int, c: int, scatter: bool) -> Response:
    return _dumps(solved_view(problem, request, phase, n, f, c, scatter)[2].as_dict(name=phase))


@router.post("/scatter", responses=ERRORS, summary="grad_x the scatter way, step by step, with running sums")
async def scatter(
    problem: ProblemBody,
    request: Request,
    n: Sel = 0,
    c: Sel = 0,
    start: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, description="At most max_scatter_steps.")] = 100,
) -> Response:
    """Steps of the grad_x_scatter phase (one per grad_out cell, row-major: its value spread over
    its window with the unrotated w) with channel ``c``'s terms, and ``partial``: grad_x[n, c]
    (row-major) after that step."""
    return await off_loop(request, problem, _scatter, problem, request, n, c, start, limit)


def _scatter(problem: ProblemIn, request: Request, n: int, c: int, start: int, limit: int) -> Response:
    entry = solved(problem, request)
    entry.require_phase("grad_x_scatter")
    cv = entry.conv
    check_select(cv.geo, n, 0, c)
    stop = check_scatter_page(cv, start, limit, limits_of(request))
    return _dumps({"total": cv.grad_out.size, "start": start, "steps": scatter_steps(cv, start, stop, n, c)})
