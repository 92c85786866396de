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

import numpy as np

from .steps import TERM_SOURCES, Block, Trace


class Fragments:
    """The JSON fragment of every cell of one source tensor, rendered on first use.

    A term's text is ``fragment(a) + fragment(b) + repr(product) + "}"``, so the fragment of the
    term's first source starts with ``{`` and that of its last ends with ``"product":``.
    """

    def __init__(self, trace: Trace, source: str, *, first: bool, last: bool):
        self.conv, self.source = trace.conv, source
        self.prefix, self.suffix = ("{" if first else ""), ('"product":' if last else "")
        self.shape = getattr(trace.conv.geo, source + "_shape")
        size = int(np.prod(self.shape))
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
        a, b = TERM_SOURCES[trace.phase]
        self.a = Fragments(trace, a, first=True, last=b is None)
        self.b = Fragments(trace, b, first=False, last=True) if b else None

    def lines(self, blk: Block, event: str | None = None) -> list[str]:
        K, T = blk.a.shape
        if K == 0:
            return []
        # One list of strings for the whole block, filled column by column with slice
        # assignments (C speed): per term the fragment of a, of b, the product and a separator.
        # A step is then one join of its slice; its head rides on its first fragment.
        cols = [self.a.take(blk.a)] + ([self.b.take(blk.b)] if self.b else []) + [_float_texts(blk.product)]
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
