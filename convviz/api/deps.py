"""What every router shares: the app's limits and cache, the worker threads heavy requests take
turns on, and the documented error answers."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import Body, Query, Request

from ..page import View
from ..problem import PRESETS, Limits, ProblemIn, Solved, solve
from .models import ErrorOut

ERRORS = {
    400: {"model": ErrorOut, "description": "Request body that cannot be read as JSON (not UTF-8, nested too deeply)."},
    413: {"model": ErrorOut, "description": "Request body larger than max_body_bytes."},
    422: {"model": ErrorOut, "description": "Invalid problem or query, or over a limit; the message says what was received."},
}
ProblemBody = Annotated[ProblemIn, Body(openapi_examples={
    "worked example": {"summary": "Explicit 3x3 input and 2x2 kernel", "value": {"x": [[1, 2, 0], [0, 1, 3], [2, 1, 0]], "w": [[1, -1], [2, 0]]}},
    "tutorial layer": {"summary": "Generated: x 10x32x14x14, w 16x32x3x3, pad 1", "value": PRESETS["tutorial_layer"]["problem"]},
})]


Sel = Annotated[int, Query(ge=0, description="0-based")]  # a slice's n, f or c


def limits_of(request: Request) -> Limits:
    return request.app.state.limits


def solved(problem: ProblemIn, request: Request) -> Solved:
    """The request's problem, solved or taken from the app's cache."""
    return solve(problem, limits_of(request), request.app.state.solved)


def solved_view(problem: ProblemIn, request: Request, phase: str, n: int, f: int, c: int,
                scatter: bool) -> tuple[Solved, str, View]:
    """The view of ``phase`` for the slice (n, f, c), as the page draws it (``scatter``: grad_x
    the scatter way): the solved problem, the phase built and its ``View``. A phase whose result
    overflowed is refused, naming it; so is a view of more than max_view_cells."""
    entry = solved(problem, request)
    built = "grad_x_scatter" if scatter and phase == "grad_x" else phase
    entry.require_phase(built)
    return entry, built, View(entry.conv, built, n, f, c, max_cells=limits_of(request).max_view_cells)


# Solving a problem and writing its JSON is Python work under the GIL: more threads at it
# than cores only multiply the answers held in memory at once (24 clients of the tutorial's
# layer: peak RSS 604 MB with a thread each, 365 MB with two). So heavy requests take turns on
# a few worker threads (limit work_threads), off the event loop; small problems skip the
# queue, so a worked example is never stuck behind a class's worth of large layers. Stream
# chunks likewise take turns on stream_threads, so the event loop stays responsive.
LIGHT_ELEMENTS = 4096


def thread_limiter(request: Request, name: str) -> anyio.CapacityLimiter:
    """The app's limiter ``name`` (work_threads, stream_threads), sized by its limit; made on
    first use, on the event loop, so no race."""
    limiters = request.app.state.limiters
    if name not in limiters:
        limiters[name] = anyio.CapacityLimiter(getattr(limits_of(request), name))
    return limiters[name]


def is_light(problem: ProblemIn, request: Request) -> bool:
    """A problem small enough to answer at once: x and w of a few thousand numbers at most."""
    if problem.x is not None or problem.w is not None:  # explicit arrays: the body's size tells
        return int(request.headers.get("content-length") or 1 << 30) <= 8 * LIGHT_ELEMENTS
    total = 0
    for shape in (problem.x_shape, problem.w_shape):
        size = 1
        for s in shape or ():
            size *= max(int(s), 0)
        total += size
    return total <= LIGHT_ELEMENTS


async def off_loop(request: Request, problem: ProblemIn, fn, *args):
    """``fn(*args)`` in a worker thread: the bounded ones unless ``problem`` is small."""
    if is_light(problem, request):
        return await anyio.to_thread.run_sync(fn, *args)
    return await anyio.to_thread.run_sync(fn, *args, limiter=thread_limiter(request, "work_threads"))
