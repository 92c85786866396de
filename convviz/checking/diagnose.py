"""Naming a mistake, and saying what can be said about a wrong cell no mistake explains.

A *hypothesis* picks one variant (or none) of the known mistakes in each slot of a tensor
(``mistakes.SLOTS``). It is named for a failure only when the learner's result equals the
hypothesis's on that configuration **and** on every other configuration where the hypothesis
changes the answer: a name is a claim about the learner's code, and a claim one configuration
happens to fit would be worse than none. The simplest fitting hypothesis wins; of its mistakes,
those that change this configuration's answer are named.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from ..trace import Convolution, Trace
from .mistakes import EMPTY, MISTAKES, MODELS, OUTPUT_SIZE_WRONG, SLOTS, VARIANT_CODE, Problem
from .runner import Outcome

# An exception that shows a shape with a zero-size spatial axis, e.g. numpy's "could not broadcast
# input array from shape (1,1,0,0) into shape (1,1,3,3)": the mark of an empty crop.
_EMPTY_SHAPE = re.compile(r"\(\d+,\s?\d+,\s?(0,\s?\d+|\d+,\s?0)\)")

Hypothesis = tuple  # one variant name (or None) per slot of the tensor


@dataclass(frozen=True)
class Diagnosis:
    """A named mistake: stable ``code``, ``title`` and an ``explanation`` that points at the page."""

    code: str
    title: str
    explanation: str
    also: tuple[str, ...] = ()  # further codes acting on the same configuration

    def as_dict(self) -> dict:
        return {"code": self.code, "title": self.title, "explanation": self.explanation, "also": list(self.also)}


def diagnosis_of(code: str, also=()) -> Diagnosis:
    m = MISTAKES[code]
    return Diagnosis(m.code, m.title, m.explanation, tuple(also))


def close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def matches(outcome: Outcome, predicted, rtol: float, atol: float) -> bool:
    """Whether what the learner's code gave is what the hypothesis predicts."""
    if isinstance(predicted, str) and predicted == EMPTY:
        if outcome.array is not None:
            return outcome.array.size == 0
        return bool(outcome.error and _EMPTY_SHAPE.search(outcome.error))
    return outcome.array is not None and close(outcome.array, predicted, rtol, atol)


def differs(predicted, right: np.ndarray) -> bool:
    """Whether a prediction changes the answer (to well within any sensible tolerance)."""
    if isinstance(predicted, str):
        return True
    return not close(predicted, right, 1e-12, 1e-12)


def hypotheses(tensor: str) -> list[Hypothesis]:
    """Every combination of one variant or none per slot, the simplest (fewest mistakes) first."""
    options = []
    for slot in SLOTS[tensor]:
        variants = [v for m in MISTAKES.values() if m.tensor == tensor and m.slot == slot for v in m.variants]
        options.append([None, *variants])
    combos = [h for h in itertools.product(*options) if any(v is not None for v in h)]
    return sorted(combos, key=lambda h: sum(v is not None for v in h))


class Predictions:
    """What each hypothesis gives on each problem, computed once on demand."""

    def __init__(self, problems: list[Problem], right: dict[int, dict[str, np.ndarray]] | None = None):
        """``right``: right answers already computed (problem number -> tensor name -> array)."""
        self.problems = problems
        self._memo: dict = {}
        for i, tensors in (right or {}).items():
            for tensor, arr in tensors.items():
                self._memo[(tensor, i, (None,) * len(SLOTS[tensor]))] = arr

    def get(self, tensor: str, i: int, hyp: Hypothesis):
        key = (tensor, i, hyp)
        if key not in self._memo:
            self._memo[key] = MODELS[tensor](self.problems[i], *hyp)
        return self._memo[key]

    def right(self, tensor: str, i: int) -> np.ndarray:
        return self.get(tensor, i, (None,) * len(SLOTS[tensor]))


def _acting(pred: Predictions, tensor: str, i: int, hyp: Hypothesis) -> list[str]:
    """The codes of ``hyp`` that change configuration ``i``'s answer (dropping one changes it)."""
    here = pred.get(tensor, i, hyp)
    codes = []
    for s, variant in enumerate(hyp):
        if variant is None:
            continue
        without = hyp[:s] + (None,) + hyp[s + 1:]
        other = pred.get(tensor, i, without)
        if other is None or isinstance(here, str) != isinstance(other, str) or (
                not isinstance(here, str) and differs(here, other)):
            codes.append(VARIANT_CODE[(SLOTS[tensor][s], variant)])
    order = list(MISTAKES)
    return sorted(codes, key=order.index)


def diagnose(tensor: str, outcomes: dict[int, Outcome], k: int, pred: Predictions, rtol: float,
             atol: float) -> Diagnosis | None:
    """The mistake behind the failure of ``tensor`` at problem ``k``, judged on every problem the
    learner's code ran (``outcomes``: problem number -> what it gave), or None."""
    for hyp in hypotheses(tensor):
        here = pred.get(tensor, k, hyp)
        if here is None or not differs(here, pred.right(tensor, k)) or not matches(outcomes[k], here, rtol, atol):
            continue
        fits = True
        for i, outcome in outcomes.items():
            predicted = pred.get(tensor, i, hyp)
            if predicted is not None and differs(predicted, pred.right(tensor, i)) and not matches(
                    outcome, predicted, rtol, atol):
                fits = False
                break
        if fits:
            codes = _acting(pred, tensor, k, hyp)
            return diagnosis_of(codes[0], codes[1:]) if codes else None
    return None


def output_size_diagnosis(got_shape: tuple, pb: Problem) -> Diagnosis | None:
    """``output_size_wrong`` when out has the right N and F but another Ho or Wo, saying which axis
    is wrong and what the formula gives there."""
    expected = pb.geo.out_shape
    if len(got_shape) != 4 or tuple(got_shape[:2]) != expected[:2] or tuple(got_shape) == expected:
        return None
    g = pb.geo
    lines = []
    for axis, size, got, k, s, p, d, name in (
            ("rows", g.H, got_shape[2], g.KH, g.stride[0], g.padding[0], g.dilation[0], "Ho"),
            ("columns", g.W, got_shape[3], g.KW, g.stride[1], g.padding[1], g.dilation[1], "Wo")):
        right = (size + 2 * p - d * (k - 1) - 1) // s + 1
        if got != right:
            lines.append(f"yours has {got} {axis}, but {name} = floor(({size} + 2*{p} - {d}*({k} - 1) - 1) / {s}) + 1 "
                         f"= {right}")
    m = OUTPUT_SIZE_WRONG
    return Diagnosis(m.code, m.title, m.explanation + "; ".join(lines) + ". See the geometry under the grids.")


# --- a wrong cell no mistake explains ------------------------------------------------------------

_REAL_OF = {"x_pad": "x", "grad_out_pad": "grad_out", "w_rot": "w"}


def term_label(term: dict) -> str:
    """``x[0,1,2,0] * w[1,1,0,2]``: the cells a term multiplies, real tensors preferred."""
    parts = []
    for key, value in term.items():
        if key == "product" or key.endswith("_value") or value is None:
            continue
        if key in _REAL_OF and term.get(_REAL_OF[key]) is not None:
            continue
        parts.append(f"{key}[{','.join(map(str, value))}]")
    return " * ".join(parts)


def cell_step(conv: Convolution, tensor: str, index: tuple) -> dict:
    """The step of phase ``tensor`` that computes cell ``index`` (its terms and value)."""
    phase = "forward" if tensor == "out" else tensor
    trace = Trace(conv, phase)
    return trace.step(int(np.ravel_multi_index(index, trace.result_shape)))


def _num(v: float) -> str:
    return f"{v:g}" if v == int(v) or abs(v) >= 1e-3 else f"{v:.3g}"


def _on_zero(term: dict) -> bool:
    """Whether a term reads an inserted zero (padding, or a stride gap): no real cell behind it."""
    return any(key in term and term[real] is None for key, real in _REAL_OF.items() if real in term)


def equation(tensor: str, step: dict, shown: int = 6) -> str:
    """``out[0,0,1,0] = b[0] + x[..] * w[..] + ...`` over a second line with the numbers: the terms on
    real cells (the first ``shown``), and how many more terms there are on real cells and on zeros."""
    name = f"{tensor}[{','.join(map(str, step['at']))}]"
    real = [t for t in step["terms"] if not _on_zero(t)]
    zeros = len(step["terms"]) - len(real)
    labels, values = [], []
    for t in real[:shown]:
        labels.append(term_label(t))
        values.append("".join(f"({_num(t[k])})" for k in t if k.endswith("_value")))
    rest = []
    if len(real) > shown:
        rest.append(f"{len(real) - shown} more terms")
    if zeros:
        rest.append(f"{zeros} terms on inserted zeros")
    more = f" + ... ({', '.join(rest)})" if rest else ""
    bias, bias_value = (f"b[{step['at'][1]}] + ", f"{_num(step['bias'])} + ") if "bias" in step else ("", "")
    return (f"{name} = {bias}{' + '.join(labels) or '0'}{more}\n"
            f"    = {bias_value}{' + '.join(values) or '0'}{' + ...' if rest else ''} = {_num(step['value'])}")


def explain_cell(step: dict, got: float, rtol: float, atol: float) -> str | None:
    """What a wrong value says about the sum that makes it: a missing or doubled term, a missing
    or doubled bias, or the wrong sign; None when it says none of these."""
    expected = step["value"]
    diff = got - expected
    tol = atol + rtol * max(abs(expected), abs(got))
    if expected != 0 and abs(got + expected) <= tol:
        return f"it has the wrong sign: {_num(got)} = -({_num(expected)})"
    if "bias" in step and step["bias"] != 0:
        if abs(diff + step["bias"]) <= tol:
            return f"it lacks the bias b[{step['at'][1]}] = {_num(step['bias'])}"
        if abs(diff - step["bias"]) <= tol:
            return f"it adds the bias b[{step['at'][1]}] = {_num(step['bias'])} twice"
    found = []
    for term in step["terms"]:
        product = term["product"]
        if product == 0:
            continue
        if abs(diff + product) <= tol:
            found.append(f"lacks the term {term_label(term)} = {_num(product)}")
        elif abs(diff - product) <= tol:
            found.append(f"counts the term {term_label(term)} = {_num(product)} twice")
    if not found:
        return None
    # several terms can fit one difference; name two, and say so
    more = f", or {len(found) - 2} more alike" if len(found) > 2 else ""
    return "it " + " or ".join(found[:2]) + more
