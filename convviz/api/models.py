"""Pydantic models of the REST API v1, named by role: what a client sends and what it gets.

Tensors travel as nested JSON arrays (NumPy order). Large responses are written by hand for
speed (``routes.py``); these models are their documented schema in ``/openapi.json``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..engine import Geometry
from ..trace import PHASES, TRACE_PHASES

TracePhase = Literal[TRACE_PHASES]  # type: ignore[valid-type]
ViewPhase = Literal[tuple(PHASES)]  # type: ignore[valid-type]

# GeometryOut is Geometry.as_dict(): its fields are read from an example, so the schema cannot
# drift from what is sent; only the descriptions are written here.
_GEOMETRY_NOTES = {
    "Hp": "Rows of x_pad: H + top + bottom padding.",
    "Hg": "Rows of grad_out_pad: H + dh (KH - 1).",
    "remainder": "Rows / columns of x_pad that no window reads (stride remainder).",
    "grad_out_pad_margins": "Zeros added around the dilated grad_out (negative: cropped): top, bottom, left, right.",
    "macs": "Forward multiply-adds.",
}
_TYPES = {int: int, list: list[int], dict: dict[str, int]}
GeometryOut = create_model(
    "GeometryOut",
    __doc__="Every size of the problem (names of docs/conventions.md).",
    **{name: (_TYPES[type(value)], Field(description=_GEOMETRY_NOTES.get(name)))
       for name, value in Geometry.from_shapes((1, 1, 1, 1), (1, 1, 1, 1)).as_dict().items()},
    # present only where not the defaults (a plain convolution's geometry is as it always was)
    groups=(Optional[int], Field(None, description="Groups of channels, when not 1.")),
    pads=(Optional[list[int]], Field(None, description="[top, bottom, left, right] when the sides differ; padding "
                                                       "is then [top, left], x's place in x_pad.")),
    padding_mode=(Optional[str], Field(None, description="reflect, replicate or circular (absent: zeros).")),
    kind=(Optional[str], Field(None, description="'conv_mode' (a border of copies: grad_x_pad, then the fold) or "
                                                 "'transposed'; absent for a zero border.")),
    transposed=(Optional[bool], Field(None, description="true for a transposed convolution: then Hp x Wp is x "
                                                        "dilated by the stride and padded, Hg x Wg grad_out padded.")),
    output_padding=(Optional[list[int]], Field(None, description="Transposed only.")),
    x_pad_margins=(Optional[dict[str, int]], Field(None, description="Transposed only: zeros around the dilated x "
                                                                     "(negative: cropped).")),
)


Nested = Annotated[list, Field(description="Nested arrays of numbers, NumPy order.")]


class ConvResult(BaseModel):
    """The whole problem solved: inputs as used, results, and the tensors docs/conventions.md names."""

    geometry: GeometryOut
    x: Nested
    w: Nested
    b: list[float]
    grad_out: Nested
    out: Optional[Nested] = Field(description="null if it overflows float64 (then named in overflow).")
    grad_x: Optional[Nested] = Field(description="null if it overflows float64 (then named in overflow).")
    grad_w: Optional[Nested] = Field(description="null if it overflows float64 (then named in overflow).")
    grad_b: Optional[list[float]] = Field(description="null if it overflows float64 (then named in overflow).")
    x_pad: Nested
    grad_out_pad: Nested
    grad_out_pad_mask: list[list[bool]] = Field(
        description="Hg x Wg: true where grad_out_pad holds a real grad_out value, false for an inserted zero."
    )
    w_rot: Nested = Field(description="C x F x KH x KW: w rotated 180 degrees, first two axes swapped.")
    cols: Optional[Nested] = Field(None, description="im2col matrix, (N*Ho*Wo) x (C*KH*KW); omitted with im2col=false.")
    w_mat: Optional[Nested] = Field(None, description="Kernel matrix, (C*KH*KW) x F; out unrolled = cols @ w_mat + b.")
    target: Optional[Nested] = Field(None, description="With loss 'mse' only: the target; grad_out = out - target.")
    grad_x_pad: Optional[Nested] = Field(None, description=(
        "Padding modes reflect / replicate / circular only: dL/d x_pad, N x C x Hp x Wp, the gather form's result; "
        "the fold adds each border cell's value onto the x cell it copies, giving grad_x."))
    x_pad_source: Optional[list] = Field(None, description=(
        "Padding modes and transposed convolutions only: for each cell of x_pad (N x C x Hp x Wp), the index "
        "[n, c, h, v] of the x cell whose value it holds, or null for a zero (padding or an inserted zero)."))
    overflow: Optional[list[str]] = Field(None, description="Present only when results overflow float64: their names "
                                          "(those fields are null; the finite ones are served).")


class TermOut(BaseModel):
    """One term of a step: tensor cells and their product. Which fields appear depends on
    the phase: forward (x_pad, x, x_value, w, w_value), grad_x (grad_out_pad, grad_out,
    grad_out_value, w_rot, w, w_value), grad_x_scatter (grad_out, grad_out_value, w, w_value,
    x_pad, grad_x), grad_w (grad_out, grad_out_value, x_pad, x, x_value), grad_b (grad_out,
    grad_out_value). ``x`` is null on a padding cell; ``grad_out`` is null on an inserted zero
    of grad_out_pad; ``grad_x`` is null where the scatter lands on padding (cropped)."""

    model_config = ConfigDict(extra="forbid")

    x_pad: Optional[list[int]] = None
    x: Optional[list[int]] = None
    x_value: Optional[float] = None
    w: Optional[list[int]] = None
    w_rot: Optional[list[int]] = None
    w_value: Optional[float] = None
    grad_out_pad: Optional[list[int]] = None
    grad_out: Optional[list[int]] = None
    grad_out_value: Optional[float] = None
    grad_x: Optional[list[int]] = None
    product: Optional[float] = Field(None, description="Always there unless the `fields` query leaves it out.")


class StepOut(BaseModel):
    """One cell of a result with every term that makes it; value = sum of products (+ bias).
    Every field is there unless the `fields` query selects others."""

    index: Optional[int] = Field(None, description="Step number: row-major position of the cell in the result.")
    at: Optional[list[int]] = Field(None, description="0-based index of the cell in out / grad_x / grad_w / grad_b "
                                                      "(grad_x_scatter: the grad_out cell spread).")
    value: Optional[float] = Field(None, description="The result cell's value (grad_x_scatter: the grad_out value "
                                                     "spread).")
    bias: Optional[float] = Field(None, description="forward only: b[f].")
    terms: Optional[list[TermOut]] = None


class TracePage(BaseModel):
    phase: TracePhase
    total: int = Field(description="Steps in the whole trace.")
    start: int
    steps: list[StepOut]


class ErrorDetail(BaseModel):
    status: int
    code: str = Field(description="invalid_request, invalid_json, invalid_problem, limit_exceeded, overflow, "
                                  "payload_too_large, not_found, method_not_allowed, ...")
    message: str = Field(description="What was received and what is allowed.")
    loc: list[Union[str, int]] = Field(description="Where in the request, e.g. [\"body\", \"x\"] or [\"query\", \"limit\"].")


class ErrorOut(BaseModel):
    error: ErrorDetail


class PresetOut(BaseModel):
    name: str
    title: str
    description: str
    problem: dict[str, Any]


class PhaseOut(BaseModel):
    """One entry of the phase registry, as the page reads it."""

    name: str
    title: str = Field(description="The phase button's text.")
    subtitle: str
    result: str = Field(description="The tensor whose cells the steps compute, row-major.")
    trace: str = Field(description="The phase whose steps the player shows (im2col: forward).")
    traced: bool = Field(description="Whether /api/v1/trace/{name} serves this phase.")
    variant_of: Optional[str] = Field(description="Shown as a toggle of that phase rather than a button.")
    toggle: Optional[str]
    toggle_label: str
    explain: str
    layout: list[Any] = Field(description="Grid titles and operators, left to right; a list stacks vertically.")
    formula: dict[str, Any]
    select: dict[str, int] = Field(description="Which axis of a step's `at` is the drawn sample n, kernel f, channel c.")
    tensors: list[str]
    steps_from: str
    select_local: dict[str, str] = Field(description="Axes of `select` that hold a place in a group (w's second axis): "
                                         "{'c': 'f'}: the channel's place among kernel f's group's channels (the view's "
                                         "group_of maps it to a channel).")
    window: bool = Field(description="Whether a step's cells in a source grid form a window the page frames "
                         "(false for the fold, whose copies lie apart).")
    kinds: list[str] = Field(description="The kinds of problem the phase shows (geometry.kind; absent there: 'conv'): "
                             "'conv' (a zero border), 'conv_mode' (a border of copies of x), 'transposed'.")
