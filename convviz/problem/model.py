"""The problem model: what a client (the API, the CLI, a script) asks convviz to solve.

Explicit arrays, or shapes plus a value kind and a seed. Validated by pydantic at the boundary;
``resolve.py`` turns it into a solved ``Convolution``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from ..engine import PADDING_MODES
from ..trace import LOSSES, VALUE_KINDS

ValueKind = Literal[VALUE_KINDS]  # type: ignore[valid-type]
Loss = Literal[LOSSES]  # type: ignore[valid-type]
PaddingMode = Literal[PADDING_MODES]  # type: ignore[valid-type]


def _nested(rank_note: str) -> dict:
    """JSON schema of a 1- to 4-deep array of numbers."""
    number = {"type": "number"}
    levels = [number]
    for _ in range(4):
        levels.append({"type": "array", "items": levels[-1]})
    return {"anyOf": levels[2:] if "2-D" in rank_note else levels[1:], "description": rank_note}


TensorIn = Annotated[Any, Field(json_schema_extra=_nested("4-D, or a 2-D matrix for a single sample and channel"))]
IntPair = Union[StrictInt, Annotated[list[StrictInt], Field(min_length=2, max_length=2)]]
# an int, [vertical, horizontal], [top, bottom, left, right], or PyTorch's strings
PaddingIn = Union[StrictInt, Annotated[list[StrictInt], Field(min_length=2, max_length=4)], Literal["same", "valid"]]


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
    # Checked like x, w and grad_out (resolve.py): numbers only, no strings or booleans.
    b: Optional[Annotated[Any, Field(json_schema_extra={"type": "array", "items": {"type": "number"}})]] = Field(
        None, description="Bias, one per kernel (F).")
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
    padding: PaddingIn = Field(0, description=(
        "An integer >= 0 (every side), [vertical, horizontal], [top, bottom, left, right], 'same' (out as large as "
        "x; stride 1 only; an odd total puts the extra row / column at the bottom / right, as PyTorch) or 'valid' "
        "(none); each at most 2**31 - 1. With padding_mode reflect, replicate or circular a side may be negative: "
        "it crops x, as PyTorch's nn.Conv2d. A transposed convolution takes an integer or a pair."))
    dilation: IntPair = Field(1, description="An integer >= 1 or [vertical, horizontal], at most 2**31 - 1.")
    groups: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)] = Field(
        1, description="Groups of channels (PyTorch's groups): C and F must be multiples; w is F x C/groups x KH x KW "
        "(transposed: C x F/groups x KH x KW). groups = C is a depthwise convolution.")
    padding_mode: PaddingMode = Field(
        "zeros", description="What the border of x_pad holds: zeros, or copies of x's cells ('reflect' without "
        "repeating the edge, needing padding < the input size; 'replicate'; 'circular', padding <= the input size), "
        "as nn.Conv2d's padding_mode. Not for a transposed convolution.")
    transposed: StrictBool = Field(
        False, description="A transposed convolution (ConvTranspose2d): w is C x F/groups x KH x KW and out has "
        "(H - 1) * stride - 2 * padding + dilation * (KH - 1) + output_padding + 1 rows (likewise columns).")
    output_padding: IntPair = Field(
        0, description="Transposed only: extra rows / columns at the bottom / right of out, an integer or "
        "[vertical, horizontal], each smaller than the stride or the dilation on its axis.")
    # the update step and where grad_out comes from (docs/conventions.md, "The update step", "grad_out")
    lr: Annotated[float, Field(ge=0, strict=True)] = Field(
        0.01, description="Learning rate of the update step: w_new = w - lr * (grad_w + weight_decay * w), "
        "b_new = b - lr * grad_b.")
    weight_decay: Annotated[float, Field(ge=0, strict=True)] = Field(
        0.0, description="Weight decay (L2) of the update step, on w only.")
    loss: Loss = Field(
        "none", description="Where grad_out = dL/d out comes from: 'none' (as sent or generated, as if handed back "
        "by a next layer), 'sum' (L = sum(out): ones) or 'mse' (L = 1/2 sum((out - target)^2): out - target).")
    target: Optional[TensorIn] = Field(
        None, description="With loss 'mse': the target, N x F x Ho x Wo (or Ho x Wo); generated from values and seed "
        "when left out (zeros when x and w are sent).")
