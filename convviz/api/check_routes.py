"""REST: check a learner's arrays against a problem (``POST /api/v1/check``). Arrays only: the
server never runs submitted code (``convviz check`` runs code, on the learner's own machine)."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Request
from pydantic import BaseModel

from ..checking.examples import examples
from ..checking.service import CheckIn, check_request
from .deps import ERRORS, limits_of, off_loop

router = APIRouter(prefix="/api/v1", tags=["check"])


class DiagnosisOut(BaseModel):
    code: str
    title: str
    explanation: str
    also: list[str]


class FirstWrongOut(BaseModel):
    """The first wrong cell's step: its equation with numbers, the learner's value, what the
    difference says (when no mistake is named)."""

    index: list[int]
    phase: str
    step: int
    expected: float
    got: float
    difference: float
    equation: str
    note: Optional[str]


class TensorCheckOut(BaseModel):
    ok: bool
    shape_expected: list[int]
    shape_got: list[int]
    max_abs_error: Optional[float]
    wrong_count: int
    wrong: list[list[int]]
    first: Optional[FirstWrongOut]
    diagnosis: Optional[DiagnosisOut]


class CheckOut(BaseModel):
    ok: bool
    tensors: dict[str, TensorCheckOut]
    diagnosis: Optional[DiagnosisOut]


@router.post("/check", response_model=CheckOut, responses=ERRORS, summary="Check submitted results against a problem")
async def check(body: CheckIn, request: Request) -> dict:
    """Compare the submitted ``out`` / ``grad_x`` / ``grad_w`` / ``grad_b`` with the problem's
    (``|got - expected| <= atol + rtol * |expected|``): per tensor, the wrong cells (the first
    100 in ``wrong``, all counted in ``wrong_count``) and the first wrong cell's step; and the
    known mistake these numbers prove on this problem, if any (``diagnosis``)."""
    return await off_loop(request, body, check_request, body, limits_of(request), request.app.state.solved)


class CheckExampleOut(BaseModel):
    name: str
    title: str
    description: str
    problem: dict
    submitted: dict[str, list]


@router.get("/check/examples", response_model=list[CheckExampleOut], summary="Submissions to try the check on")
def check_examples() -> list[dict]:
    """Wrong results to try ``POST /check`` (and the page's Check mode) on, e.g. what the tutorial's
    own backward code gives for its worked example."""
    return examples()
