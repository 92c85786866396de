"""Step traces as JSON text, fast enough to stream millions of terms.

A dict per term and ``json.dumps`` cost several microseconds a term; the tutorial's layer has
nine million. But a term is a few tensor cells and their product, and the text a cell
contributes (``"x_pad":[0,3,1,2],"x":[0,3,0,1],"x_value":0.5,``) is the same in every term
that reads it. So each cell's fragment is written once, on first use, from the fields its cell
source reports (``convviz.trace.cells``: the same fields ``Trace.records`` gives as dicts), and
a term is ``{`` + its fragments + ``"product":`` + repr(product) + ``}``. Floats are written
with ``repr`` (shortest round-trip form): ``json.loads`` gives back exactly the engine's
numbers. Values are finite (``Convolution`` refuses overflow), so no ``NaN`` reaches the text.
"""

from __future__ import annotations

import json
from typing import Iterator

import numpy as np

from ..trace import Block, CellSource, Trace


def dumps(obj) -> bytes:
    """Compact JSON, refusing NaN and infinity."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def json_object(parts: dict[str, bytes]) -> bytes:
    """``{"name": <JSON text>, ...}`` from texts already written (a problem's tensors are
    written once and spliced into every answer that shows them)."""
    return b"{" + b",".join(b'"%s":%s' % (name.encode(), text) for name, text in parts.items()) + b"}"


class Fragments:
    """The JSON fragment of every cell of one cell source, rendered on first use.

    A term's text is the fragments of its cells in order, then ``repr(product) + "}"``: the
    fragment of the term's first source starts with ``{`` and that of its last ends with
    ``"product":``.
    """

    def __init__(self, trace: Trace, source: CellSource, *, first: bool, last: bool):
        self.conv, self.source = trace.conv, source
        self.prefix, self.suffix = ("{" if first else ""), ('"product":' if last else "")
        size = int(np.prod(source.shape(trace.conv)))
        self.cache = np.full(size, None, dtype=object)
        self.rendered = np.zeros(size, dtype=bool)

    def take(self, flat: np.ndarray) -> list[str]:
        """Fragments for the cells ``flat`` (any shape), in ``flat.ravel()`` order."""
        flat = flat.ravel()
        missing = ~self.rendered[flat]
        if missing.any():
            cells = np.unique(flat[missing])
            self.cache[cells] = [self.prefix + text + self.suffix for text in self._render(cells)]
            self.rendered[cells] = True
        return self.cache[flat].tolist()

    def _render(self, cells: np.ndarray) -> list[str]:
        columns = []
        for f in self.source.describe(self.conv, cells):
            if f.value is not None:
                columns.append(['"%s":%r,' % (f.key, v) for v in f.value.tolist()])
            else:
                fmt = '"%s":[' % f.key + ",".join(["%d"] * f.index.shape[1]) + "],"
                null = '"%s":null,' % f.key
                rows = f.index.tolist()
                valid = [True] * len(rows) if f.valid is None else f.valid.tolist()
                columns.append([fmt % tuple(row) if ok else null for row, ok in zip(rows, valid)])
        return ["".join(parts) for parts in zip(*columns)]


def _float_texts(values: np.ndarray) -> list[str]:
    """``repr`` of every float, in ``values.ravel()`` order.

    ``repr`` (about 1 us a float) is most of a trace's cost. Integer-valued problems repeat a
    handful of products millions of times, so when a sample of the block repeats itself each
    distinct value is written once; otherwise every value is written directly. Distinct means
    distinct bit patterns: comparing floats would merge ``-0.0`` with ``0.0``.
    """
    flat = np.ascontiguousarray(values, dtype=np.float64).ravel()
    bits = flat.view(np.int64)
    sample = bits[:_SAMPLE]
    if len(flat) > _SAMPLE and len(np.unique(sample)) > _SAMPLE // 4:
        return list(map(repr, flat.tolist()))
    uniq, inverse = np.unique(bits, return_inverse=True)
    texts = np.array(list(map(repr, uniq.view(np.float64).tolist())), dtype=object)
    return texts[inverse].tolist()


_SAMPLE = 2048


class StepWriter:
    """Writes a trace's blocks as JSON lines; keeps the fragment caches between blocks."""

    def __init__(self, trace: Trace):
        self.trace = trace
        last = len(trace.sources) - 1
        self.fragments = [Fragments(trace, source, first=k == 0, last=k == last)
                          for k, source in enumerate(trace.sources)]

    def json_lines(self, start: int, stop: int, event: str | None = None,
                   max_terms: int = 1 << 15) -> Iterator[list[str]]:
        """Steps ``start .. stop-1`` as JSON text, one list of lines (no newlines) per block."""
        for blk in self.trace.blocks(start, stop, max_terms):
            yield self.lines(blk, event)

    def lines(self, blk: Block, event: str | None = None) -> list[str]:
        K, T = blk.product.shape
        if K == 0:
            return []
        # One list of strings for the whole block, filled column by column with slice
        # assignments (C speed): per term the fragment of each cell, the product and a separator.
        # A step is then one join of its slice; its head rides on its first fragment.
        cols = [frag.take(cells) for frag, cells in zip(self.fragments, blk.cells)] + [_float_texts(blk.product)]
        width = len(cols) + 1
        n = T * width  # strings per step
        parts = [","] * (K * n)
        for i, col in enumerate(cols):
            parts[i::width] = col
        parts[width - 1::width] = ["},"] * (K * T)
        parts[n - 1::n] = ["}]}"] * K
        for r, head in enumerate(self._heads(blk, event)):
            parts[r * n] = head + parts[r * n]
        return ["".join(parts[r * n:(r + 1) * n]) for r in range(K)]

    @staticmethod
    def _heads(blk: Block, event: str | None) -> list[str]:
        """``{"event":..,"index":..,"at":[..],"value":..,["bias":..,]"terms":[`` of each step."""
        head = '{"event":"%s",' % event if event else "{"
        head += '"index":%d,"at":[' + ",".join(["%d"] * blk.at.shape[1]) + '],"value":%r,'
        if blk.bias is None:
            rows = [(k, *at, v) for k, at, v in zip(blk.index.tolist(), blk.at.tolist(), blk.value.tolist())]
        else:
            head += '"bias":%r,'
            rows = [(k, *at, v, b) for k, at, v, b in
                    zip(blk.index.tolist(), blk.at.tolist(), blk.value.tolist(), blk.bias.tolist())]
        head += '"terms":['
        return [head % row for row in rows]

