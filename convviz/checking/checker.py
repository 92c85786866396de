"""``check``: run a learner's forward / backward on the battery and find the first wrong number;
``check_arrays``: the same judgement on arrays already computed (the REST endpoint's, which never
runs code)."""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from ..trace import Convolution
from .battery import BATTERY, Config
from .diagnose import Diagnosis, Predictions, cell_step, diagnose, equation, explain_cell, output_size_diagnosis
from .mistakes import Problem
from .report import Failure, Report, page_url
from .runner import GRADS, STYLES, Outcome

TENSORS = ("out", *GRADS)


def _conv(pb: Problem) -> Convolution:
    return Convolution.from_arrays(pb.x, pb.w, pb.b, pb.grad_out, **pb.hyper)


def compare(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float):
    """``(wrong_cells, max_abs_error)`` of two arrays of one shape; NaN and inf cells are wrong."""
    with np.errstate(invalid="ignore", over="ignore"):
        wrong = ~np.isclose(got, expected, rtol=rtol, atol=atol)
        error = np.abs(got - expected)
    wrong_cells = tuple(tuple(int(i) for i in idx) for idx in np.argwhere(wrong))
    max_abs = float(np.nanmax(error)) if error.size and not np.isnan(error).all() else 0.0
    if np.isnan(error).any():
        max_abs = float("nan")
    return wrong_cells, max_abs


def first_cell(pb: Problem, tensor: str, index: tuple, got: float, rtol: float, atol: float, *,
               explain: bool) -> dict:
    """The step that computes cell ``index`` of ``tensor``: its equation with numbers, the learner's
    value, and (``explain``) what the difference says about the sum."""
    step = cell_step(_conv(pb), tensor, index)
    phase = "forward" if tensor == "out" else tensor
    return {"index": list(index), "phase": phase, "step": step["index"], "expected": step["value"], "got": got,
            "difference": got - step["value"], "equation": equation(tensor, step),
            "note": explain_cell(step, got, rtol, atol) if explain else None}


def judge(tensor: str, outcome: Outcome, expected: np.ndarray, rtol: float, atol: float):
    """``(message, wrong_cells, max_abs_error)`` for a wrong result, None for a right one."""
    if outcome.array is None:
        return outcome.error or "no array came back", (), None
    got = outcome.array
    if got.shape != expected.shape:
        return f"{tensor} has shape {got.shape}, expected {expected.shape}", (), None
    wrong_cells, max_abs = compare(got, expected, rtol, atol)
    if not wrong_cells:
        return (outcome.error, (), max_abs) if outcome.error else None
    message = f"{len(wrong_cells)} of {got.size} cells wrong (max abs error {max_abs:g})"
    return (message + "; " + outcome.error if outcome.error else message), wrong_cells, max_abs


def _skip_reason(cfg: Config, style, forward, backward, per_axis: bool) -> str | None:
    if cfg.per_axis and not (per_axis and style.takes_pairs):
        return ("per-axis hyper-parameters; the cs231n style takes one stride and one pad" if not style.takes_pairs
                else "per-axis hyper-parameters; pass per_axis=True to run it (your functions then get pairs)")
    if cfg.dilated:
        for name, fn in (("forward", forward), ("backward", backward)):
            if fn is not None and not style.takes_dilation(fn):
                return f"dilation > 1; {name} takes no dilation= argument"
    return None


def check(forward: Callable | None = None, backward: Callable | None = None, *, style: str = "plain",
          per_axis: bool = False, rtol: float = 1e-6, atol: float = 1e-9,
          configs: Iterable[Config] | None = None) -> Report:
    """Run ``forward`` and/or ``backward`` on the battery (simplest first) and report every
    tensor that is wrong, naming the known mistake behind it where the numbers prove it.

    ``style="plain"``: ``forward(x, w, b, stride=, padding=[, dilation=]) -> out`` (N, F, Ho, Wo) and
    ``backward(x, w, grad_out, stride=, padding=[, dilation=]) -> (grad_x, grad_w, grad_b)`` with
    x (N, C, H, W), w (F, C, KH, KW), b (F,), grad_out (N, F, Ho, Wo); stride / padding are ints
    unless ``per_axis=True`` (then pairs, on every configuration). ``style="cs231n"``:
    ``forward(x, w, b, conv_param) -> (out, cache)``, ``backward(dout, cache) -> (dx, dw, db)``.
    A value is right when ``|got - expected| <= atol + rtol * |expected|``.
    """
    if forward is None and backward is None:
        raise ValueError("give forward=, backward= or both: the functions to check")
    for name, fn in (("forward", forward), ("backward", backward)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be a function, got {type(fn).__name__}")
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(map(repr, STYLES))}, got {style!r}")
    if style == "cs231n" and backward is not None and forward is None:
        raise ValueError("the cs231n style's backward takes the forward's cache: give forward= too")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(value, (int, float)) and value >= 0 and np.isfinite(value)):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    runner = STYLES[style]
    tensors = (("out",) if forward is not None else ()) + (GRADS if backward is not None else ())
    report = Report(style, tensors, rtol, atol)

    configs = list(BATTERY if configs is None else configs)
    problems = [cfg.problem() for cfg in configs]
    pred = Predictions(problems)
    ran: dict[str, dict[int, Outcome]] = {t: {} for t in tensors}
    for i, (cfg, pb) in enumerate(zip(configs, problems)):
        why = _skip_reason(cfg, runner, forward, backward, per_axis)
        if why:
            report.skipped.append((cfg.name, why))
            continue
        for tensor, outcome in runner.run(forward, backward, cfg, pb, pairs=per_axis).items():
            ran[tensor][i] = outcome

    for i, (cfg, pb) in enumerate(zip(configs, problems)):
        if i not in ran[tensors[0]]:
            continue
        failed = False
        for tensor in tensors:
            outcome = ran[tensor][i]
            expected = pred.right(tensor, i)
            verdict = judge(tensor, outcome, expected, rtol, atol)
            if verdict is None:
                continue
            failed = True
            message, wrong_cells, max_abs = verdict
            diagnosis: Diagnosis | None = None
            if tensor == "out" and outcome.array is not None:
                diagnosis = output_size_diagnosis(outcome.array.shape, pb)
            if diagnosis is None:
                diagnosis = diagnose(tensor, ran[tensor], i, pred, rtol, atol)
            cell = None
            if wrong_cells:
                index = wrong_cells[0]
                cell = first_cell(pb, tensor, index, float(outcome.array[index]), rtol, atol,
                                  explain=diagnosis is None)
            config = {**cfg.as_dict(), "description": cfg.describe()}
            report.failures.append(Failure(
                config, tensor, expected, outcome.array, max_abs, wrong_cells, diagnosis,
                page_url(cfg, tensor, wrong_cells[0] if wrong_cells else None, outcome.array),
                message, cell))
        if not failed:
            report.passed.append(cfg.name)
    return report


def check_arrays(pb: Problem, submitted: dict[str, np.ndarray], *, rtol: float = 1e-6, atol: float = 1e-9,
                 cells_cap: int = 100, right: dict[str, np.ndarray] | None = None) -> dict:
    """Judge arrays already computed for one problem (``submitted``: tensor name -> array;
    ``right``: the right answers when already at hand).

    -> ``{"ok", "tensors": {name: {"ok", "shape_expected", "shape_got", "max_abs_error",
    "wrong_count", "wrong", "first", "diagnosis"}}, "diagnosis"}``; judged on this problem only,
    ``first`` is the first wrong cell's step and ``diagnosis`` the first tensor's named mistake.
    """
    pred = Predictions([pb], {0: right} if right else None)
    # Groups, a border of copies, four unequal sides or a transposed convolution: the cells are
    # judged, but no mistake is named and no step is shown (the battery's mistakes and the phases
    # forward / grad_x / grad_w / grad_b are those of the plain convolution).
    plain = getattr(pb.geo, "plain", False)
    tensors, diagnosis = {}, None
    for tensor in TENSORS:
        if tensor not in submitted:
            continue
        got = np.asarray(submitted[tensor], dtype=np.float64)
        expected = pred.right(tensor, 0)
        verdict = judge(tensor, Outcome(array=got), expected, rtol, atol)
        entry = {"ok": verdict is None, "shape_expected": list(expected.shape), "shape_got": list(got.shape),
                 "max_abs_error": None, "wrong_count": 0, "wrong": [], "first": None, "diagnosis": None}
        if got.shape == expected.shape:
            wrong_cells, max_abs = compare(got, expected, rtol, atol)
            entry.update(max_abs_error=max_abs, wrong_count=len(wrong_cells),
                         wrong=[list(c) for c in wrong_cells[:cells_cap]])
        if verdict is not None:
            found = None
            if plain:  # the mistakes are models of the tutorial's convolution: named for it alone
                found = output_size_diagnosis(got.shape, pb) if tensor == "out" else None
                found = found or diagnose(tensor, {0: Outcome(array=got)}, 0, pred, rtol, atol)
            if entry["wrong"] and plain:
                index = tuple(entry["wrong"][0])
                entry["first"] = first_cell(pb, tensor, index, float(got[index]), rtol, atol, explain=found is None)
            entry["diagnosis"] = None if found is None else found.as_dict()
            diagnosis = diagnosis or entry["diagnosis"]
        tensors[tensor] = entry
    return {"ok": all(e["ok"] for e in tensors.values()), "tensors": tensors, "diagnosis": diagnosis}
