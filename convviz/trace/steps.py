"""Lazy, random-access step traces: one step per cell of a result, with every term that makes it.

Step k of a phase is derived from k alone (row-major order over the result's shape), so any
page of a huge trace costs the same as the first. A term is the product of one cell of a
tensor ``a`` and one cell of a tensor ``b`` (MATH.md, "Which inputs feed which outputs"):

| phase   | one step per cell of | one term per              | a (shown with)           | b (shown with)   |
|---------|----------------------|---------------------------|--------------------------|------------------|
| forward | out (n, f, i, j)     | window cell (c, p, q)     | x_pad (x or null)        | w                |
| grad_x  | grad_x (n, c, h, v)  | window cell (f, p, q)     | grad_out_pad (grad_out or null) | w_rot (w) |
| grad_w  | grad_w (f, c, p, q)  | output position (n, i, j) | grad_out                 | x_pad (x or null)|
| grad_b  | grad_b (f)           | output position (n, i, j) | grad_out                 | none             |

``block(ks)`` computes many steps at once as arrays (flat cell numbers of ``a`` and ``b``, and
the products); ``jsonl.py`` writes them as JSON text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .convolution import Convolution

PHASES = ("forward", "grad_x", "grad_w", "grad_b")

# The two tensors whose cells make each term, per phase.
TERM_SOURCES = {
    "forward": ("x_pad", "w"),
    "grad_x": ("grad_out_pad", "w_rot"),
    "grad_w": ("grad_out", "x_pad"),
    "grad_b": ("grad_out", None),
}

# The tensors a reader needs on screen for each phase (streamed with the trace's meta event).
PHASE_TENSORS = {
    "forward": ("x", "x_pad", "w", "b", "out"),
    "grad_x": ("grad_out", "grad_out_pad", "grad_out_pad_mask", "w", "w_rot", "grad_x"),
    "grad_w": ("x", "x_pad", "grad_out", "grad_w"),
    "grad_b": ("grad_out", "grad_b"),
}


@dataclass
class Block:
    """K steps of one phase, as arrays."""

    index: np.ndarray  # (K,) step numbers
    at: np.ndarray  # (K, rank) the result cell of each step
    value: np.ndarray  # (K,) the result cell's value, as the engine computed it
    a: np.ndarray  # (K, T) flat cell number in tensor TERM_SOURCES[phase][0] of each term
    b: np.ndarray | None  # (K, T) flat cell number in TERM_SOURCES[phase][1], or None
    product: np.ndarray  # (K, T)
    bias: np.ndarray | None = None  # (K,), forward only


def _grid(*sizes: int) -> list[np.ndarray]:
    """Row-major coordinates of every cell of a ``sizes`` box, one flat array per axis."""
    return [a.ravel() for a in np.indices(sizes)]


class Trace:
    """The steps of one phase of a ``Convolution``; ``len(trace)`` steps, each read by index."""

    def __init__(self, conv: Convolution, phase: str):
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
        self.conv, self.phase = conv, phase
        g = conv.geo
        self.result_shape = {
            "forward": g.out_shape, "grad_x": g.x_shape, "grad_w": g.w_shape, "grad_b": (g.F,),
        }[phase]
        term_box = {
            "forward": (g.C, g.KH, g.KW), "grad_x": (g.F, g.KH, g.KW),
            "grad_w": (g.N, g.Ho, g.Wo), "grad_b": (g.N, g.Ho, g.Wo),
        }[phase]
        self.terms_per_step = int(np.prod(term_box))
        self._term_grid = _grid(*term_box)
        self._writer = None

    def __len__(self) -> int:
        return int(np.prod(self.result_shape))

    @property
    def result(self) -> np.ndarray:
        return getattr(self.conv, "out" if self.phase == "forward" else self.phase)

    # blocks -----------------------------------------------------------------------------------
    def block(self, ks) -> Block:
        """The steps ``ks`` (1-D ints, each in ``range(len(self))``) as arrays."""
        ks = np.asarray(ks, dtype=np.int64)
        at = np.stack(np.unravel_index(ks, self.result_shape), axis=-1)
        value = self.result.reshape(-1)[ks]
        a, b, product = getattr(self, "_terms_" + self.phase)(*(col[:, None] for col in at.T))
        bias = self.conv.b[at[:, 1]] if self.phase == "forward" else None
        return Block(ks, at, value, a, b, product, bias)

    def blocks(self, start: int, stop: int, max_terms: int = 1 << 15) -> Iterator[Block]:
        """Blocks covering steps ``start .. stop-1`` in order, about ``max_terms`` terms each."""
        per = max(1, max_terms // self.terms_per_step)
        for lo in range(start, stop, per):
            yield self.block(np.arange(lo, min(stop, lo + per)))

    # JSON -------------------------------------------------------------------------------------
    def json_lines(self, start: int, stop: int, event: str | None = None, max_terms: int = 1 << 15) -> Iterator[list[str]]:
        """Steps ``start .. stop-1`` as JSON text, one list of lines (no newlines) per block."""
        from .jsonl import StepWriter  # jsonl formats what this module computes

        if self._writer is None:
            self._writer = StepWriter(self)
        for blk in self.blocks(start, stop, max_terms):
            yield self._writer.lines(blk, event)

    def step(self, k: int) -> dict:
        """Step ``k`` as a dict: ``{"index", "at", "value", ["bias"], "terms": [...]}``."""
        if not 0 <= k < len(self):
            raise IndexError(f"step {k} is out of range: this {self.phase} trace has steps 0 to {len(self) - 1}")
        return self.steps(k, k + 1)[0]

    def steps(self, start: int = 0, stop: int | None = None) -> list[dict]:
        stop = len(self) if stop is None else stop
        return [json.loads(line) for lines in self.json_lines(start, stop) for line in lines]

    # term sets (MATH.md, "Which inputs feed which outputs") --------------------------------
    def _terms_forward(self, n, f, i, j):
        g, cv = self.conv.geo, self.conv
        (sh, sw), (dh, dw) = g.stride, g.dilation
        c, p, q = self._term_grid
        hp, wp = i * sh + p * dh, j * sw + q * dw  # (K, T)
        a = np.ravel_multi_index((n, c, hp, wp), g.x_pad_shape)
        b = np.ravel_multi_index((f, c, p, q), g.w_shape)
        return a, b, cv.x_pad.reshape(-1)[a] * cv.w.reshape(-1)[b]

    def _terms_grad_x(self, n, c, h, v):
        g, cv = self.conv.geo, self.conv
        dh, dw = g.dilation
        f, p, q = self._term_grid
        u, t = h + p * dh, v + q * dw  # the window of grad_out_pad, (K, T)
        a = np.ravel_multi_index((n, f, u, t), g.grad_out_pad_shape)
        b = np.ravel_multi_index((c, f, p, q), g.w_rot_shape)
        b = np.broadcast_to(b, a.shape)
        return a, b, cv.grad_out_pad.reshape(-1)[a] * cv.w_rot.reshape(-1)[b]

    def _terms_grad_w(self, f, c, p, q):
        g, cv = self.conv.geo, self.conv
        (sh, sw), (dh, dw) = g.stride, g.dilation
        n, i, j = self._term_grid
        a = np.ravel_multi_index((n, f, i, j), g.out_shape)
        b = np.ravel_multi_index((n, c, i * sh + p * dh, j * sw + q * dw), g.x_pad_shape)
        return a, b, cv.grad_out.reshape(-1)[a] * cv.x_pad.reshape(-1)[b]

    def _terms_grad_b(self, f):
        n, i, j = self._term_grid
        a = np.ravel_multi_index((n, f, i, j), self.conv.geo.out_shape)
        return a, None, self.conv.grad_out.reshape(-1)[a]
