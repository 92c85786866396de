"""Lazy, random-access step traces: one step per cell of a result, with every term that makes it.

Step k of a phase is derived from k alone (row-major order over the result's shape), so any
page of a huge trace costs the same as the first. What a phase's terms are comes from its
registry entry (``phases.py``); the fields a term reports for each cell it reads come from its
cell sources (``cells.py``):

| phase          | one step per cell of | one term per              | cells of (reported with)                     |
|----------------|----------------------|---------------------------|----------------------------------------------|
| forward        | out (n, f, i, j)     | window cell (c, p, q)     | x_pad (x or null), w                         |
| grad_x         | grad_x (n, c, h, v)  | window cell (f, p, q)     | grad_out_pad (grad_out or null), w_rot (w)   |
| grad_x_scatter | grad_out (n, f, i, j)| window cell (c, p, q)     | grad_out, w, x_pad (grad_x or null)          |
| grad_w         | grad_w (f, c, p, q)  | output position (n, i, j) | grad_out, x_pad (x or null)                  |
| grad_b         | grad_b (f)           | output position (n, i, j) | grad_out                                     |

``block(ks)`` computes many steps at once as arrays; ``records`` / ``step`` turn blocks into
dicts. Writing them as JSON text, fast, is the problem service's job (``convviz.problem.jsonl``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .cells import SOURCES, CellSource
from .convolution import Convolution
from .phases import TRACE_PHASES, check_applies, phase as registry_entry


@dataclass
class Block:
    """K steps of one phase, as arrays."""

    index: np.ndarray  # (K,) step numbers
    at: np.ndarray  # (K, rank) the result cell of each step
    value: np.ndarray  # (K,) the result cell's value, as the engine computed it
    cells: tuple[np.ndarray, ...]  # per cell source of the phase: (K, T) flat cell numbers of each term
    product: np.ndarray  # (K, T)
    bias: np.ndarray | None = None  # (K,), forward only

    @property
    def a(self) -> np.ndarray:
        """Cells of the first source (the term's first operand)."""
        return self.cells[0]

    @property
    def b(self) -> np.ndarray | None:
        """Cells of the second source, or None for one-operand terms (grad_b)."""
        return self.cells[1] if len(self.cells) > 1 else None


class Trace:
    """The steps of one phase of a ``Convolution``; ``len(trace)`` steps, each read by index."""

    def __init__(self, conv: Convolution, phase: str):
        if phase not in TRACE_PHASES:
            raise ValueError(f"phase must be one of {', '.join(TRACE_PHASES)}, got {phase!r}")
        self.conv, self.phase = conv, phase
        self.entry = registry_entry(phase)
        check_applies(self.entry, conv.geo)
        self.sources: tuple[CellSource, ...] = tuple(SOURCES[name] for name in self.entry.sources)
        self.result_shape = getattr(conv.geo, self.entry.result + "_shape")
        box = self.entry.term_box(conv.geo)
        self.terms_per_step = int(np.prod(box))
        self._box = tuple(a.ravel() for a in np.indices(box))

    def __len__(self) -> int:
        return int(np.prod(self.result_shape))

    @property
    def result(self) -> np.ndarray:
        return getattr(self.conv, self.entry.result)

    # blocks -----------------------------------------------------------------------------------
    def block(self, ks) -> Block:
        """The steps ``ks`` (1-D ints, each in ``range(len(self))``) as arrays."""
        ks = np.asarray(ks, dtype=np.int64)
        at = np.stack(np.unravel_index(ks, self.result_shape), axis=-1)
        value = self.result.reshape(-1)[ks]
        cells, product = self.entry.terms(self.conv, tuple(col[:, None] for col in at.T), self._box)
        bias = self.conv.b[at[:, 1]] if self.entry.bias else None
        return Block(ks, at, value, cells, product, bias)

    def blocks(self, start: int, stop: int, max_terms: int = 1 << 15) -> Iterator[Block]:
        """Blocks covering steps ``start .. stop-1`` in order, about ``max_terms`` terms each."""
        per = max(1, max_terms // self.terms_per_step)
        for lo in range(start, stop, per):
            yield self.block(np.arange(lo, min(stop, lo + per)))

    # records ----------------------------------------------------------------------------------
    def records(self, blk: Block) -> list[dict]:
        """The steps of ``blk`` as dicts: ``{"index", "at", "value", ["bias"], "terms": [...]}``."""
        K, T = blk.product.shape
        columns = []  # (key, one JSON value per term, row-major over (K, T))
        for source, cells in zip(self.sources, blk.cells):
            columns += [(f.key, f.items()) for f in source.describe(self.conv, cells)]
        columns.append(("product", blk.product.ravel().tolist()))
        keys = [key for key, _ in columns]
        terms = [dict(zip(keys, row)) for row in zip(*(items for _, items in columns))]
        out = []
        for r, (k, at, v) in enumerate(zip(blk.index.tolist(), blk.at.tolist(), blk.value.tolist())):
            rec = {"index": k, "at": at, "value": v}
            if blk.bias is not None:
                rec["bias"] = float(blk.bias[r])
            rec["terms"] = terms[r * T:(r + 1) * T]
            out.append(rec)
        return out

    def step(self, k: int) -> dict:
        """Step ``k`` as a dict: ``{"index", "at", "value", ["bias"], "terms": [...]}``."""
        if not 0 <= k < len(self):
            raise IndexError(f"step {k} is out of range: this {self.phase} trace has steps 0 to {len(self) - 1}")
        return self.steps(k, k + 1)[0]

    def steps(self, start: int = 0, stop: int | None = None) -> list[dict]:
        """Steps ``start .. stop-1`` (default: all) as dicts. As in slicing, a ``stop`` past the
        last step means up to the last one; ``start`` must be a step (or the end)."""
        total = len(self)
        if not 0 <= start <= total:
            raise IndexError(f"start {start} is out of range: this {self.phase} trace has steps 0 to {total - 1}")
        stop = total if stop is None else min(stop, total)
        return [rec for blk in self.blocks(start, stop) for rec in self.records(blk)]
