"""What a check found: ``Failure`` (one tensor of one configuration), ``Report`` (all of them),
as text for a terminal, HTML for a notebook, and a dict for ``--json`` and autograders."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

import numpy as np

from .battery import Config
from .diagnose import Diagnosis

PHASE_OF = {"out": "forward", "grad_x": "grad_x", "grad_w": "grad_w", "grad_b": "grad_b"}
URL_VALUES_CAP = 4096  # submitted values put in a link; beyond this the link shows the problem only
JSON_CELLS_CAP = 100  # wrong cells listed in to_dict()


def _pair(pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]},{pair[1]}"


def page_url(cfg: Config, tensor: str, index: tuple | None, got: np.ndarray | None) -> str:
    """The page path + query that shows ``cfg`` with its generated values, phase ``tensor`` at the
    step of cell ``index``, and the learner's ``got`` to check against (when small enough)."""
    (N, C, H, W), (F, _, KH, KW) = cfg.x_shape, cfg.w_shape
    query = {"n": N, "c": C, "h": H, "w": W, "f": F, "kh": KH, "kw": KW, "stride": _pair(cfg.stride),
             "padding": _pair(cfg.padding), "dilation": _pair(cfg.dilation), "values": "integers",
             "seed": cfg.seed, "phase": PHASE_OF[tensor]}
    if index is not None:
        geo = cfg.geometry
        shape = {"out": geo.out_shape, "grad_x": geo.x_shape, "grad_w": geo.w_shape, "grad_b": geo.b_shape}[tensor]
        query["step"] = int(np.ravel_multi_index(index, shape))
        # the drawn slice "n,f,c" that holds the cell (a result's index names some of the three)
        n, f, c = {"out": lambda: (index[0], index[1], 0), "grad_x": lambda: (index[0], 0, index[1]),
                   "grad_w": lambda: (0, index[0], index[1]), "grad_b": lambda: (0, index[0], 0)}[tensor]()
        query["sel"] = f"{n},{f},{c}"
    if got is not None and got.size <= URL_VALUES_CAP:
        query["check"] = json.dumps({tensor: got.tolist()}, separators=(",", ":"))
    return "/?" + urlencode(query)


@dataclass
class Failure:
    """One tensor of one configuration that is not right.

    ``expected`` / ``got`` are the arrays (``got`` None when the code raised or returned no array;
    it may have the wrong shape, and then ``wrong_cells`` is empty); ``wrong_cells`` are full-rank,
    0-based index tuples; ``first_cell`` describes the first wrong cell's step (its equation, and
    what its error says when no mistake is named)."""

    config: dict
    tensor: str
    expected: np.ndarray
    got: np.ndarray | None
    max_abs_error: float | None
    wrong_cells: tuple[tuple[int, ...], ...]
    diagnosis: Diagnosis | None
    url: str
    message: str = ""  # what went wrong, in a line: an exception, a shape, a dtype, or the count of wrong cells
    first_cell: dict | None = None  # {"index", "phase", "step", "expected", "got", "equation", "note"}

    def title(self) -> str:
        return f'{self.tensor} on "{self.config["name"]}" ({self.config["description"]})'

    def as_dict(self, cells_cap: int = JSON_CELLS_CAP) -> dict:
        return {
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.config.items()},
            "tensor": self.tensor, "message": self.message,
            "shape_expected": list(self.expected.shape),
            "shape_got": None if self.got is None else list(self.got.shape),
            "max_abs_error": self.max_abs_error, "wrong_count": len(self.wrong_cells),
            "wrong_cells": [list(c) for c in self.wrong_cells[:cells_cap]],
            "first_cell": self.first_cell,
            "diagnosis": None if self.diagnosis is None else self.diagnosis.as_dict(),
            "url": self.url,
        }


@dataclass
class Report:
    """The outcome of ``convviz.check``: ``ok``, ``failures`` (simplest configuration first),
    what passed and what was skipped (and why)."""

    style: str
    tensors: tuple[str, ...]
    rtol: float
    atol: float
    failures: list[Failure] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)  # configuration names whose every tensor is right
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (configuration name, why)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def diagnoses(self) -> list[Diagnosis]:
        """Each named mistake once, in the order of the failures."""
        seen: dict[str, Diagnosis] = {}
        for f in self.failures:
            if f.diagnosis is not None:
                seen.setdefault(f.diagnosis.code, f.diagnosis)
        return list(seen.values())

    def as_dict(self) -> dict:
        return {"ok": self.ok, "style": self.style, "tensors": list(self.tensors), "rtol": self.rtol,
                "atol": self.atol, "passed": self.passed,
                "skipped": [{"config": name, "reason": why} for name, why in self.skipped],
                "failures": [f.as_dict() for f in self.failures],
                "diagnoses": [d.as_dict() for d in self.diagnoses]}

    # text ----------------------------------------------------------------------------------------
    def _headline(self) -> str:
        configs = len(self.passed) + len({f.config["name"] for f in self.failures})
        if self.ok:
            return f"convviz check: all {len(self.passed)} configurations right ({', '.join(self.tensors)})"
        bad = {f.config["name"] for f in self.failures}
        by_tensor = {}
        for f in self.failures:
            by_tensor[f.tensor] = by_tensor.get(f.tensor, 0) + 1
        counts = ", ".join(f"{t} in {n}" for t, n in by_tensor.items())
        return f"convviz check: {len(bad)} of {configs} configurations fail ({counts})"

    def __str__(self) -> str:
        lines = [self._headline()]
        shown: set[str] = set()
        unreturned = [f for f in self.failures if f.message.startswith("not returned")]
        for f in self.failures:
            key = (f.tensor, f.diagnosis.code if f.diagnosis else None)
            if key in shown or f in unreturned:
                continue  # one failure in full per tensor and mistake; the others are listed under it
            shown.add(key)
            lines += ["", f"FAIL {f.title()}", f"  {f.message}"]
            if f.first_cell:
                fc = f.first_cell
                lines.append(f"  first wrong cell {f.tensor}[{','.join(map(str, fc['index']))}] (step {fc['step']} of "
                             f"phase {fc['phase']}): expected {fc['expected']:g}, got {fc['got']:g}")
                lines += ["    " + line for line in fc["equation"].splitlines()]
                if fc.get("note"):
                    lines.append(f"    {fc['note']}")
            if f.wrong_cells:
                cells = ", ".join("[" + ",".join(map(str, c)) + "]" for c in f.wrong_cells[:8])
                more = f" and {len(f.wrong_cells) - 8} more" if len(f.wrong_cells) > 8 else ""
                lines.append(f"  wrong cells: {cells}{more}")
            if f.diagnosis:
                d = f.diagnosis
                lines.append(f"  diagnosis: {d.code}: {d.title}" + (f" (also: {', '.join(d.also)})" if d.also else ""))
                lines += _wrap(d.explanation, "    ")
            else:
                lines.append("  diagnosis: none of the known mistakes gives these numbers; the cells speak")
            lines.append(f"  see it on the page: {f.url}")
            others = [g for g in self.failures if g is not f and g not in unreturned
                      and (g.tensor, g.diagnosis.code if g.diagnosis else None) == key]
            if others:
                lines.append("  the same on: " + "; ".join(
                    f"{g.config['name']} ({g.message})" for g in others))
        if unreturned:
            tensors = ", ".join(dict.fromkeys(f.tensor for f in unreturned))
            configs = len({f.config["name"] for f in unreturned})
            lines += ["", f"{tensors}: not returned on {configs} configuration{'s' * (configs > 1)} "
                      f"({unreturned[0].message.removeprefix('not returned: ')})"]
        if self.skipped:
            lines += ["", "skipped: " + "; ".join(f"{name} ({why})" for name, why in self.skipped)]
        if self.passed:
            lines += ["", "right: " + ", ".join(self.passed)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        color = "#1a7f37" if self.ok else "#cf222e"
        parts = [f"<div class='convviz-check'><p style='color:{color};font-weight:bold'>{e(self._headline())}</p>"]
        if self.failures:
            parts.append("<table><tr><th>configuration</th><th>tensor</th><th>what is wrong</th>"
                         "<th>diagnosis</th><th></th></tr>")
            for f in self.failures:
                diag = (f"<b>{e(f.diagnosis.code)}</b>: {e(f.diagnosis.title)}<br><small>{e(f.diagnosis.explanation)}</small>"
                        if f.diagnosis else "<i>no known mistake fits</i>")
                detail = e(f.message)
                if f.first_cell:
                    fc = f.first_cell
                    detail += (f"<br>first wrong cell {e(f.tensor)}[{','.join(map(str, fc['index']))}]: "
                               f"expected {fc['expected']:g}, got {fc['got']:g}<pre>{e(fc['equation'])}</pre>")
                    if fc.get("note"):
                        detail += e(fc["note"])
                parts.append(f"<tr><td>{e(f.config['name'])}<br><small>{e(f.config['description'])}</small></td>"
                             f"<td>{e(f.tensor)}</td><td>{detail}</td><td>{diag}</td>"
                             f"<td><a href='{e(f.url)}' target='_blank'>page</a></td></tr>")
            parts.append("</table>")
        if self.skipped:
            parts.append("<p>skipped: " + e("; ".join(f"{n} ({w})" for n, w in self.skipped)) + "</p>")
        parts.append("</div>")
        return "".join(parts)


def _wrap(text: str, indent: str, width: int = 96) -> list[str]:
    import textwrap
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent)
