"""The JSON Lines of a trace: a ``meta`` event (geometry and the phase's tensors), one ``step``
event per step, an ``end`` event.

One generator serves both ``POST /api/v1/trace/{phase}/stream`` and ``convviz trace``, so the
two print the same bytes.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ..trace import PHASES
from .cache import Solved
from .jsonl import dumps, json_object


# The first chunk of steps is small, so a reader (the page's player) gets the first step as soon
# as the meta event; the rest come in blocks of 32k terms (about 4 MB of text).
FIRST_TERMS = 2048


def jsonl_chunks(entry: Solved, phase: str, start: int, stop: int, *, meta: str = "tensors",
                 fields: str | None = None) -> Iterator[bytes]:
    """Steps ``start .. stop-1`` of ``phase`` as JSON Lines, one chunk of lines at a time; each
    chunk is computed only when asked for, so a reader that stops stops the work.

    ``phase`` may be any phase of the registry: one that plays another's steps (im2col plays
    forward's) gets those, its meta event saying ``"steps_of"`` and carrying its own tensors.
    ``meta``: "tensors" (the phase's tensors in full) or "shapes" (only their shapes; the full
    tensors of the tutorial's layer are megabytes). ``fields``: the step fields to write
    (comma-separated, ``jsonl.select_fields``; None: all)."""
    shown = PHASES[phase]
    entry.require_phase(phase)
    writer = entry.writer(shown.plays, fields)
    trace = writer.trace
    head = {"event": "meta", "phase": phase, "total": len(trace), "start": start, "stop": stop,
            "terms_per_step": trace.terms_per_step, "geometry": entry.conv.geo.as_dict()}
    if shown.plays != phase:
        head["steps_of"] = shown.plays
    if fields:
        head["fields"] = writer.fields.spec()  # as understood: canonical order, "terms" spelled out
    if meta == "shapes":
        tensors = dumps({name: list(np.shape(getattr(entry.conv, name))) for name in shown.tensors})
    else:
        tensors = json_object({name: entry.tensor_json(name) for name in shown.tensors})
    yield dumps(head)[:-1] + b',"tensors":' + tensors + b"}\n"
    yield from writer.chunks(start, stop, event="step", first_terms=FIRST_TERMS)
    yield dumps({"event": "end", "count": stop - start}) + b"\n"  # every step was written
