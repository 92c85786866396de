"""Solved problems kept for the next request that asks the same: a class opening the same
preset, a page fetching window after window of one trace, an autograder in a loop.

A problem is solved once (engine, artifacts), each of its tensors is written as JSON once, and
each phase keeps one trace writer whose per-cell text fragments then serve every later page
and stream. Entries are shared between threads, so their arrays are made read-only. The cache is
bounded by an estimate of the bytes its entries hold (``cache_bytes``; 0 turns it off).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from ..trace import PHASES, Convolution, Trace
from ..trace.phases import check_applies
from ..trace.convolution import CHECKED_RESULTS
from .errors import ProblemError
from .jsonl import StepWriter, array_json, select_fields
from .model import ProblemIn

# Rough bytes an entry holds per element of its main tensors: the float64 array, its JSON
# text (about 20 bytes a number) and, for traces, a text fragment per cell (about 100 bytes).
BYTES_PER_ELEMENT = 8 + 20 + 100


#: field selections (``fields=``) whose writers a solved problem keeps
MAX_SELECTIONS = 4

#: the problem fields that carry arrays; every other field is a setting
ARRAY_FIELDS = ("x", "w", "b", "grad_out")


def problem_key(problem: ProblemIn, conv: Convolution | None = None) -> str:
    """The cache key of a problem: every field of the model (so a field added later cannot
    make two problems share an answer), with explicit arrays replaced by the bytes of the arrays
    as validated (``conv``: then 2-D and 4-D forms of one array, or 2 and 2.0, share a key)."""
    settings = problem.model_dump_json(exclude=set(ARRAY_FIELDS) if conv is not None else None)
    digest = hashlib.sha256(settings.encode())
    if conv is None:
        return "fields:" + digest.hexdigest()
    for name in ARRAY_FIELDS:
        arr = getattr(conv, name)
        digest.update(b"|%s%s|" % (name.encode(), repr(arr.shape).encode()))
        digest.update(arr.tobytes())
    return "arrays:" + digest.hexdigest()


class Solved:
    """One solved problem with its JSON texts and traces, made as they are first asked for."""

    def __init__(self, conv: Convolution):
        for name in ("x", "w", "b", "grad_out"):
            getattr(conv, name).flags.writeable = False
        self.conv = conv
        # Results are computed when first needed (a forward trace never waits for the backward
        # pass), each checked for overflow then: name -> overflows float64 (README "Overflow").
        self._overflows: dict[str, bool] = {}
        self._json: dict[str, bytes] = {}
        self._writers: dict[str, StepWriter] = {}  # one per phase, every field
        self._selected: OrderedDict[str, StepWriter] = OrderedDict()  # a few selections of fields
        self._lock = threading.Lock()
        g = conv.geo
        elements = 2 * g.N * g.C * g.Hp * g.Wp + 2 * g.N * g.F * g.Ho * g.Wo + g.N * g.F * g.Hg * g.Wg + 3 * g.F * g.C * g.KH * g.KW
        self.estimated_bytes = BYTES_PER_ELEMENT * elements

    def overflowing(self, names) -> list[str]:
        """Which of ``names`` are results that overflow float64, computing those not yet computed."""
        for name in names:
            if name in self.conv.results and name not in self._overflows:
                self._overflows[name] = bool(self.conv.overflowing((name,)))
                if not self._overflows[name]:
                    getattr(self.conv, name).flags.writeable = False
        return [name for name in names if self._overflows.get(name)]

    @property
    def overflow(self) -> tuple[str, ...]:
        """The results that overflow float64: named, and refused only where needed (computes them all)."""
        return tuple(self.overflowing(self.conv.results))

    def require(self, names, what: str) -> None:
        """Raise ``ProblemError`` (overflow) if any tensor of ``names`` overflowed: ``what`` (e.g.
        "the grad_w phase") cannot be shown; the message names what is finite and served."""
        bad = self.overflowing(names)
        if not bad:
            return
        finite = [r for r in self.conv.results if r not in self.overflow]
        served = [p for p, e in PHASES.items() if e.applies(self.conv.geo) and not set(_needs(p)) & set(self.overflow)]
        raise ProblemError("overflow", (
            f"{' and '.join(bad)} {'overflows' if len(bad) == 1 else 'overflow'} float64 (largest finite value "
            f"1.8e+308) for these inputs, so {what} cannot be shown; "
            + (f"{', '.join(finite)} {'is' if len(finite) == 1 else 'are'} finite (phases served: {', '.join(served)})"
               if finite else "no result is finite") + "; use smaller values"))

    def require_phase(self, phase: str) -> None:
        """Refuse ``phase`` (a trace, a stream, a view) if it does not show this kind of problem
        (issue 9: groups, padding modes, transposed) or a result it shows overflowed."""
        try:
            check_applies(PHASES[phase], self.conv.geo)
        except ValueError as exc:
            raise ProblemError("invalid_query", str(exc), param="phase") from None
        self.require(_needs(phase), f"the {phase} phase")

    def tensor_json(self, name: str) -> bytes:
        """The tensor ``name`` of the problem as JSON (nested arrays), written once."""
        self.require([name], name)
        text = self._json.get(name)
        if text is None:
            text = self._json[name] = array_json(getattr(self.conv, name))
        return text

    def writer(self, phase: str, fields: str | None = None) -> StepWriter:
        """The JSON writer of ``phase``'s trace (of the steps' ``fields``, a comma-separated
        selection; None: all), one per phase and selection, so its per-cell text fragments serve
        every later page and stream of this problem. Unknown fields: ``ProblemError``."""
        self.require_phase(phase)
        with self._lock:
            if phase not in self._writers:
                self._writers[phase] = StepWriter(Trace(self.conv, phase))
            writer = self._writers[phase]
            if not fields:
                return writer
            selected = select_fields(writer.trace, fields)
            key = f"{phase}?fields={selected.spec()}"
            if key not in self._selected:
                # kept for the next request, a few at most: each holds its own per-cell texts
                self._selected[key] = StepWriter(writer.trace, selected)
                while len(self._selected) > MAX_SELECTIONS:
                    self._selected.popitem(last=False)
            self._selected.move_to_end(key)
            return self._selected[key]

    def trace(self, phase: str) -> Trace:
        return self.writer(phase).trace


def _needs(phase: str) -> tuple[str, ...]:
    """The results a phase shows: its result tensor and the results among its tensors."""
    entry = PHASES[phase]
    return tuple(r for r in CHECKED_RESULTS if r == entry.result or r in entry.tensors)


class SolvedCache:
    """A thread-safe LRU of ``Solved`` problems keyed by ``problem_key``."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Solved] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Solved | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: Solved) -> None:
        if entry.estimated_bytes > self.max_bytes // 2:
            return  # one huge problem must not evict everything else
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = entry
            self._bytes += entry.estimated_bytes
            while self._bytes > self.max_bytes and self._entries:
                _, old = self._entries.popitem(last=False)
                self._bytes -= old.estimated_bytes
