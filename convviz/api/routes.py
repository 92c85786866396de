"""REST API v1: solve a problem, page through a phase's steps, or stream them as JSON Lines.

Large bodies are written by hand (``json.dumps`` of ``tolist()`` and the trace's own JSON
text) rather than validated through the response models, which only document them.
"""

from __future__ import annotations

import os
from typing import Annotated, Optional

import anyio
from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from ..presets import PRESETS
from .limits import Limits
from .models import ConvResult, ErrorOut, Phase, PresetOut, ProblemIn, TracePage
from .cache import Solved, dumps
from .stream import json_object, jsonl_chunks
from .resolve import check_page, solve

router = APIRouter(prefix="/api/v1", tags=["convolution"])

ERRORS = {
    400: {"model": ErrorOut, "description": "Request body that cannot be read as JSON (not UTF-8, nested too deeply)."},
    413: {"model": ErrorOut, "description": "Request body larger than max_body_bytes."},
    422: {"model": ErrorOut, "description": "Invalid problem or query, or over a limit; the message says what was received."},
}
ProblemBody = Annotated[ProblemIn, Body(openapi_examples={
    "worked example": {"summary": "Explicit 3x3 input and 2x2 kernel", "value": {"x": [[1, 2, 0], [0, 1, 3], [2, 1, 0]], "w": [[1, -1], [2, 0]]}},
    "tutorial layer": {"summary": "Generated: x 10x32x14x14, w 16x32x3x3, pad 1", "value": PRESETS["tutorial_layer"]["problem"]},
})]
PhaseParam = Annotated[Phase, Path(description="forward, grad_x, grad_w or grad_b")]
Start = Annotated[int, Query(description="First step to return (0-based).")]


def limits_of(request: Request) -> Limits:
    return request.app.state.limits


# Solving a problem and writing its JSON is Python work under the GIL: more threads at it
# than cores only multiply the answers held in memory at once (24 clients of the tutorial's
# layer: peak RSS 604 MB with a thread each, 365 MB with two). So heavy requests take turns on
# a few worker threads (CONVVIZ_WORK_THREADS), off the event loop; small problems skip the
# queue, so a worked example is never stuck behind a class's worth of large layers.
WORK_THREADS = int(os.environ.get("CONVVIZ_WORK_THREADS", "2"))
LIGHT_ELEMENTS = 4096


def _is_light(problem: ProblemIn, request: Request) -> bool:
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
    if _is_light(problem, request):
        return await anyio.to_thread.run_sync(fn, *args)
    limiter = getattr(request.app.state, "work_threads", None)
    if limiter is None:  # made on first use, on the event loop, so no race
        limiter = request.app.state.work_threads = anyio.CapacityLimiter(WORK_THREADS)
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


def solved(problem: ProblemIn, request: Request, *, im2col: bool = False) -> Solved:
    """The request's problem, solved or taken from the app's cache."""
    return solve(problem, limits_of(request), request.app.state.solved, im2col=im2col)


@router.get("/presets", response_model=list[PresetOut], summary="Named example problems")
def presets() -> list[dict]:
    """The problems the page offers as presets; each ``problem`` is a body for the other endpoints."""
    return [{"name": name, **preset} for name, preset in PRESETS.items()]


@router.get("/limits", summary="This server's resource limits")
def limits(request: Request) -> dict[str, int]:
    """Requests over these are refused with 422 ``limit_exceeded`` (413 for the body size)."""
    return limits_of(request).as_dict()


@router.post("/conv", response_model=ConvResult, responses=ERRORS, summary="Solve a problem: results and artifacts")
async def conv(
    problem: ProblemBody,
    request: Request,
    im2col: Annotated[bool, Query(description="Include the im2col matrices cols and w_mat.")] = True,
) -> Response:
    """Forward and backward pass of one problem, with ``x_pad``, ``grad_out_pad`` (and its
    mask), ``w_rot`` and the im2col matrices."""
    return await off_loop(request, problem, _conv, problem, request, im2col)


def _conv(problem: ProblemIn, request: Request, im2col: bool) -> Response:
    entry = solved(problem, request, im2col=im2col)
    names = ["x", "w", "b", "grad_out", "out", "grad_x", "grad_w", "grad_b",
             "x_pad", "grad_out_pad", "grad_out_pad_mask", "w_rot"] + (["cols", "w_mat"] if im2col else [])
    body = {"geometry": dumps(entry.conv.geo.as_dict()), **{name: entry.tensor_json(name) for name in names}}
    return Response(json_object(body), media_type="application/json")


def _trace(problem: ProblemIn, phase: str, start: int, limit: Optional[int], request: Request, *, paged: bool):
    entry = solved(problem, request)
    trace = entry.trace(phase)
    stop = check_page(trace, start, limit, limits_of(request), paged=paged)
    return entry, trace, stop


@router.post("/trace/{phase}", response_model=TracePage, responses=ERRORS, summary="One page of a phase's steps")
async def trace_page(
    phase: PhaseParam,
    problem: ProblemBody,
    request: Request,
    start: Start = 0,
    limit: Annotated[int, Query(description="Steps on this page (at most max_page_steps and max_page_terms).")] = 100,
) -> Response:
    """Steps ``start .. start+limit-1`` of ``phase``, each computed from its index alone."""
    return await off_loop(request, problem, _trace_page, phase, problem, request, start, limit)


def _trace_page(phase: str, problem: ProblemIn, request: Request, start: int, limit: int) -> Response:
    _, trace, stop = _trace(problem, phase, start, limit, request, paged=True)
    steps = ",".join(line for lines in trace.json_lines(start, stop) for line in lines)
    head = '{"phase":"%s","total":%d,"start":%d,"steps":[' % (phase, len(trace), start)
    return Response((head + steps + "]}").encode(), media_type="application/json")


# Stream chunks are pure-Python work under the GIL: running many at once only makes every thread,
# the event loop's included, wait its turn for the GIL. A few shared threads keep the loop (and
# small requests) responsive while streams take turns, chunk by chunk.
STREAM_THREADS = int(os.environ.get("CONVVIZ_STREAM_THREADS", "1"))


def _stream_threads(app) -> anyio.CapacityLimiter:
    """The app's stream limiter, made on first use (on the event loop, so no race)."""
    limiter = getattr(app.state, "stream_threads", None)
    if limiter is None:
        limiter = app.state.stream_threads = anyio.CapacityLimiter(STREAM_THREADS)
    return limiter


STREAM_DOC = {
    200: {
        "description": "JSON Lines: a `meta` event (geometry and this phase's tensors), one `step` event per step, "
        "then an `end` event with the count.",
        "content": {"application/jsonl": {"schema": {"type": "string"}}},
    },
    **ERRORS,
}


@router.post("/trace/{phase}/stream", responses=STREAM_DOC, response_class=StreamingResponse,
             summary="Stream a phase's steps as JSON Lines")
async def trace_stream(
    phase: PhaseParam,
    problem: ProblemBody,
    request: Request,
    start: Start = 0,
    limit: Annotated[Optional[int], Query(description="Steps to send; all that remain when left out.")] = None,
) -> StreamingResponse:
    """``{"event": "meta", ...}``, then ``{"event": "step", ...step}`` per step, then
    ``{"event": "end", "count": n}``. Steps are computed while the client reads; a client that
    hangs up stops the work; ``start`` resumes."""
    entry, _, stop = await off_loop(request, problem, lambda: _trace(problem, phase, start, limit, request, paged=False))

    async def in_worker_threads():
        # Each chunk is computed in a worker thread so the event loop keeps serving others;
        # when the client hangs up this generator is cancelled between chunks and the
        # producer is closed, so no step is computed for nobody.
        chunks = jsonl_chunks(entry, phase, start, stop)
        limiter = _stream_threads(request.app)
        try:
            while True:
                chunk = await anyio.to_thread.run_sync(next, chunks, None, limiter=limiter)
                if chunk is None:
                    return
                yield chunk
        finally:
            chunks.close()

    return StreamingResponse(in_worker_threads(), media_type="application/jsonl")
