"""Checking submitted arrays against a problem: the request model and its validation, for the
REST API (which never runs submitted code). Raises ``ProblemError`` like the problem service."""

from __future__ import annotations

from typing import Annotated, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..engine.checks import as_float_array
from ..problem import Limits, ProblemError, ProblemIn, SolvedCache, solve
from ..problem.model import TensorIn
from .checker import TENSORS, check_arrays
from .mistakes import Problem

WRONG_CAP = 100  # wrong cells listed per tensor; wrong_count is exact


class SubmittedIn(BaseModel):
    """The learner's numbers for any of the problem's results (nested lists)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    out: Optional[TensorIn] = Field(None, description="N x F x Ho x Wo (or Ho x Wo when N = F = 1).")
    grad_x: Optional[TensorIn] = Field(None, description="N x C x H x W (or H x W when N = C = 1).")
    grad_w: Optional[TensorIn] = Field(None, description="F x C x KH x KW (or KH x KW when F = C = 1).")
    grad_b: Optional[list[float]] = Field(None, description="F numbers.")


class CheckIn(ProblemIn):
    """A problem (as for ``/conv``) plus the numbers to check against it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [
        {"x_shape": [1, 1, 3, 3], "w_shape": [1, 1, 2, 2], "values": "integers", "seed": 37,
         "submitted": {"grad_x": [[-3, 0, 3], [-8, 6, 8], [3, 8, 4]]}}]})

    # Optional in the schema so that a bad problem is reported first, as on every endpoint; a
    # request without any submitted tensor is refused once the problem is known to be good.
    submitted: Optional[SubmittedIn] = Field(None, description="The learner's out / grad_x / grad_w / grad_b; at least one.")
    rtol: Annotated[float, Field(ge=0, le=1)] = Field(1e-6, description="Relative tolerance.")
    atol: Annotated[float, Field(ge=0)] = Field(1e-9, description="Absolute tolerance.")


def _submitted_array(name: str, value, shape: tuple[int, ...], limits: Limits) -> np.ndarray:
    field = f"submitted.{name}"
    try:
        arr = as_float_array(value, field, (1,) if name == "grad_b" else (4, 2))
    except ValueError as exc:
        raise ProblemError("invalid_problem", str(exc), field=field) from None
    if arr.size > limits.max_tensor_elements:
        raise ProblemError("limit_exceeded", f"{field} has {arr.size:,} numbers; this server allows at most "
                           f"{limits.max_tensor_elements:,} per tensor (max_tensor_elements)")
    if arr.ndim == 2 and shape[:2] == (1, 1):
        arr = arr[None, None]  # a matrix is the one sample and channel, as for x and w
    return arr


def check_request(body: CheckIn, limits: Limits, cache: SolvedCache | None = None) -> dict:
    """Solve ``body``'s problem and judge its submitted arrays. -> ``check_arrays``'s answer."""
    problem = ProblemIn(**body.model_dump(exclude={"submitted", "rtol", "atol"}, exclude_unset=True))
    conv = solve(problem, limits, cache).conv
    submitted = body.submitted
    given = {} if submitted is None else {
        name: getattr(submitted, name) for name in TENSORS if getattr(submitted, name) is not None}
    if not given:
        raise ProblemError("invalid_problem", "submitted must hold at least one of out, grad_x, grad_w, grad_b; "
                           f"got {'none' if submitted is None else 'an empty object'}", field="submitted")
    geo = conv.geo
    shapes = {"out": geo.out_shape, "grad_x": geo.x_shape, "grad_w": geo.w_shape, "grad_b": geo.b_shape}
    arrays = {name: _submitted_array(name, value, shapes[name], limits) for name, value in given.items()}
    pb = Problem(conv.x, conv.w, conv.b, conv.grad_out, geo)
    right = {name: getattr(conv, name) for name in arrays}  # already computed (and cached) by the service
    return check_arrays(pb, arrays, rtol=body.rtol, atol=body.atol, cells_cap=WRONG_CAP, right=right)
