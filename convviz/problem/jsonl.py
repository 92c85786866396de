"""Step traces as JSON text, fast enough to stream millions of terms; and the ``fields``
selection of what a step carries.

A dict per term and ``json.dumps`` cost several microseconds a term; the tutorial's layer has
nine million. But a term is a few tensor cells and their product, and the text a cell
contributes (``"x_pad":[0,3,1,2],"x":[0,3,0,1],"x_value":0.5``) is the same in every term
that reads it. So each cell's fragment is written once, on first use, from the fields its cell
source reports (``convviz.trace.cells``: the same fields ``Trace.records`` gives as dicts), and
a term is ``{`` + its fragments + ``"product":`` + the product + ``}``, joined as bytes.

Floats are written by orjson, a whole block of products in one call (``repr`` is about 1 us a
float, most of a trace's cost before): its text is the shortest that reads back as the same
float64, bit for bit (subnormals, -0.0 and 1e308 included; ``tests/test_fields.py``), and
differs from ``repr``'s only in how some exponents are spelled (``1e-5`` for ``1e-05``,
``0.00002`` for ``2e-05``). Values are finite (overflowing results are refused before a trace
is written), so no NaN reaches the text.

``fields`` (``select_fields``): a client that needs only some fields of a step names them, as
in the common sparse-fieldset convention: ``index``, ``at``, ``value``, ``bias`` (forward),
``terms`` (every term field), or ``terms.<field>`` (``terms.x``, ``terms.product``, ...). Only
those are written, and the cells of a source none of whose fields is asked for are not looked at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import orjson

from ..trace import Block, CellSource, Trace
from .errors import ProblemError


def dumps(obj) -> bytes:
    """Compact JSON, refusing NaN and infinity."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def array_json(arr: np.ndarray) -> bytes:
    """An array as nested JSON arrays (NumPy order), the text ``dumps(arr.tolist())`` parses
    to, written at C speed. Refuses NaN and infinity."""
    arr = np.ascontiguousarray(arr)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError("cannot write NaN or infinity as JSON")
    return orjson.dumps(arr, option=orjson.OPT_SERIALIZE_NUMPY)


def float_texts(values: np.ndarray) -> list[bytes]:
    """The JSON text of every float of ``values`` (finite), in ``values.ravel()`` order."""
    flat = np.ascontiguousarray(values, dtype=np.float64).ravel()
    if flat.size == 0:
        return []
    return orjson.dumps(flat, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")


def json_object(parts: dict[str, bytes]) -> bytes:
    """``{"name": <JSON text>, ...}`` from texts already written (a problem's tensors are
    written once and spliced into every answer that shows them)."""
    return b"{" + b",".join(b'"%s":%s' % (name.encode(), text) for name, text in parts.items()) + b"}"


# ------------------------------------------------------------------------------------------
# the fields a step carries
# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fields:
    """The fields of a step to write, each in its canonical order: ``step`` among ``index``,
    ``at``, ``value``, ``bias``, ``terms``; ``terms`` the term fields (empty without terms)."""

    step: tuple[str, ...]
    terms: tuple[str, ...]

    def spec(self) -> str:
        """The ``fields`` text that selects these (a cache key)."""
        return ",".join([f for f in self.step if f != "terms"] + ["terms." + t for t in self.terms])


def term_fields(trace: Trace) -> tuple[str, ...]:
    """The fields of a term of ``trace``, in the order they are written."""
    keys = [f.key for source in trace.sources for f in source.describe(trace.conv, np.zeros(0, dtype=np.int64))]
    return tuple(keys) + ("product",)


def step_fields(trace: Trace) -> tuple[str, ...]:
    return ("index", "at", "value") + (("bias",) if trace.entry.bias else ()) + ("terms",)


def all_fields(trace: Trace) -> Fields:
    return Fields(step_fields(trace), term_fields(trace))


def select_fields(trace: Trace, spec: str | None) -> Fields:
    """The ``fields`` query (comma-separated; None or empty: every field) as ``Fields``.
    Raises ``ProblemError`` (invalid_query, param ``fields``) naming the fields allowed."""
    if spec is None or not spec.strip():
        return all_fields(trace)
    step_allowed, term_allowed = step_fields(trace), term_fields(trace)
    names = [name.strip() for name in spec.split(",")]
    allowed = [f for f in step_allowed] + ["terms." + t for t in term_allowed]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        shown = ", ".join(repr(name) for name in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ProblemError("invalid_query", (
            f"fields: unknown field{'s' if len(unknown) > 1 else ''} {shown} for a {trace.phase} step; allowed: "
            f"{', '.join(allowed)} (comma-separated; 'terms' is every term field)"), param="fields")
    terms = set(term_allowed) if "terms" in names else {n[len("terms."):] for n in names if n.startswith("terms.")}
    step = [f for f in step_allowed if f in names or (f == "terms" and terms)]
    return Fields(tuple(step), tuple(t for t in term_allowed if t in terms))


# ------------------------------------------------------------------------------------------
# the writer
# ------------------------------------------------------------------------------------------

class Fragments:
    """The JSON text of every cell of one cell source (the fields ``keys`` of it), written
    on first use, between ``lead`` (``},{`` or ``,``) and ``tail`` (``,"product":`` or nothing)."""

    def __init__(self, trace: Trace, source: CellSource, keys: tuple[str, ...], lead: bytes, tail: bytes = b""):
        self.conv, self.source, self.keys, self.lead, self.tail = trace.conv, source, keys, lead, tail
        size = int(np.prod(source.shape(trace.conv)))
        self.cache = np.full(size, None, dtype=object)
        self.rendered = np.zeros(size, dtype=bool)

    def take(self, flat: np.ndarray) -> list[bytes]:
        """Fragments for the cells ``flat`` (any shape), in ``flat.ravel()`` order."""
        flat = flat.ravel()
        missing = ~self.rendered[flat]
        if missing.any():
            cells = np.unique(flat[missing])
            self.cache[cells] = self._render(cells)
            self.rendered[cells] = True
        return self.cache[flat].tolist()

    def _render(self, cells: np.ndarray) -> list[bytes]:
        columns = []
        for f in self.source.describe(self.conv, cells):
            if f.key not in self.keys:
                continue
            key = b'"%s":' % f.key.encode()
            if f.value is not None:
                columns.append([key + text for text in float_texts(f.value)])
            else:
                fmt = key + b"[" + b",".join([b"%d"] * f.index.shape[1]) + b"]"
                null = key + b"null"
                rows = f.index.tolist()
                valid = [True] * len(rows) if f.valid is None else f.valid.tolist()
                columns.append([fmt % tuple(row) if ok else null for row, ok in zip(rows, valid)])
        return [self.lead + b",".join(parts) + self.tail for parts in zip(*columns)]


class StepWriter:
    """Writes a trace's steps as JSON (all fields, or the ``fields`` selected); keeps the
    per-cell fragments between blocks and requests."""

    def __init__(self, trace: Trace, fields: Fields | None = None):
        self.trace = trace
        self.fields = fields or all_fields(trace)
        chosen = set(self.fields.terms)
        self.product = "product" in chosen
        keys = [tuple(f.key for f in source.describe(trace.conv, np.zeros(0, dtype=np.int64)) if f.key in chosen)
                for source in trace.sources]
        used = [k for k, ks in enumerate(keys) if ks]
        # (source number, its fragments); the last one ends with the product's key
        self.fragments = [(k, Fragments(trace, trace.sources[k], keys[k], b"," if k != used[0] else b"},{",
                                        b',"product":' if self.product and k == used[-1] else b""))
                          for k in used]
        self.product_lead = None if self.fragments else b'},{"product":'  # a term of its product only

    def json_lines(self, start: int, stop: int, event: str | None = None,
                   max_terms: int = 1 << 15) -> Iterator[list[bytes]]:
        """Steps ``start .. stop-1`` as JSON texts, one list of lines (no newlines) per block."""
        for text in self.chunks(start, stop, event, b"\n", max_terms):
            yield text.split(b"\n")[:-1]

    def chunks(self, start: int, stop: int, event: str | None = None, sep: bytes = b"\n",
               max_terms: int = 1 << 15, first_terms: int | None = None) -> Iterator[bytes]:
        """Steps ``start .. stop-1`` as JSON texts, each followed by ``sep``, one bytes per block
        of about ``max_terms`` terms (computed when asked for); the first block of about
        ``first_terms`` if given, so that a stream's first step goes out at once."""
        if first_terms and start < stop:
            first = min(stop, start + max(1, first_terms // self.trace.terms_per_step))
            yield from self.chunks(start, first, event, sep, max_terms)
            start = first
        if not self.fields.terms:  # no term is written: the steps' heads only
            per = max(1, max_terms // 8)
            for lo in range(start, stop, per):
                yield self._heads_only(np.arange(lo, min(stop, lo + per)), event, sep)
            return
        for blk in self.trace.blocks(start, stop, max_terms):
            yield self.block(blk, event, sep)

    def lines(self, blk: Block, event: str | None = None) -> list[bytes]:
        return self.block(blk, event, b"\n").split(b"\n")[:-1]

    def block(self, blk: Block, event: str | None = None, sep: bytes = b"\n") -> bytes:
        K, T = blk.product.shape
        if K == 0:
            return b""
        # One list of pieces for the whole block, filled column by column with slice
        # assignments (C speed), joined once. A term is its fragments and its product; the
        # first fragment's lead "},{" closes the term before (a step's first term drops the
        # "}," and takes the step's head instead), so a term is 2-3 pieces.
        cols = [frag.take(blk.cells[k]) for k, frag in self.fragments]
        if self.product:
            if self.product_lead:
                cols.insert(0, [self.product_lead] * (K * T))
            cols.append(float_texts(blk.product))
        width = len(cols)
        n = T * width  # pieces per step
        parts = [b""] * (K * n)
        for i, col in enumerate(cols):
            parts[i::width] = col
        end = b"}]}" + sep
        for r, head in enumerate(self._heads(blk.index, blk.at, blk.value, blk.bias, event)):
            parts[r * n] = head + parts[r * n][2:]
            parts[r * n + n - 1] += end
        return b"".join(parts)

    def _heads(self, index, at, value, bias, event) -> list[bytes]:
        """``{"event":..,"index":..,"at":[..],"value":..,"bias":..,"terms":[`` of each step, the
        fields selected only."""
        chosen = self.fields.step
        fmt, columns = [], []
        if event:
            fmt.append(b'"event":"%s"' % event.encode())
        if "index" in chosen:
            fmt.append(b'"index":%d')
            columns.append(index.tolist())
        if "at" in chosen:
            fmt.append(b'"at":[' + b",".join([b"%d"] * at.shape[1]) + b"]")
            columns.extend(at.T.tolist())
        if "value" in chosen:
            fmt.append(b'"value":%s')
            columns.append(float_texts(value))
        if "bias" in chosen and bias is not None:
            fmt.append(b'"bias":%s')
            columns.append(float_texts(bias))
        text = b"{" + b",".join(fmt)
        if "terms" in chosen:
            text += (b"," if fmt else b"") + b'"terms":['
        if not columns:
            return [text] * len(index)
        return [text % row for row in zip(*columns)]

    def _heads_only(self, ks: np.ndarray, event: str | None, sep: bytes) -> bytes:
        trace = self.trace
        at = np.stack(np.unravel_index(ks, trace.result_shape), axis=-1)
        value = trace.result.reshape(-1)[ks]
        bias = trace.conv.b[at[:, 1]] if trace.entry.bias else None
        heads = self._heads(ks, at, value, bias, event)
        return (b"}" + sep).join(heads) + b"}" + sep
