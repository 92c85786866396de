"""The JSON Lines of a trace: a ``meta`` event (geometry and the phase's tensors), one ``step``
event per step, an ``end`` event.

One generator serves both ``POST /api/v1/trace/{phase}/stream`` and ``convviz trace``, so the
two print the same bytes.
"""

from __future__ import annotations

from typing import Iterator

from .cache import Solved
from .jsonl import dumps, json_object


def jsonl_chunks(entry: Solved, phase: str, start: int, stop: int) -> Iterator[bytes]:
    """Steps ``start .. stop-1`` of ``phase`` as JSON Lines, one chunk of lines at a time; each
    chunk is computed only when asked for, so a reader that stops stops the work."""
    writer = entry.writer(phase)
    trace = writer.trace
    meta = {"event": "meta", "phase": phase, "total": len(trace), "start": start, "stop": stop,
            "terms_per_step": trace.terms_per_step, "geometry": entry.conv.geo.as_dict()}
    tensors = json_object({name: entry.tensor_json(name) for name in trace.entry.tensors})
    yield dumps(meta)[:-1] + b',"tensors":' + tensors + b"}\n"
    count = 0
    for lines in writer.json_lines(start, stop, event="step"):
        count += len(lines)
        yield ("\n".join(lines) + "\n").encode()
    yield dumps({"event": "end", "count": count}) + b"\n"
