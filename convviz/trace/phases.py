"""The phase registry: everything convviz knows about a phase, in one entry.

A phase is a way to compute one tensor cell by cell: a *step* per cell of its result, each
with its *terms* (the products that make it; docs/conventions.md, "Term sets"). An entry says
which tensor the steps compute, which cells each term reads (``sources``, see ``cells.py``),
the term set itself (``terms``, vectorised over many steps), which tensors a reader needs on
screen, and how the page presents it (title, explanation, layout of the grids, formula).
The step traces (``steps.py``), the page's views (``convviz.page``), the API and the page's
script all read this registry; ``GET /api/v1/phases`` serves it as data.

Adding a phase: one entry here (with its term function), its engine function, its view builder
in ``convviz/page/builders.py``, and tests (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..engine import Geometry
from .convolution import Convolution

# at: the result cell of each step, one (K, 1) array per axis of the result;
# box: the term coordinates of a step, one (T,) array per axis of the term box.
# Returns (flat cell numbers in each source, each (K, T)), products (K, T).
TermsFn = Callable[[Convolution, tuple, tuple], tuple[tuple[np.ndarray, ...], np.ndarray]]


@dataclass(frozen=True)
class Phase:
    name: str
    result: str  # the tensor whose cells the steps compute, row-major
    sources: tuple[str, ...]  # the cell sources of a term (cells.SOURCES), in field order
    term_box: Callable[[Geometry], tuple[int, ...]]  # the axes one step's terms run over
    terms: TermsFn
    tensors: tuple[str, ...]  # what a reader needs on screen (the stream's meta event carries them)
    # presentation, served to the page as data
    title: str
    subtitle: str
    explain: str
    layout: tuple  # grid titles and operators, left to right; a tuple stacks its items vertically
    # result symbol, operands (symbol, index field, value field), zero text, partial sums (term field,
    # axis, label) and the selected one, the axis of `at` that indexes b ("bias"), and for the
    # scatter style the term field naming the cell a product is added to ("target")
    formula: dict
    select: dict  # the drawn slice a step belongs to: {"n": axis of `at`, ...}
    bias: bool = False  # steps add b[f] (forward)
    trace: str | None = None  # a view that plays another phase's steps (im2col plays forward)
    variant_of: str | None = None  # shown as a toggle on that phase's button, not a button of its own
    toggle: str | None = None  # the toggle's name (element id and URL flag)
    toggle_label: str = ""
    steps_from: str = "stream"  # "stream": the JSON Lines trace; "scatter": /api/v1/page/scatter (running sums)
    # the kinds of problem (Geometry.kind) it shows: "conv" (a zero border), "conv_mode" (a border of
    # copies of x: grad_x in two stages, grad_x_pad and the fold), "transposed"
    kinds: tuple[str, ...] = ("conv", "conv_mode")
    # select's axes that hold a place inside a group, not a whole channel: {"c": "f"} says c's axis
    # holds cg, the channel's place in kernel f's group (w's second axis; the view's group_of maps it)
    select_local: dict | None = None
    # whether a step's cells in a source grid form a window the page frames (the fold's copies do not)
    window: bool = True

    def applies(self, geo) -> bool:
        """Whether this phase shows problems of ``geo``'s kind."""
        return geo.kind in self.kinds

    @property
    def plays(self) -> str:
        """The phase whose steps this one's player shows."""
        return self.trace or self.name

    @property
    def traced(self) -> bool:
        """Whether ``/api/v1/trace/{name}`` serves it (views of another phase's steps are not)."""
        return self.trace is None

    def as_dict(self) -> dict:
        return {
            "name": self.name, "title": self.title, "subtitle": self.subtitle, "result": self.result,
            "trace": self.plays, "traced": self.traced, "variant_of": self.variant_of, "toggle": self.toggle,
            "toggle_label": self.toggle_label, "explain": self.explain, "layout": list(self.layout),
            "formula": self.formula, "select": self.select, "tensors": list(self.tensors),
            "steps_from": self.steps_from, "kinds": list(self.kinds), "select_local": self.select_local or {},
            "window": self.window,
        }


def _flat(conv: Convolution, tensor: str, *index) -> np.ndarray:
    return np.ravel_multi_index(index, getattr(conv.geo, tensor + "_shape"))


def _cells(conv: Convolution, tensor: str, flat: np.ndarray) -> np.ndarray:
    return getattr(conv, tensor).reshape(-1)[flat]


def _window_times_kernel(conv, window: str, n, channel, rows_cols, kernel: str, kernel_index):
    """The terms of one window of ``window`` (sample n, channel ``channel``, cells ``rows_cols``)
    times one kernel cell of ``kernel`` each: the shape of every correlation's step."""
    a = _flat(conv, window, n, channel, *rows_cols)
    b = np.broadcast_to(_flat(conv, kernel, *kernel_index), a.shape)
    return (a, b), _cells(conv, window, a) * _cells(conv, kernel, b)


def _cell_stamps_kernel(conv, source: str, source_index, kernel_index, target: str, n, channel, rows_cols):
    """The terms of one cell of ``source`` times each cell of one kernel of ``w``, each product
    landing on a cell of ``target`` (sample n, channel ``channel``, cells ``rows_cols``): the
    shape of every scatter's step. Terms are (source cell, kernel cell, target cell)."""
    shape = rows_cols[0].shape
    a = np.broadcast_to(_flat(conv, source, *source_index), shape)
    b = np.broadcast_to(_flat(conv, "w", *kernel_index), shape)
    cell = _flat(conv, target, np.broadcast_to(n, shape), channel, *rows_cols)
    return (a, b, cell), _cells(conv, source, a) * _cells(conv, "w", b)


# term sets --------------------------------------------------------------------------------------
# With groups a term runs over the group's channels only: cg (or fg) is the place in the group,
# Geometry.x_channel / kernel_of give the channel (kernel) of the whole tensor.
def _terms_forward(conv, at, box):
    n, f, i, j = at
    cg, p, q = box
    return _window_times_kernel(conv, "x_pad", n, conv.geo.x_channel(f, cg), conv.geo.tap(i, j, p, q),
                                "w", (f, cg, p, q))


def _terms_grad_x(conv, at, box):
    """The gather form: grad_x (grad_x_pad in the modes that copy x), one window of grad_out_pad
    over the kernels of c's group times w_rot."""
    n, c, h, v = at
    fg, p, q = box
    return _window_times_kernel(conv, "grad_out_pad", n, conv.geo.kernel_of(c, fg), conv.geo.gather_tap(h, v, p, q),
                                "w_rot", (c, fg, p, q))


def _terms_grad_x_scatter(conv, at, box):
    n, f, i, j = at
    cg, p, q = box
    return _cell_stamps_kernel(conv, "grad_out", (n, f, i, j), (f, cg, p, q), "x_pad", n, conv.geo.x_channel(f, cg),
                               conv.geo.tap(i, j, p, q))


def _terms_grad_w(conv, at, box):
    f, cg, p, q = at
    n, i, j = box
    a = _flat(conv, "grad_out", n, f, i, j)
    b = _flat(conv, "x_pad", n, conv.geo.x_channel(f, cg), *conv.geo.tap(i, j, p, q))
    return (a, b), _cells(conv, "grad_out", a) * _cells(conv, "x_pad", b)


def _terms_fold(conv, at, box):
    """grad_x[n,c,h,v] = the sum of grad_x_pad over every x_pad cell that copies x[n,c,h,v]: term
    (a, b) is its a-th copy row and b-th copy column (Geometry.copies; itself first). A slot past
    a cell's copies is numbered one past grad_x_pad's last cell (cells.py: null, product 0)."""
    n, c, h, v = at
    a, b = box
    rows, cols = conv.geo.copies(0)[h, a], conv.geo.copies(1)[v, b]
    empty = (rows < 0) | (cols < 0)
    cell = np.where(empty, conv.grad_x_pad.size,
                    _flat(conv, "grad_x_pad", n, c, np.maximum(rows, 0), np.maximum(cols, 0)))
    return (cell,), np.where(empty, 0.0, conv.grad_x_pad.reshape(-1)[np.minimum(cell, conv.grad_x_pad.size - 1)])


# transposed convolution (TransposedGeometry): x_pad is x dilated by the stride and padded, w_rot
# (F, C/groups, KH, KW), grad_out_pad grad_out in a border of ph / pw zeros
def _terms_transposed_forward(conv, at, box):
    """out[n,f,u,t] = b[f] + sum_{cg,p,q} x_pad[n, c, u + p*dh, t + q*dw] * w_rot[f,cg,p,q]."""
    n, f, u, t = at
    cg, p, q = box
    return _window_times_kernel(conv, "x_pad", n, conv.geo.x_channel(f, cg), conv.geo.gather_tap(u, t, p, q),
                                "w_rot", (f, cg, p, q))


def _terms_transposed_scatter(conv, at, box):
    """Each x[n,c,i,j] stamps w[c] into out: the product with w[c,fg,p,q] lands on out row
    i*sh - ph + p*dh (a cell of grad_out_pad's canvas: out in its ph / pw border, cropped there)."""
    n, c, i, j = at
    fg, p, q = box
    return _cell_stamps_kernel(conv, "x", (n, c, i, j), (c, fg, p, q), "grad_out_pad", n, conv.geo.kernel_of(c, fg),
                               conv.geo.scatter_tap(i, j, p, q))


def _terms_transposed_grad_x(conv, at, box):
    """A plain convolution of grad_out_pad with w: grad_x[n,c,i,j] = sum_{fg,p,q}
    grad_out_pad[n, f, i*sh + p*dh, j*sw + q*dw] * w[c,fg,p,q]."""
    n, c, i, j = at
    fg, p, q = box
    return _window_times_kernel(conv, "grad_out_pad", n, conv.geo.kernel_of(c, fg), conv.geo.tap(i, j, p, q),
                                "w", (c, fg, p, q))


def _terms_transposed_grad_w(conv, at, box):
    """grad_w[c,fg,p,q] = sum_{n,i,j} x[n,c,i,j] * grad_out_pad[n, f, i*sh + p*dh, j*sw + q*dw]."""
    c, fg, p, q = at
    n, i, j = box
    a = _flat(conv, "x", n, c, i, j)
    b = _flat(conv, "grad_out_pad", n, conv.geo.kernel_of(c, fg), *conv.geo.tap(i, j, p, q))
    return (a, b), _cells(conv, "x", a) * _cells(conv, "grad_out_pad", b)


def _terms_grad_b(conv, at, box):
    (f,) = at
    n, i, j = box
    a = _flat(conv, "grad_out", n, f, i, j)
    return (a,), _cells(conv, "grad_out", a)


def _terms_update(conv, at, box):
    """One term per step: the cell of w and of grad_w at the step's index, and the change the
    step adds to w, product = -lr * (grad_w + weight_decay * w); value = w + product."""
    f, c, p, q = at
    cell = np.broadcast_to(_flat(conv, "w", f, c, p, q), (f.shape[0], box[0].size))
    change = -conv.lr * (_cells(conv, "grad_w", cell) + conv.weight_decay * _cells(conv, "w", cell))
    return (cell, cell), change


def _window(g: Geometry) -> tuple[int, ...]:
    return (g.Cg, g.KH, g.KW)


def _kernel_window(g: Geometry) -> tuple[int, ...]:
    return (g.Fg, g.KH, g.KW)


def _copies(g: Geometry) -> tuple[int, ...]:
    return (g.copies(0).shape[1], g.copies(1).shape[1])


def _inputs(g) -> tuple[int, ...]:
    return (g.N, g.H, g.W)


def _outputs(g: Geometry) -> tuple[int, ...]:
    return (g.N, g.Ho, g.Wo)


#: the page's name of each tensor in formulas and tooltips (docs/conventions.md, section 8): a = out,
#: Da = grad_out, ...; a tensor that shows another's cells (x_pad shows x) is named as that one
NOTATION = {"x": "x", "x_pad": "x", "cols": "x", "w": "w", "w_rot": "w", "b": "b", "out": "a", "grad_out": "Da",
            "grad_out_pad": "Da", "grad_x": "Dx", "grad_x_pad": "Dxp", "grad_w": "Dw", "grad_b": "Db", "w_new": "w\u2032",
            "b_new": "b\u2032", "target": "y"}

_PAD_X = ["x", "x", "x_value"]
_W = ["w", "w", "w_value"]
# "all channels at once": one small grid per group of the partial sums, its cells placed by the term
# field `pos` (axes of its index: row, column) in a grid of geometry sizes `shape`; each grid shows
# a term field's cells [title, index field, value field, field that is null on a zero (or None)]
_WINDOW_BY_CHANNEL = {"pos": ["w", 2, 3], "shape": ["KH", "KW"],
                      "grids": [["x_pad", "x_pad", "x_value", "x"], ["w", "w", "w_value", None]]}
_DA = ["Da", "grad_out", "grad_out_value"]

PHASE_LIST = (
    Phase(
        name="forward", result="out", sources=("x_pad", "w"), term_box=_window, terms=_terms_forward,
        tensors=("x", "x_pad", "w", "b", "out"), bias=True,
        title="forward", subtitle="out",
        explain="Each output a = one window of x_pad times the kernel w, element by element, summed over every input "
                "channel (with groups: every channel of the kernel's group), plus the bias b. The window slides by the "
                "stride; dilation spreads its cells apart.",
        layout=("x_pad", "\u22c6", ("w", "+", "b"), "=", "out"),
        formula={"result": "a", "ops": [_PAD_X, _W], "zero": "padding zeros", "group": ["x_pad", 1, "input channel c"],
                 "selected": "c", "bias": 1, "multiples": _WINDOW_BY_CHANNEL},
        select={"n": 0, "f": 1},
    ),
    Phase(
        name="grad_x", result="grad_x", sources=("grad_out_pad", "w_rot"),
        term_box=_kernel_window, terms=_terms_grad_x, kinds=("conv",),
        tensors=("grad_out", "grad_out_pad", "grad_out_pad_mask", "w", "w_rot", "grad_x"),
        title="grad_x", subtitle="dL/dx",
        explain="Gather route: grad_out is spread by the stride (zeros inserted) and padded into grad_out_pad; each "
                "cell of grad_x is one window of it times w_rot, the kernel rotated 180 degrees (f and c swapped).",
        layout=(("grad_out", "\u2193", "grad_out_pad"), "\u22c6", ("w", "\u21bb 180\u00b0", "w_rot"), "=", "grad_x"),
        formula={"result": "Dx", "ops": [_DA, _W], "zero": "zeros of grad_out_pad",
                 "group": ["grad_out_pad", 1, "kernel f"], "selected": "f",
                 "multiples": {"pos": ["w_rot", 2, 3], "shape": ["KH", "KW"],
                               "grids": [["grad_out_pad", "grad_out_pad", "grad_out_value", "grad_out"],
                                         ["w_rot", "w_rot", "w_value", "w"]]}},
        select={"n": 0, "c": 1},
    ),
    Phase(
        name="grad_x_scatter", result="grad_out", sources=("grad_out", "w", "x_pad_target"),
        term_box=_window, terms=_terms_grad_x_scatter,
        tensors=("grad_out", "w", "grad_x"),
        title="grad_x", subtitle="scatter route", variant_of="grad_x", toggle="scatter",
        toggle_label="scatter route (spread each grad_out with w, no rotation)",
        explain="Scatter route: each grad_out value is spread back over the window it came from, times the kernel w "
                "as it is (no rotation); grad_x accumulates. Both routes give the same numbers.",
        layout=("grad_out", "\u00d7", "w", "\u2192", "grad_x"),
        formula={"result": "Dx", "ops": [_DA, _W], "zero": "", "group": None, "selected": None, "style": "scatter",
                 "target": "grad_x"},
        select={"n": 0, "f": 1}, steps_from="scatter", kinds=("conv",),
    ),
    Phase(
        name="grad_x_pad", result="grad_x_pad", sources=("grad_out_pad", "w_rot"),
        term_box=_kernel_window, terms=_terms_grad_x, kinds=("conv_mode",),
        tensors=("grad_out", "grad_out_pad", "grad_out_pad_mask", "w", "w_rot", "grad_x_pad"),
        title="grad_x", subtitle="1. dL/dx_pad",
        explain="Stage 1 of 2: the border of x_pad holds copies of x's cells, so first the gradient of every cell of "
                "x_pad, border included: grad_out spread by the stride and padded by dilation*(K-1) on each side "
                "(x_pad's own padding is not undone here), correlated with w_rot, the kernel rotated 180 degrees.",
        layout=(("grad_out", "\u2193", "grad_out_pad"), "\u22c6", ("w", "\u21bb 180\u00b0", "w_rot"), "=", "grad_x_pad"),
        formula={"result": "Dxp", "ops": [_DA, _W], "zero": "zeros of grad_out_pad",
                 "group": ["grad_out_pad", 1, "kernel f"], "selected": "f",
                 "multiples": {"pos": ["w_rot", 2, 3], "shape": ["KH", "KW"],
                               "grids": [["grad_out_pad", "grad_out_pad", "grad_out_value", "grad_out"],
                                         ["w_rot", "w_rot", "w_value", "w"]]}},
        select={"n": 0, "c": 1},
    ),
    Phase(
        name="fold", result="grad_x", sources=("grad_x_pad_copy",), term_box=_copies, terms=_terms_fold,
        kinds=("conv_mode",), window=False, tensors=("x", "x_pad", "grad_x_pad", "grad_x"),
        title="fold", subtitle="2. onto x",
        explain="Stage 2 of 2: each cell of x was used in the forward pass wherever x_pad holds a copy of it (itself, "
                "and its mirrored, repeated or wrapped copies on the border), so its gradient is the sum of "
                "grad_x_pad over all those cells: the fold adds each border cell back onto the cell it copies.",
        layout=("grad_x_pad", "\u2192 fold \u2192", "grad_x", ("x_pad",)),
        formula={"result": "Dx", "ops": [["Dxp", "grad_x_pad", "grad_x_pad_value"]], "zero": "", "group": None,
                 "selected": None},
        select={"n": 0, "c": 1},
    ),
    Phase(
        name="grad_w", result="grad_w", sources=("grad_out", "x_pad"), term_box=_outputs, terms=_terms_grad_w,
        tensors=("x", "x_pad", "grad_out", "grad_w"),
        title="grad_w", subtitle="dL/dw",
        explain="Each cell of grad_w is x_pad correlated with grad_out: the grad_out values times the x_pad cells that "
                "weight touched, summed over samples and positions. No rotation.",
        layout=("x_pad", "\u22c6", "grad_out", "=", "grad_w"),
        formula={"result": "Dw", "ops": [_DA, _PAD_X], "zero": "padding zeros", "group": ["grad_out", 0, "sample n"],
                 "selected": "n",
                 "multiples": {"pos": ["grad_out", 2, 3], "shape": ["Ho", "Wo"],
                               "grids": [["grad_out", "grad_out", "grad_out_value", None],
                                         ["x_pad", "x_pad", "x_value", "x"]]}},
        select={"f": 0, "c": 1}, select_local={"c": "f"},
    ),
    Phase(
        name="grad_b", result="grad_b", sources=("grad_out",), term_box=_outputs, terms=_terms_grad_b,
        tensors=("grad_out", "grad_b"),
        title="grad_b", subtitle="dL/db",
        explain="Each bias gradient is the sum of its kernel's grad_out over every sample and position.",
        layout=("\u03a3", "grad_out", "=", "grad_b"),
        formula={"result": "Db", "ops": [_DA], "zero": "", "group": ["grad_out", 0, "sample n"], "selected": "n"},
        select={"f": 0}, kinds=("conv", "conv_mode", "transposed"),
    ),
    Phase(
        name="update", result="w_new", sources=("w", "grad_w"), term_box=lambda g: (1,), terms=_terms_update,
        tensors=("w", "grad_w", "w_new", "b", "grad_b", "b_new"),
        title="update", subtitle="SGD step",
        explain="What the gradients are for: one step of gradient descent. Each weight moves against its gradient, "
                "w_new = w - lr * (grad_w + weight_decay * w), and each bias b_new = b - lr * grad_b (the bias is not "
                "decayed); lr and weight_decay are set in the problem panel.",
        layout=("w", "\u2212 lr\u00b7(", "grad_w", "+ wd\u00b7w) =", "w_new", ("b", "\u2212 lr\u00b7", "grad_b", "=", "b_new")),
        formula={"result": NOTATION["w_new"], "ops": [_W, ["Dw", "grad_w", "grad_w_value"]], "zero": "", "group": None,
                 "selected": None, "style": "update", "bias": 0,
                 "bias_symbols": [NOTATION["b_new"], NOTATION["b"], NOTATION["grad_b"]]},
        select={"f": 0, "c": 1}, select_local={"c": "f"}, kinds=("conv", "conv_mode", "transposed"),
    ),
    Phase(
        name="im2col", result="out", sources=("x_pad", "w"), term_box=_window, terms=_terms_forward,
        tensors=("x", "x_pad", "cols", "w_mat", "b", "out"), bias=True, trace="forward",
        title="im2col", subtitle="cols @ w_mat",
        explain="The fast method: every window of x_pad becomes one row of cols; the kernels become the columns of "
                "w_mat; one matrix product cols @ w_mat (+ b) gives every output at once.",
        layout=("x_pad", "\u2192", "cols", "\u00d7", ("w_mat", "+", "b"), "=", "out"),
        formula={"result": "a", "ops": [_PAD_X, _W], "zero": "padding zeros", "group": ["x_pad", 1, "input channel c"],
                 "selected": "c", "bias": 1, "multiples": _WINDOW_BY_CHANNEL},
        select={"n": 0},
    ),
    # the transposed convolution (ConvTranspose2d): the grad_x of a convolution, shown as one
    Phase(
        name="transposed_forward", result="out", sources=("x_pad", "w_rot"), term_box=_window,
        terms=_terms_transposed_forward, kinds=("transposed",), bias=True,
        tensors=("x", "x_pad", "w", "w_rot", "b", "out"),
        title="forward", subtitle="out (transposed)",
        explain="A transposed convolution is a convolution's grad_x: x is spread by the stride (zeros inserted between "
                "its rows and columns) and padded by dilation*(K-1) - padding on each side (cropped where that is "
                "negative; output_padding more at the bottom and right), then correlated with w_rot, the kernel "
                "rotated 180 degrees, with stride 1. Each output a is one window of it, plus the bias.",
        layout=(("x", "\u2193", "x_pad"), "\u22c6", ("w", "\u21bb 180\u00b0", "w_rot", "+", "b"), "=", "out"),
        formula={"result": "a", "ops": [_PAD_X, ["w", "w", "w_value"]], "zero": "inserted zeros",
                 "group": ["x_pad", 1, "input channel c"], "selected": "c", "bias": 1,
                 "multiples": {"pos": ["w_rot", 2, 3], "shape": ["KH", "KW"],
                               "grids": [["x_pad", "x_pad", "x_value", "x"], ["w_rot", "w_rot", "w_value", "w"]]}},
        select={"n": 0, "f": 1},
    ),
    Phase(
        name="transposed_scatter", result="x", sources=("x", "w", "out_target"), term_box=_kernel_window,
        terms=_terms_transposed_scatter, kinds=("transposed",), tensors=("x", "w", "out"),
        title="forward", subtitle="scatter view", variant_of="transposed_forward", toggle="stamp",
        toggle_label="scatter view (each x cell stamps the kernel into out)",
        explain="The same numbers, the other way round: each cell of x stamps the kernel w, scaled by its value, into "
                "out at its place times the stride, minus the padding; where stamps overlap they add up. Products "
                "that land on the padding border are cut off.",
        layout=("x", "\u00d7", "w", "\u2192", "out"),
        formula={"result": "a", "ops": [["x", "x", "x_value"], _W], "zero": "", "group": None, "selected": None,
                 "style": "scatter", "target": "out"},
        select={"n": 0, "c": 1},
    ),
    Phase(
        name="transposed_grad_x", result="grad_x", sources=("grad_out_pad", "w"), term_box=_kernel_window,
        terms=_terms_transposed_grad_x, kinds=("transposed",), tensors=("grad_out", "grad_out_pad", "w", "grad_x"),
        title="grad_x", subtitle="dL/dx (transposed)",
        explain="The backward pass of a transposed convolution is a plain convolution: grad_out in a border of "
                "padding zeros, read by windows that slide by the stride, times the kernel w as it is (no rotation): "
                "the forward pass of the convolution whose grad_x the transposed forward is.",
        layout=(("grad_out", "\u2193", "grad_out_pad"), "\u22c6", "w", "=", "grad_x"),
        formula={"result": "Dx", "ops": [_DA, _W], "zero": "padding zeros", "group": ["grad_out_pad", 1, "output channel f"],
                 "selected": "f",
                 "multiples": {"pos": ["w", 2, 3], "shape": ["KH", "KW"],
                               "grids": [["grad_out_pad", "grad_out_pad", "grad_out_value", "grad_out"],
                                         ["w", "w", "w_value", None]]}},
        select={"n": 0, "c": 1},
    ),
    Phase(
        name="transposed_grad_w", result="grad_w", sources=("x", "grad_out_pad"), term_box=_inputs,
        terms=_terms_transposed_grad_w, kinds=("transposed",), tensors=("x", "grad_out", "grad_out_pad", "grad_w"),
        title="grad_w", subtitle="dL/dw (transposed)",
        explain="Each weight collects x times the grad_out cell its product landed on: grad_out_pad correlated with x, "
                "read with the stride, summed over samples and input positions. No rotation.",
        layout=("grad_out_pad", "\u22c6", "x", "=", "grad_w"),
        formula={"result": "Dw", "ops": [["x", "x", "x_value"], _DA], "zero": "padding zeros",
                 "group": ["x", 0, "sample n"], "selected": "n"},
        select={"c": 0, "f": 1}, select_local={"f": "c"},
    ),
)

# The order the page shows the buttons in (and the API lists the phases): a problem's kind hides the
# phases that do not show it, so each stage of a pass sits where its plain counterpart does.
_ORDER = ("forward", "transposed_forward", "transposed_scatter", "grad_x", "grad_x_scatter", "grad_x_pad", "fold",
          "transposed_grad_x", "grad_w", "transposed_grad_w", "grad_b", "update", "im2col")
PHASE_LIST = tuple(sorted(PHASE_LIST, key=lambda p: _ORDER.index(p.name)))

#: every phase by name, in the order the page shows them
PHASES: dict[str, Phase] = {p.name: p for p in PHASE_LIST}
#: the phases ``Trace`` (and ``/api/v1/trace/{phase}``) serves, in order
TRACE_PHASES: tuple[str, ...] = tuple(p.name for p in PHASE_LIST if p.traced)


KIND_NAMES = {"conv": "a convolution with a zero border",
              "conv_mode": "a convolution whose border copies x (padding_mode reflect, replicate or circular)",
              "transposed": "a transposed convolution"}


def check_applies(entry: Phase, geo) -> None:
    """``ValueError`` naming the phases that show ``geo``'s kind of problem, if ``entry`` does not."""
    if not entry.applies(geo):
        names = [p.name for p in PHASE_LIST if p.applies(geo)]
        raise ValueError(f"phase {entry.name} does not show {KIND_NAMES[geo.kind]}; its phases are "
                         f"{', '.join(names)}")


def phase(name: str) -> Phase:
    """The registry entry ``name``; ``ValueError`` naming the phases otherwise."""
    try:
        return PHASES[name]
    except (KeyError, TypeError):
        raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {name!r}") from None
