"""Step blocks as JSON text, fast enough to stream millions of terms.

A dict per term and ``json.dumps`` cost several microseconds a term; the tutorial's layer has
nine million. But a term is two tensor cells and their product, and the text a cell
contributes (``"x_pad":[0,3,1,2],"x":[0,3,0,1],"x_value":0.5,``) is the same in every term
that reads it. So each cell's fragment is written once, on first use, and a term is
``{`` + fragment(a) + fragment(b) + ``"product":`` + repr(product) + ``}``. Floats are written
with ``repr`` (shortest round-trip form): ``json.loads`` gives back exactly the engine's
numbers. Values are finite (``Convolution`` refuses overflow), so no ``NaN`` reaches the text.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .steps import TERM_SOURCES, Block, Trace


class Fragments:
    """The JSON fragment of every cell of one source tensor, rendered on first use."""

    def __init__(self, trace: Trace, source: str):
        self.conv, self.source = trace.conv, source
        self.shape = getattr(trace.conv.geo, source + "_shape")
        self.cache = np.full(int(np.prod(self.shape)), None, dtype=object)

    def take(self, flat: np.ndarray) -> np.ndarray:
        """Fragments (object array of ``flat``'s shape) for the cells ``flat``."""
        got = self.cache[flat]
        missing = np.equal(got, None)
        if missing.any():
            cells = np.unique(flat[missing])
            self.cache[cells] = self._render(cells)
            got = self.cache[flat]
        return got

    def _render(self, cells: np.ndarray) -> list[str]:
        cv, g = self.conv, self.conv.geo
        idx = np.unravel_index(cells, self.shape)
        s = self.source
        if s == "x_pad":  # + x (null on padding) + x_value
            n, c, hp, wp = idx
            h, v = hp - g.padding[0], wp - g.padding[1]
            inside = (h >= 0) & (h < g.H) & (v >= 0) & (v < g.W)
            other = _index_texts(inside, n, c, h, v)
            fmt = '"x_pad":[%d,%d,%d,%d],"x":%s,"x_value":%r,'
            rows = zip(n.tolist(), c.tolist(), hp.tolist(), wp.tolist(), other, cv.x_pad.reshape(-1)[cells].tolist())
        elif s == "grad_out_pad":  # + grad_out (null on an inserted zero) + grad_out_value
            n, f, u, t = idx
            top, _, left, _ = g.grad_out_pad_margins
            real = cv.grad_out_pad_mask[u, t]
            other = _index_texts(real, n, f, (u - top) // g.stride[0], (t - left) // g.stride[1])
            fmt = '"grad_out_pad":[%d,%d,%d,%d],"grad_out":%s,"grad_out_value":%r,'
            rows = zip(n.tolist(), f.tolist(), u.tolist(), t.tolist(), other, cv.grad_out_pad.reshape(-1)[cells].tolist())
        elif s == "w_rot":  # + the w cell it came from + w_value
            c, f, p, q = idx
            fmt = '"w_rot":[%d,%d,%d,%d],"w":[%d,%d,%d,%d],"w_value":%r,'
            cols = (c, f, p, q, f, c, g.KH - 1 - p, g.KW - 1 - q)
            rows = zip(*(a.tolist() for a in cols), cv.w_rot.reshape(-1)[cells].tolist())
        elif s == "w":
            fmt = '"w":[%d,%d,%d,%d],"w_value":%r,'
            rows = zip(*(a.tolist() for a in idx), cv.w.reshape(-1)[cells].tolist())
        else:  # grad_out
            fmt = '"grad_out":[%d,%d,%d,%d],"grad_out_value":%r,'
            rows = zip(*(a.tolist() for a in idx), cv.grad_out.reshape(-1)[cells].tolist())
        return [fmt % row for row in rows]


def _index_texts(valid: np.ndarray, *axes: np.ndarray) -> list[str]:
    """``"[a,b,c,d]"`` where ``valid``, else ``"null"``."""
    return [
        "[%d,%d,%d,%d]" % tuple(ix) if ok else "null"
        for ok, ix in zip(valid.tolist(), zip(*(a.tolist() for a in axes)))
    ]


@lru_cache(maxsize=64)
def _terms_template(T: int, two_sources: bool) -> str:
    one = '{%s%s"product":%s}' if two_sources else '{%s"product":%s}'
    return ",".join([one] * T)


def _float_texts(values: np.ndarray) -> np.ndarray:
    """``repr`` of every float, each distinct value written once (integer-valued problems
    repeat a handful of products millions of times). Distinct by bit pattern: ``np.unique`` on
    the floats would merge ``-0.0`` with ``0.0`` and write one for the other."""
    uniq, inverse = np.unique(np.ascontiguousarray(values, dtype=np.float64).view(np.int64), return_inverse=True)
    return np.array([repr(v) for v in uniq.view(np.float64).tolist()], dtype=object)[inverse.reshape(values.shape)]


class StepWriter:
    """Writes a trace's blocks as JSON lines; keeps the fragment caches between blocks."""

    def __init__(self, trace: Trace):
        a, b = TERM_SOURCES[trace.phase]
        self.a = Fragments(trace, a)
        self.b = Fragments(trace, b) if b else None

    def lines(self, blk: Block, event: str | None = None) -> list[str]:
        K, T = blk.a.shape
        parts = [self.a.take(blk.a)] + ([self.b.take(blk.b)] if self.b else []) + [_float_texts(blk.product)]
        slots = np.stack(parts, axis=2)  # (K, T, 2 or 3) strings
        template = _terms_template(T, self.b is not None)

        head = '{"event":"%s",' % event if event else "{"
        at_fmt = ",".join(["%d"] * blk.at.shape[1])
        head += '"index":%d,"at":[' + at_fmt + '],"value":%r,' + ('"bias":%r,' if blk.bias is not None else "")
        head += '"terms":['
        heads = zip(blk.index.tolist(), blk.at.tolist(), blk.value.tolist(),
                    blk.bias.tolist() if blk.bias is not None else [None] * K)
        return [
            head % ((k, *at, value) if bias is None else (k, *at, value, bias))
            + template % tuple(slots[r].ravel().tolist()) + "]}"
            for r, (k, at, value, bias) in enumerate(heads)
        ]
