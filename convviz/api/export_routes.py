"""Downloads of the problem on screen, and the code that reproduces it:

- ``problem.npz`` / ``problem.json``: the problem (its arrays as used, and its settings) and every
  tensor of it (results, ``x_pad``, ``grad_out_pad`` and its mask, ``w_rot``, ``cols``, ``w_mat``);
- ``trace/{phase}.jsonl``: the phase's trace as JSON Lines, streamed as it is computed;
- ``view/{phase}.svg``: the view drawn from the page's own view data, text as text;
- ``code/{phase}``: a PyTorch and a NumPy + convviz snippet that rebuild the problem.

Each takes the problem as JSON like every other endpoint. The page's download buttons post an
HTML form instead (a browser streams a form post's answer to disk, which a script's fetch cannot):
``FormProblem`` turns such a post into the JSON request, for this server's own page only.
"""

from __future__ import annotations

import io
from typing import Annotated, Literal, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..page.code import parse_edits, snippets
from ..page.svg import view_svg
from ..problem import ARRAY_FIELDS, ProblemError, ProblemIn, check_page, check_select, dumps, json_object
from ..trace import PHASES
from . import errors
from .deps import ERRORS, ProblemBody, Sel, limits_of, off_loop, solved, solved_view
from .routes import jsonl_response

router = APIRouter(prefix="/api/v1/export", tags=["export"])

AnyPhase = Literal[tuple(PHASES)]  # type: ignore[valid-type]
#: every tensor of a solved problem, in the order of /api/v1/conv
TENSORS = ("x", "w", "b", "grad_out", "out", "grad_x", "grad_w", "grad_b", "x_pad", "grad_out_pad",
           "grad_out_pad_mask", "w_rot", "cols", "w_mat")
RESULTS = ("out", "grad_x", "grad_w", "grad_b")


def _name(problem_geo, what: str, ext: str) -> str:
    g = problem_geo
    return (f"convviz-{what}-x{g.N}x{g.C}x{g.H}x{g.W}-w{g.F}x{g.C}x{g.KH}x{g.KW}"
            f"-s{g.stride[0]}{g.stride[1]}-p{g.padding[0]}{g.padding[1]}-d{g.dilation[0]}{g.dilation[1]}.{ext}")


def _tensors(conv) -> tuple[str, ...]:
    """TENSORS as this problem has them: no im2col for a transposed convolution, grad_x_pad where
    the border copies x (padding modes)."""
    names = tuple(n for n in TENSORS if not (conv.geo.transposed and n in ("cols", "w_mat")))
    return names + (("grad_x_pad",) if conv.geo.kind == "conv_mode" else ())


def _attachment(filename: str) -> dict:
    return {"content-disposition": f'attachment; filename="{filename}"'}


def _settings(problem: ProblemIn) -> dict:
    """The problem's settings beside its arrays (stride, padding, dilation, ...): what, with the
    arrays as used, makes the exported problem a body the API solves to the same answer."""
    skip = {*ARRAY_FIELDS, "x_shape", "w_shape", "values", "seed", "loss", "target"}
    return {k: v for k, v in problem.model_dump().items() if k not in skip}


# problem + tensors ------------------------------------------------------------------------------------
@router.post("/problem.npz", responses={200: {"content": {"application/octet-stream": {}},
                                              "description": "A NumPy .npz archive."}, **ERRORS},
             response_class=Response, summary="The problem and every tensor, as a NumPy .npz")
async def problem_npz(problem: ProblemBody, request: Request) -> Response:
    """One array per tensor (x, w, b, grad_out, out, grad_x, grad_w, grad_b, x_pad, grad_out_pad,
    grad_out_pad_mask, w_rot, cols, w_mat) and the settings (stride, padding, dilation as pairs).
    Load with ``numpy.load(path, allow_pickle=False)``: it holds no pickle. A result that
    overflows float64 is left out and named in ``overflow``."""
    return await off_loop(request, problem, _npz, problem, request)


def _npz(problem: ProblemIn, request: Request) -> Response:
    entry = solved(problem, request)
    conv = entry.conv
    arrays = {name: getattr(conv, name) for name in _tensors(conv) if name not in entry.overflow}
    arrays.update({k: np.asarray(getattr(conv.geo, k)) for k in ("stride", "padding", "dilation")})
    # the settings of issue 9 where not the defaults (groups, pads, padding_mode, transposed, output_padding)
    arrays.update({k: np.asarray(v) for k, v in conv.geo.as_dict().items()
                   if k in ("groups", "pads", "padding_mode", "transposed", "output_padding")})
    if entry.overflow:
        arrays["overflow"] = np.array(entry.overflow)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return Response(buf.getvalue(), media_type="application/octet-stream",
                    headers=_attachment(_name(conv.geo, "problem", "npz")))


@router.post("/problem.json", responses={200: {"content": {"application/json": {}},
                                               "description": "The problem, its geometry and every tensor."},
                                         **ERRORS},
             response_class=Response, summary="The problem and every tensor, as JSON")
async def problem_json(problem: ProblemBody, request: Request) -> Response:
    """``{"problem": {x, w, b, grad_out as used, stride, padding, dilation}, "geometry", "tensors":
    {...}}``: ``problem`` is a body the other endpoints solve to the same answer. A result that
    overflows float64 is null and named in ``overflow``."""
    return await off_loop(request, problem, _json, problem, request)


def _json(problem: ProblemIn, request: Request) -> Response:
    entry = solved(problem, request)
    settings = {k: dumps(v) for k, v in _settings(problem).items()}
    body = {
        "problem": json_object({**{name: entry.tensor_json(name) for name in ARRAY_FIELDS}, **settings}),
        "geometry": dumps(entry.conv.geo.as_dict()),
        "tensors": json_object({name: b"null" if name in entry.overflow else entry.tensor_json(name)
                                for name in _tensors(entry.conv) if name not in ARRAY_FIELDS}),
    }
    if entry.overflow:
        body["overflow"] = dumps(list(entry.overflow))
    return Response(json_object(body), media_type="application/json",
                    headers=_attachment(_name(entry.conv.geo, "problem", "json")))


# trace ----------------------------------------------------------------------------------------------
@router.post("/trace/{phase}.jsonl", responses={200: {"content": {"application/jsonl": {}},
                                                      "description": "The stream's JSON Lines, as a file."},
                                                **ERRORS},
             response_class=Response, summary="A phase's whole trace as a JSON Lines file, streamed")
async def trace_jsonl(
    phase: Annotated[AnyPhase, Path(description="Any phase of the registry (im2col: forward's steps).")],
    problem: ProblemBody,
    request: Request,
    meta: Annotated[Literal["tensors", "shapes"], Query(description="The meta event's tensors, or their shapes.")]
    = "tensors",
):
    """The bytes of ``/api/v1/trace/{phase}/stream`` for every step (``convviz trace`` prints the
    same), sent as a download and computed while it is written."""
    entry, stop = await off_loop(request, problem, _trace_entry, problem, phase, request)
    return jsonl_response(request, entry, phase, 0, stop, meta=meta,
                          headers=_attachment(_name(entry.conv.geo, f"{phase}-trace", "jsonl")))


def _trace_entry(problem: ProblemIn, phase: str, request: Request):
    entry = solved(problem, request)
    entry.require_phase(phase)
    return entry, check_page(entry.trace(PHASES[phase].plays), 0, None, limits_of(request), paged=False)


# view -----------------------------------------------------------------------------------------------
@router.post("/view/{phase}.svg", responses={200: {"content": {"image/svg+xml": {}},
                                                   "description": "The view as SVG."}, **ERRORS},
             response_class=Response, summary="A phase's view as SVG (for slides and papers)")
async def view_svg_route(
    phase: AnyPhase,
    problem: ProblemBody,
    request: Request,
    n: Sel = 0,
    f: Sel = 0,
    c: Sel = 0,
    step: Annotated[Optional[int], Query(ge=0, description="Highlight this step (0-based) as the page does.")] = None,
    scatter: Annotated[bool, Query(description="grad_x only: the scatter route, as /view/grad_x_scatter.")] = False,
) -> Response:
    """What ``/api/v1/page/view/{phase}`` draws for the slice (n, f, c), in the phase's layout,
    every number, title and operator as SVG text."""
    return await off_loop(request, problem, _svg, phase, problem, request, n, f, c, step, scatter)


def _svg(phase: str, problem: ProblemIn, request: Request, n: int, f: int, c: int, step, scatter: bool) -> Response:
    entry, built, view = solved_view(problem, request, phase, n, f, c, scatter)
    data = view.as_dict()
    if step is not None and step >= data["total"]:
        raise ProblemError("invalid_query", f"step must be between 0 and {data['total'] - 1} (the {built} view has "
                           f"{data['total']} steps), got {step}", param="step")
    g, reg = entry.conv.geo, PHASES[built]
    title = (f"convviz \u00b7 {reg.title} ({reg.subtitle}) \u00b7 x {g.N}\u00d7{g.C}\u00d7{g.H}\u00d7{g.W}, "
             f"w {g.F}\u00d7{g.C}\u00d7{g.KH}\u00d7{g.KW}, stride {_pair(g.stride)}, padding {_pair(g.padding)}, "
             f"dilation {_pair(g.dilation)}" + (f" \u00b7 step {step + 1} of {data['total']}" if step is not None else ""))
    svg = view_svg(data, reg.layout, title=title, step=step)
    return Response(svg.encode(), media_type="image/svg+xml",
                    headers=_attachment(_name(g, f"{built}-view", "svg")))


def _pair(p) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]},{p[1]}"


# code -----------------------------------------------------------------------------------------------
@router.post("/code/{phase}", responses=ERRORS, summary="PyTorch and NumPy code that rebuilds the problem")
async def code(
    phase: AnyPhase,
    problem: ProblemBody,
    request: Request,
    n: Sel = 0,
    f: Sel = 0,
    c: Sel = 0,
    edit: Annotated[Optional[str], Query(description="Cells typed on the page, set on the generated values: "
                                                     "x@0,0,1,2=5;w@0,0,0,0=-1 (as the page's URL).")] = None,
) -> dict:
    """``{"phase", "values": "inline" | "generated", "pytorch": code, "numpy": code}``: two runnable
    programs that rebuild this problem exactly (values written out for small problems; shapes,
    value kind and seed otherwise) and print the tensor the view of ``phase`` shows."""
    return await off_loop(request, problem, _code, phase, problem, request, n, f, c, edit)


def _code(phase: str, problem: ProblemIn, request: Request, n: int, f: int, c: int, edit: str | None) -> dict:
    edits = parse_edits(edit)
    entry = solved(problem, request)
    conv = entry.conv
    check_select(conv.geo, n, f, c)
    if edits:  # the page's typed cells, on the generated values: solve the problem they make
        arrays = {name: getattr(conv, name).copy() for name in ARRAY_FIELDS}
        for tensor, idx, value in edits:
            shape = arrays[tensor].shape
            if len(idx) != len(shape) or not all(0 <= i < s for i, s in zip(idx, shape)):
                raise ProblemError("invalid_query", f"edit index {tensor}@{','.join(map(str, idx))} is outside "
                                   f"{tensor}'s shape {shape}", param="edit")
            arrays[tensor][idx] = value
        conv = type(conv).from_arrays(arrays["x"], arrays["w"], arrays["b"], arrays["grad_out"],
                                      transposed=conv.geo.transposed, **conv.geo.hyper)
    explicit = {name for name in ARRAY_FIELDS if getattr(problem, name) is not None}
    return snippets(conv, phase, values=problem.values, seed=problem.seed, explicit=explicit, edits=edits, n=n, f=f, c=c)


# the page's form posts -----------------------------------------------------------------------------
class FormProblem:
    """ASGI middleware: a form post to ``/api/v1/export/...`` from this server's own page (its
    ``Origin`` is this server) with a ``problem`` field becomes the JSON request: the field is the
    body, the other fields join the query. Other form posts pass unchanged (and are refused as
    not JSON); one with a ``problem`` field from another origin gets 403, so no other site can
    make a visitor's browser run work here."""

    PREFIX = "/api/v1/export/"
    FORM = b"application/x-www-form-urlencoded"

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        if (scope["type"] != "http" or not scope["path"].startswith(self.PREFIX)
                or headers.get(b"content-type", b"").split(b";")[0].strip() != self.FORM):
            return await self.app(scope, receive, send)
        try:
            body = await _read_body(receive)
        except StarletteHTTPException as exc:  # the body limit, counted by BodyLimit around us
            return await _error(send, exc.status_code, "payload_too_large", str(exc.detail))
        fields = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        form = dict(fields)
        if "problem" not in form:
            return await self.app(scope, _replay(body, receive), send)
        origin = headers.get(b"origin", b"").decode(errors="replace")
        if not origin or urlsplit(origin).netloc != headers.get(b"host", b"").decode(errors="replace"):
            return await _error(send, 403, "forbidden",
                                f"a form post to {scope['path']} is accepted only from this server's own page "
                                f"(Origin {origin or 'missing'}); send the problem as JSON instead")
        extra = urlencode([(k, v) for k, v in fields if k != "problem"])
        query = b"&".join(q for q in (scope.get("query_string", b""), extra.encode()) if q)
        new_body = form["problem"].encode()
        new_headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
        new_headers += [(b"content-type", b"application/json"), (b"content-length", str(len(new_body)).encode())]
        await self.app({**scope, "headers": new_headers, "query_string": query}, _replay(new_body, receive), send)


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive):
    """A ``receive`` that gives ``body`` once, then waits on the client's own (its disconnect)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _error(send, status: int, code: str, message: str) -> None:
    from fastapi.responses import JSONResponse

    await JSONResponse(errors.error_body(status, code, message), status_code=status)({"type": "http"}, None, send)
