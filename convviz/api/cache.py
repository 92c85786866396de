"""Solved problems kept for the next request that asks the same: a class opening the same
preset, a page fetching window after window of one trace, an autograder in a loop.

A problem is solved once (engine, artifacts), each of its tensors is written as JSON once, and
each phase keeps one ``Trace`` whose per-cell text fragments then serve every later page and
stream. Entries are shared between threads, so their arrays are made read-only. The cache is
bounded by an estimate of the bytes its entries hold (``cache_bytes``; 0 turns it off).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict

from ..trace import Convolution, Trace

# Rough bytes an entry holds per element of its main tensors: the float64 array, its JSON
# text (about 20 bytes a number) and, for traces, a text fragment per cell (about 100 bytes).
BYTES_PER_ELEMENT = 8 + 20 + 100


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


class Solved:
    """One solved problem with its JSON texts and traces, made as they are first asked for."""

    def __init__(self, conv: Convolution):
        conv.check_finite()  # computes every result once
        for name in ("x", "w", "b", "grad_out", "out", "grad_x", "grad_w", "grad_b"):
            getattr(conv, name).flags.writeable = False
        self.conv = conv
        self._json: dict[str, bytes] = {}
        self._traces: dict[str, Trace] = {}
        self._lock = threading.Lock()
        g = conv.geo
        elements = 2 * g.N * g.C * g.Hp * g.Wp + 2 * g.N * g.F * g.Ho * g.Wo + g.N * g.F * g.Hg * g.Wg + 3 * g.F * g.C * g.KH * g.KW
        self.estimated_bytes = BYTES_PER_ELEMENT * elements

    def tensor_json(self, name: str) -> bytes:
        """The tensor ``name`` of the problem as JSON (nested arrays), written once."""
        text = self._json.get(name)
        if text is None:
            text = self._json[name] = dumps(getattr(self.conv, name).tolist())
        return text

    def trace(self, phase: str) -> Trace:
        with self._lock:
            if phase not in self._traces:
                self._traces[phase] = Trace(self.conv, phase)
            return self._traces[phase]


class SolvedCache:
    """A thread-safe LRU of ``Solved`` problems keyed by the problem's canonical JSON."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Solved] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def key_of_fields(problem_json: str) -> str:
        """Key of a generated problem: its fields (shapes, values, seed, stride, ...)."""
        return "fields:" + hashlib.sha256(problem_json.encode()).hexdigest()

    @staticmethod
    def key_of_arrays(conv: Convolution) -> str:
        """Key of a validated problem: its arrays' bytes and its hyper-parameters."""
        digest = hashlib.sha256(repr((conv.geo.stride, conv.geo.padding, conv.geo.dilation)).encode())
        for arr in (conv.x, conv.w, conv.b, conv.grad_out):
            digest.update(repr(arr.shape).encode())
            digest.update(arr.tobytes())
        return "arrays:" + digest.hexdigest()

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
