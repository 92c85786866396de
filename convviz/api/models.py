"""Pydantic models of the REST API v1, named by role: what a client sends and what it gets.

Tensors travel as nested JSON arrays (NumPy order). Large responses are written by hand for
speed (``routes.py``); these models are their documented schema in ``/openapi.json``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ..trace import PHASES, VALUE_KINDS

Phase = Literal[PHASES]  # type: ignore[valid-type]
ValueKind = Literal[VALUE_KINDS]  # type: ignore[valid-type]


def _nested(rank_note: str) -> dict:
    """JSON schema of a 1- to 4-deep array of numbers."""
    number = {"type": "number"}
    levels = [number]
    for _ in range(4):
        levels.append({"type": "array", "items": levels[-1]})
    return {"anyOf": levels[2:] if "2-D" in rank_note else levels[1:], "description": rank_note}


TensorIn = Annotated[Any, Field(json_schema_extra=_nested("4-D, or a 2-D matrix for a single sample and channel"))]
IntPair = Union[StrictInt, Annotated[list[StrictInt], Field(min_length=2, max_length=2)]]


class ProblemIn(BaseModel):
    """A convolution problem: explicit arrays, or shapes plus a value kind and a seed.

    Give ``x`` or ``x_shape``, and ``w`` or ``w_shape``. When both ``x`` and ``w`` are given
    explicitly, a missing ``b`` is zeros and a missing ``grad_out`` is ones (the gradient of
    ``L = sum(out)``); otherwise the missing ones are generated from ``values`` and ``seed`` too.
    A 2-D ``x`` (H x W) and ``w`` (KH x KW) mean N = C = F = 1.
    """

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {"x": [[1, 2, 0], [0, 1, 3], [2, 1, 0]], "w": [[1, -1], [2, 0]]},
                {"x_shape": [10, 32, 14, 14], "w_shape": [16, 32, 3, 3], "padding": 1, "values": "normal", "seed": 0},
            ]
        },
    )

    x: Optional[TensorIn] = Field(None, description="Input, N x C x H x W (or H x W).")
    w: Optional[TensorIn] = Field(None, description="Kernels, F x C x KH x KW (or KH x KW).")
    b: Optional[list[float]] = Field(None, description="Bias, one per kernel (F).")
    grad_out: Optional[TensorIn] = Field(None, description="Upstream gradient dL/d out, N x F x Ho x Wo (or Ho x Wo).")
    x_shape: Optional[Annotated[list[StrictInt], Field(min_length=2, max_length=4)]] = Field(
        None, description="[N, C, H, W] (or [H, W]) to generate x instead of sending it."
    )
    w_shape: Optional[Annotated[list[StrictInt], Field(min_length=2, max_length=4)]] = Field(
        None, description="[F, C, KH, KW] (or [KH, KW]) to generate w instead of sending it."
    )
    values: ValueKind = Field(
        "integers", description="Kind of generated values: integers in [-3, 3], standard normal, or ones."
    )
    seed: Annotated[StrictInt, Field(ge=0, le=2**32 - 1)] = Field(0, description="Seed of the generated values.")
    stride: IntPair = Field(1, description="An integer >= 1 or [vertical, horizontal], at most 2**31 - 1.")
    padding: IntPair = Field(0, description="An integer >= 0 or [vertical, horizontal], at most 2**31 - 1.")
    dilation: IntPair = Field(1, description="An integer >= 1 or [vertical, horizontal], at most 2**31 - 1.")


class GeometryOut(BaseModel):
    """Every size of the problem (MATH.md names)."""

    N: int
    C: int
    H: int
    W: int
    F: int
    KH: int
    KW: int
    Ho: int
    Wo: int
    Hp: int = Field(description="Rows of x_pad: H + 2 ph.")
    Wp: int
    Hg: int = Field(description="Rows of grad_out_pad: H + dh (KH - 1).")
    Wg: int
    stride: list[int]
    padding: list[int]
    dilation: list[int]
    remainder: list[int] = Field(description="Rows / columns of x_pad that no window reads (stride remainder).")
    grad_out_pad_margins: dict[str, int] = Field(
        description="Zeros added around the dilated grad_out (negative: cropped): top, bottom, left, right."
    )
    macs: int = Field(description="Forward multiply-adds.")


Nested = Annotated[list, Field(description="Nested arrays of numbers, NumPy order.")]


class ConvResult(BaseModel):
    """The whole problem solved: inputs as used, results, and the tensors MATH.md names."""

    geometry: GeometryOut
    x: Nested
    w: Nested
    b: list[float]
    grad_out: Nested
    out: Nested
    grad_x: Nested
    grad_w: Nested
    grad_b: list[float]
    x_pad: Nested
    grad_out_pad: Nested
    grad_out_pad_mask: list[list[bool]] = Field(
        description="Hg x Wg: true where grad_out_pad holds a real grad_out value, false for an inserted zero."
    )
    w_rot: Nested = Field(description="C x F x KH x KW: w rotated 180 degrees, first two axes swapped.")
    cols: Optional[Nested] = Field(None, description="im2col matrix, (N*Ho*Wo) x (C*KH*KW); omitted with im2col=false.")
    w_mat: Optional[Nested] = Field(None, description="Kernel matrix, (C*KH*KW) x F; out unrolled = cols @ w_mat + b.")


class TermOut(BaseModel):
    """One term of a step: two tensor cells and their product. Which fields appear depends on
    the phase: forward (x_pad, x, x_value, w, w_value), grad_x (grad_out_pad, grad_out,
    grad_out_value, w_rot, w, w_value), grad_w (grad_out, grad_out_value, x_pad, x, x_value),
    grad_b (grad_out, grad_out_value). ``x`` is null on a padding cell; ``grad_out`` is null
    on an inserted zero of grad_out_pad."""

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
    product: float


class StepOut(BaseModel):
    """One cell of a result with every term that makes it; value = sum of products (+ bias)."""

    index: int = Field(description="Step number: row-major position of the cell in the result.")
    at: list[int] = Field(description="0-based index of the cell in out / grad_x / grad_w / grad_b.")
    value: float
    bias: Optional[float] = Field(None, description="forward only: b[f].")
    terms: list[TermOut]


class TracePage(BaseModel):
    phase: Phase
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
