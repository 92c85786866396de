"""Calling the learner's functions: the calling conventions (styles), and what came back.

Whatever the learner's code does (raises, returns a list, a tuple of the wrong length, an int
array) becomes an ``Outcome`` with a one-line account; nothing it does stops the check.
"""

from __future__ import annotations

import inspect
import linecache
import traceback
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .battery import Config
from .mistakes import Problem

GRADS = ("grad_x", "grad_w", "grad_b")


@dataclass
class Outcome:
    """What the learner's code gave for one tensor of one configuration: an array, or an error."""

    array: np.ndarray | None = None
    error: str | None = None  # a one-line account: the exception and where it was raised

    @property
    def ok(self) -> bool:
        return self.array is not None


def summarise_exception(exc: BaseException) -> str:
    """``ValueError: could not broadcast ... (at mymodule.py:27: dx[:] = dx_pad[:, :, p:-p, p:-p])``.

    The last frame is where the learner's code raised (or the deepest call it made)."""
    message = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if not f.filename.endswith(("convviz/checking/runner.py",))]
    if not own:
        return message
    last = own[-1]
    line = (last.line or linecache.getline(last.filename, last.lineno)).strip()
    where = f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"
    return f"{message} (at {where}" + (f": {line}" if line else "") + ")"


def as_outcome(value, what: str) -> Outcome:
    """A returned value -> an Outcome: a real-valued array, or an error saying what came back."""
    if isinstance(value, (list, tuple)) and not value:
        return Outcome(error=f"{what} is an empty {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - anything the learner returns is a finding, not a crash
        return Outcome(error=f"{what} could not be read as an array ({exc})")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        return Outcome(error=f"{what} is {type(value).__name__} of dtype {arr.dtype}, not an array of real numbers")
    if np.issubdtype(arr.dtype, np.integer):
        return Outcome(array=arr.astype(np.float64),
                       error=f"{what} has integer dtype {arr.dtype}: gradients must be floating point "
                       "(an integer array truncates every value it is given)")
    return Outcome(array=arr.astype(np.float64, copy=False))


def accepts(fn: Callable, name: str) -> bool:
    """Whether ``fn`` takes a keyword argument ``name`` (or any keyword, via **kwargs)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


@dataclass
class Style:
    """A calling convention: how to call forward and backward, and what they return."""

    name: str
    takes_dilation: Callable[[Callable], bool]
    takes_pairs: bool

    def run(self, forward, backward, cfg: Config, pb: Problem, *, pairs: bool) -> dict[str, Outcome]:
        raise NotImplementedError


class PlainStyle(Style):
    """``forward(x, w, b, stride=, padding=[, dilation=]) -> out`` and
    ``backward(x, w, grad_out, stride=, padding=[, dilation=]) -> (grad_x, grad_w, grad_b)``."""

    def __init__(self):
        super().__init__("plain", lambda fn: accepts(fn, "dilation"), True)

    def run(self, forward, backward, cfg, pb, *, pairs):
        def hyper(fn):
            kwargs = cfg.hyper(pairs=pairs)
            if not accepts(fn, "dilation"):
                kwargs.pop("dilation")  # configurations with dilation > 1 are skipped for such a function
            return kwargs

        found: dict[str, Outcome] = {}
        if forward is not None:
            kw = hyper(forward)
            found["out"] = _call(lambda: forward(pb.x.copy(), pb.w.copy(), pb.b.copy(), **kw), "forward's result")
        if backward is not None:
            kw = hyper(backward)
            found.update(_grads(lambda: backward(pb.x.copy(), pb.w.copy(), pb.grad_out.copy(), **kw)))
        return found


class Cs231nStyle(Style):
    """CS231n's assignment: ``forward(x, w, b, conv_param) -> (out, cache)`` with
    ``conv_param = {"stride": s, "pad": p}``, and ``backward(dout, cache) -> (dx, dw, db)``."""

    def __init__(self):
        super().__init__("cs231n", lambda fn: False, False)

    def run(self, forward, backward, cfg, pb, *, pairs):
        conv_param = {"stride": cfg.stride[0], "pad": cfg.padding[0]}
        found: dict[str, Outcome] = {}
        try:
            result = forward(pb.x.copy(), pb.w.copy(), pb.b.copy(), conv_param)
        except Exception as exc:  # noqa: BLE001
            found["out"] = Outcome(error=summarise_exception(exc))
            if backward is not None:
                for name in GRADS:
                    found[name] = Outcome(error="not returned: forward raised, so backward had no cache to run on")
            return found
        if not (isinstance(result, tuple) and len(result) == 2):
            found["out"] = Outcome(error=f"forward returned {_kind(result)}; the cs231n style returns (out, cache)")
            if backward is not None:
                found.update({name: Outcome(error="not returned: forward did not return (out, cache) for backward") for name in GRADS})
            return found
        out, cache = result
        found["out"] = as_outcome(out, "forward's out")
        if backward is not None:
            found.update(_grads(lambda: backward(pb.grad_out.copy(), cache)))
        return found


STYLES: dict[str, Style] = {"plain": PlainStyle(), "cs231n": Cs231nStyle()}


def _kind(value) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    return f"a {type(value).__name__}"


def _call(fn, what: str) -> Outcome:
    try:
        return as_outcome(fn(), what)
    except Exception as exc:  # noqa: BLE001
        return Outcome(error=summarise_exception(exc))


def _grads(call) -> dict[str, Outcome]:
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001
        # One exception, three missing results: it is told once, on grad_x (the first), and the
        # others say why they are missing, so no mistake is named for them on this evidence.
        error = summarise_exception(exc)
        return {"grad_x": Outcome(error=error),
                **{name: Outcome(error="not returned: backward raised (see grad_x)") for name in GRADS[1:]}}
    if not (isinstance(result, (tuple, list)) and len(result) == 3):
        error = f"backward returned {_kind(result)}; it must return (grad_x, grad_w, grad_b)"
        return {name: Outcome(error=error) for name in GRADS}
    return {name: as_outcome(value, name) for name, value in zip(GRADS, result)}
