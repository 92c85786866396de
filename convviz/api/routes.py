"""REST API v1: solve a problem, page through a phase's steps, or stream them as JSON Lines.

Large bodies are written by hand (``json.dumps`` of ``tolist()`` and the trace writer's JSON
text) rather than validated through the response models, which only document them. The phase
parameter and ``GET /phases`` come from the phase registry (``convviz.trace.phases``).
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import anyio
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from ..problem import PRESETS, ProblemIn, check_page, dumps, json_object, jsonl_chunks
from ..trace import PHASE_LIST
from .deps import ERRORS, ProblemBody, limits_of, off_loop, solved, thread_limiter
from .models import ConvResult, PhaseOut, PresetOut, TracePage, TracePhase

router = APIRouter(prefix="/api/v1", tags=["convolution"])

PhaseParam = Annotated[TracePhase, Path(description="forward, grad_x, grad_x_scatter, grad_w or grad_b")]
Start = Annotated[int, Query(description="First step to return (0-based).")]
FieldsParam = Annotated[Optional[str], Query(description=(
    "Only these fields of each step, comma-separated (sparse fieldset): index, at, value, bias (forward), terms "
    "(every term field) or terms.<field>, e.g. `at,value,terms.x,terms.w`. Unknown names: 422 listing the allowed "
    "ones. Default: every field."))]


@router.get("/phases", response_model=list[PhaseOut], summary="The phase registry")
def phases() -> list[dict]:
    """Every phase: what its steps compute, its term fields, and how the page presents it (the
    page builds its buttons, layout and formulas from this)."""
    return [p.as_dict() for p in PHASE_LIST]


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
    entry = solved(problem, request)
    geo = entry.conv.geo
    names = ["x", "w", "b", "grad_out", "out", "grad_x", "grad_w", "grad_b",
             "x_pad", "grad_out_pad", "grad_out_pad_mask", "w_rot"]
    if im2col and not geo.transposed:  # a transposed convolution is shown as a correlation and a scatter
        names += ["cols", "w_mat"]
    if geo.kind == "conv_mode":
        names.append("grad_x_pad")  # grad_x's first stage, before the fold
    if entry.conv.target is not None:
        names.append("target")  # loss "mse": grad_out = out - target
    # Overflow policy (README "Overflow"): the finite tensors are served, the others are null and named.
    body = {"geometry": dumps(geo.as_dict()),
            **{name: b"null" if name in entry.overflow else entry.tensor_json(name) for name in names}}
    if geo.kind != "conv":  # the border copies x's cells, or x_pad holds x among inserted zeros
        body["x_pad_source"] = dumps(entry.conv.x_pad_source())
    overflow = [name for name in entry.overflow if name in names]  # of the tensors this answer holds
    if overflow:
        body["overflow"] = dumps(overflow)
    return Response(json_object(body), media_type="application/json")


def _trace(problem: ProblemIn, phase: str, start: int, limit: Optional[int], request: Request, *, paged: bool,
           fields: Optional[str] = None):
    entry = solved(problem, request)
    stop = check_page(entry.trace(phase), start, limit, limits_of(request), paged=paged)
    entry.writer(phase, fields)  # unknown fields are refused before anything is sent
    return entry, stop


@router.post("/trace/{phase}", response_model=TracePage, responses=ERRORS, summary="One page of a phase's steps")
async def trace_page(
    phase: PhaseParam,
    problem: ProblemBody,
    request: Request,
    start: Start = 0,
    limit: Annotated[int, Query(description="Steps on this page (at most max_page_steps and max_page_terms).")] = 100,
    fields: FieldsParam = None,
) -> Response:
    """Steps ``start .. start+limit-1`` of ``phase``, each computed from its index alone."""
    return await off_loop(request, problem, _trace_page, phase, problem, request, start, limit, fields)


def _trace_page(phase: str, problem: ProblemIn, request: Request, start: int, limit: int,
                fields: Optional[str] = None) -> Response:
    entry, stop = _trace(problem, phase, start, limit, request, paged=True, fields=fields)
    writer = entry.writer(phase, fields)
    steps = b"".join(writer.chunks(start, stop, sep=b","))[:-1]  # no comma after the last step
    head = b'{"phase":"%s","total":%d,"start":%d,"steps":[' % (phase.encode(), len(writer.trace), start)
    return Response(head + steps + b"]}", media_type="application/json")


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
    meta: Annotated[Literal["tensors", "shapes"], Query(
        description="What the meta event carries: the phase's tensors in full, or only their shapes.")] = "tensors",
    fields: FieldsParam = None,
) -> StreamingResponse:
    """``{"event": "meta", ...}``, then ``{"event": "step", ...step}`` per step, then
    ``{"event": "end", "count": n}``. Steps are computed while the client reads; a client that
    hangs up stops the work; ``start`` resumes."""
    entry, stop = await off_loop(request, problem,
                                 lambda: _trace(problem, phase, start, limit, request, paged=False, fields=fields))
    return jsonl_response(request, entry, phase, start, stop, meta=meta, fields=fields)


def jsonl_response(request: Request, entry, phase: str, start: int, stop: int, *, meta: str = "tensors",
                   headers: dict | None = None, fields: Optional[str] = None) -> StreamingResponse:
    """The JSON Lines of ``phase``'s steps ``start .. stop-1``, streamed (the stream endpoint and
    the trace download)."""

    async def in_worker_threads():
        # Each chunk is computed in a worker thread so the event loop keeps serving others;
        # when the client hangs up this generator is cancelled between chunks and the
        # producer is closed, so no step is computed for nobody.
        chunks = jsonl_chunks(entry, phase, start, stop, meta=meta, fields=fields)
        limiter = thread_limiter(request, "stream_threads")
        try:
            while True:
                chunk = await anyio.to_thread.run_sync(next, chunks, None, limiter=limiter)
                if chunk is None:
                    return
                yield chunk
        finally:
            chunks.close()

    return StreamingResponse(in_worker_threads(), media_type="application/jsonl", headers=headers)
