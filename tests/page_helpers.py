"""Independent truth for the page's tests, written from docs/conventions.md alone (not from convviz code):
which cells each phase's view draws for a slice (n, f, c), the term sets that link them
("Term sets"), and the forward / scatter sums as plain loops.

A cell is ``(tensor, "i,j,k,l")``. A *term* is the set of drawn cells one product of docs/conventions.md's
sums involves (its result first). Hovering a cell highlights every other drawn cell of every
term it belongs to: ``neighbours(terms)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product


@dataclass(frozen=True)
class Geo:
    N: int
    C: int
    H: int
    W: int
    F: int
    KH: int
    KW: int
    sh: int = 1
    sw: int = 1
    ph: int = 0
    pw: int = 0
    dh: int = 1
    dw: int = 1

    # docs/conventions.md, "Output size"
    @property
    def Ho(self):
        return (self.H + 2 * self.ph - self.dh * (self.KH - 1) - 1) // self.sh + 1

    @property
    def Wo(self):
        return (self.W + 2 * self.pw - self.dw * (self.KW - 1) - 1) // self.sw + 1

    @property
    def Hp(self):
        return self.H + 2 * self.ph

    @property
    def Wp(self):
        return self.W + 2 * self.pw

    @property
    def Hg(self):
        return self.H + self.dh * (self.KH - 1)

    @property
    def Wg(self):
        return self.W + self.dw * (self.KW - 1)

    @property
    def top(self):  # zeros above the dilated grad_out in grad_out_pad: dh(KH-1) - ph
        return self.dh * (self.KH - 1) - self.ph

    @property
    def left(self):
        return self.dw * (self.KW - 1) - self.pw

    def query(self) -> str:
        """The page URL's problem part."""
        return (f"n={self.N}&c={self.C}&h={self.H}&w={self.W}&f={self.F}&kh={self.KH}&kw={self.KW}"
                f"&stride={self.sh},{self.sw}&padding={self.ph},{self.pw}&dilation={self.dh},{self.dw}")

    def body(self, values="integers", seed=0) -> dict:
        return {"x_shape": [self.N, self.C, self.H, self.W], "w_shape": [self.F, self.C, self.KH, self.KW],
                "stride": [self.sh, self.sw], "padding": [self.ph, self.pw], "dilation": [self.dh, self.dw],
                "values": values, "seed": seed}


def key(*ix) -> str:
    return ",".join(str(int(i)) for i in ix)


def grad_out_of_pad(g: Geo, n, f, u, t):
    """The grad_out cell a grad_out_pad cell holds, or None for an inserted zero (docs/conventions.md steps 1-2)."""
    du, dt = u - g.top, t - g.left
    if du < 0 or dt < 0 or du % g.sh or dt % g.sw:
        return None
    i, j = du // g.sh, dt // g.sw
    if i >= g.Ho or j >= g.Wo:
        return None
    return ("grad_out", key(n, f, i, j))


def drawn(g: Geo, phase: str, n: int, f: int, c: int, scatter: bool = False) -> set:
    """Every cell the view of ``phase`` draws for the slice (n, f, c)."""
    cells = set()

    def plane(tensor, lead, rows, cols):
        cells.update((tensor, key(*lead, a, b)) for a in range(rows) for b in range(cols))

    if phase == "forward":
        plane("x_pad", (n, c), g.Hp, g.Wp); plane("w", (f, c), g.KH, g.KW); plane("out", (n, f), g.Ho, g.Wo)
        cells.update(("b", key(k)) for k in range(g.F))
    elif phase == "grad_x" and scatter:
        plane("grad_out", (n, f), g.Ho, g.Wo); plane("w", (f, c), g.KH, g.KW); plane("grad_x", (n, c), g.H, g.W)
    elif phase == "grad_x":
        plane("grad_out", (n, f), g.Ho, g.Wo); plane("grad_out_pad", (n, f), g.Hg, g.Wg)
        plane("w", (f, c), g.KH, g.KW); plane("w_rot", (c, f), g.KH, g.KW); plane("grad_x", (n, c), g.H, g.W)
    elif phase == "grad_w":
        plane("x_pad", (n, c), g.Hp, g.Wp); plane("grad_out", (n, f), g.Ho, g.Wo); plane("grad_w", (f, c), g.KH, g.KW)
    elif phase == "grad_b":
        plane("grad_out", (n, f), g.Ho, g.Wo)
        cells.update(("grad_b", key(k)) for k in range(g.F))
    elif phase == "im2col":  # every column while C*KH*KW is small
        K = g.C * g.KH * g.KW
        plane("x_pad", (n, c), g.Hp, g.Wp)
        for i, j in product(range(g.Ho), range(g.Wo)):
            r = (n * g.Ho + i) * g.Wo + j
            cells.update(("cols", key(r, col)) for col in range(K))
            cells.update(("out", key(n, ff, i, j)) for ff in range(g.F))
        cells.update(("w", key(ff, cc, p, q)) for ff, cc, p, q in product(range(g.F), range(g.C), range(g.KH), range(g.KW)))
        cells.update(("b", key(k)) for k in range(g.F))
    return cells


def terms(g: Geo, phase: str, n: int, f: int, c: int, scatter: bool = False) -> list[list]:
    """docs/conventions.md's terms for the slice, each as the list of cells it involves, restricted to drawn cells."""
    out = []
    shown = drawn(g, phase, n, f, c, scatter)

    def add(*cells):
        kept = [cell for cell in cells if cell is not None and cell in shown]
        if len(kept) > 1:
            out.append(kept)

    if phase in ("forward", "im2col"):
        fs = [f] if phase == "forward" else range(g.F)
        cs = [c] if phase == "forward" else range(g.C)
        for ff, i, j in product(fs, range(g.Ho), range(g.Wo)):
            o = ("out", key(n, ff, i, j))
            r = (n * g.Ho + i) * g.Wo + j
            for cc, p, q in product(cs, range(g.KH), range(g.KW)):
                x_pad = ("x_pad", key(n, cc, i * g.sh + p * g.dh, j * g.sw + q * g.dw))
                w = ("w", key(ff, cc, p, q))
                col = ("cols", key(r, (cc * g.KH + p) * g.KW + q)) if phase == "im2col" else None
                add(o, col, x_pad, w)
            add(o, ("b", key(ff)))
    elif phase == "grad_x" and scatter:
        for i, j, p, q in product(range(g.Ho), range(g.Wo), range(g.KH), range(g.KW)):
            h, v = i * g.sh + p * g.dh - g.ph, j * g.sw + q * g.dw - g.pw
            target = ("grad_x", key(n, c, h, v)) if 0 <= h < g.H and 0 <= v < g.W else None
            add(("grad_out", key(n, f, i, j)), ("w", key(f, c, p, q)), target)
    elif phase == "grad_x":  # gather: grad_out_pad window times w_rot[c,f,p,q] = w[f,c,KH-1-p,KW-1-q]
        for h, v, p, q in product(range(g.H), range(g.W), range(g.KH), range(g.KW)):
            u, t = h + p * g.dh, v + q * g.dw
            add(("grad_x", key(n, c, h, v)), ("grad_out_pad", key(n, f, u, t)), grad_out_of_pad(g, n, f, u, t),
                ("w_rot", key(c, f, p, q)), ("w", key(f, c, g.KH - 1 - p, g.KW - 1 - q)))
    elif phase == "grad_w":
        for p, q, i, j in product(range(g.KH), range(g.KW), range(g.Ho), range(g.Wo)):
            add(("grad_w", key(f, c, p, q)), ("grad_out", key(n, f, i, j)),
                ("x_pad", key(n, c, i * g.sh + p * g.dh, j * g.sw + q * g.dw)))
    elif phase == "grad_b":
        for i, j in product(range(g.Ho), range(g.Wo)):
            add(("grad_b", key(f)), ("grad_out", key(n, f, i, j)))
    return out


def neighbours(term_list: list[list]) -> dict:
    """cell -> every other cell sharing a term with it."""
    near: dict = {}
    for term in term_list:
        for a in term:
            near.setdefault(a, set()).update(b for b in term if b != a)
    return near


def grad_x_feeders(g: Geo, n, f, c, h, v) -> set:
    """docs/conventions.md's scatter-side statement: grad_x[n,c,h,v] receives grad_out[n,f,i,j]*w[f,c,p,q] for
    every (i,j,p,q) with i*sh + p*dh = h + ph and j*sw + q*dw = v + pw (one kernel f)."""
    cells = set()
    for i, j, p, q in product(range(g.Ho), range(g.Wo), range(g.KH), range(g.KW)):
        if i * g.sh + p * g.dh == h + g.ph and j * g.sw + q * g.dw == v + g.pw:
            cells.add(("grad_out", key(n, f, i, j)))
            cells.add(("w", key(f, c, p, q)))
    return cells


def forward_value(g: Geo, x, w, b, n, f, i, j) -> float:
    """out[n,f,i,j] = b[f] + sum over c,p,q of x_pad[n,c,i*sh+p*dh, j*sw+q*dw] * w[f,c,p,q] (nested lists)."""
    total = b[f]
    for c, p, q in product(range(g.C), range(g.KH), range(g.KW)):
        h, v = i * g.sh + p * g.dh - g.ph, j * g.sw + q * g.dw - g.pw
        if 0 <= h < g.H and 0 <= v < g.W:
            total += x[n][c][h][v] * w[f][c][p][q]
    return total


def scatter_grad_x(g: Geo, w, grad_out, upto: int | None = None):
    """grad_x by docs/conventions.md's scatter form, adding only the first ``upto`` grad_out cells (row-major)."""
    gx = [[[[0.0] * g.W for _ in range(g.H)] for _ in range(g.C)] for _ in range(g.N)]
    for k, (n, f, i, j) in enumerate(product(range(g.N), range(g.F), range(g.Ho), range(g.Wo))):
        if upto is not None and k >= upto:
            break
        for c, p, q in product(range(g.C), range(g.KH), range(g.KW)):
            h, v = i * g.sh + p * g.dh - g.ph, j * g.sw + q * g.dw - g.pw
            if 0 <= h < g.H and 0 <= v < g.W:
                gx[n][c][h][v] += grad_out[n][f][i][j] * w[f][c][p][q]
    return gx


# The cases the page tests cover: the worked example, strided + padded (with a leftover row),
# dilated, and several samples / channels / kernels.
WORKED = Geo(1, 1, 3, 3, 1, 2, 2)
STRIDED_PADDED = Geo(1, 1, 6, 6, 1, 3, 3, sh=2, sw=2, ph=1, pw=1)
DILATED = Geo(1, 1, 7, 7, 1, 3, 3, ph=1, pw=1, dh=2, dw=2)
CHANNELS = Geo(2, 2, 4, 4, 3, 2, 2, ph=1, pw=1)
RECT_MIXED = Geo(1, 2, 5, 7, 2, 2, 3, sh=2, sw=1, ph=0, pw=1, dh=1, dw=2)
