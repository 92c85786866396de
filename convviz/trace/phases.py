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
            "steps_from": self.steps_from,
        }


def _flat(conv: Convolution, tensor: str, *index) -> np.ndarray:
    return np.ravel_multi_index(index, getattr(conv.geo, tensor + "_shape"))


def _cells(conv: Convolution, tensor: str, flat: np.ndarray) -> np.ndarray:
    return getattr(conv, tensor).reshape(-1)[flat]


# term sets --------------------------------------------------------------------------------------
def _terms_forward(conv, at, box):
    n, f, i, j = at
    c, p, q = box
    a = _flat(conv, "x_pad", n, c, *conv.geo.tap(i, j, p, q))
    b = _flat(conv, "w", f, c, p, q)
    return (a, b), _cells(conv, "x_pad", a) * _cells(conv, "w", b)


def _terms_grad_x(conv, at, box):
    n, c, h, v = at
    f, p, q = box
    a = _flat(conv, "grad_out_pad", n, f, *conv.geo.gather_tap(h, v, p, q))
    b = np.broadcast_to(_flat(conv, "w_rot", c, f, p, q), a.shape)
    return (a, b), _cells(conv, "grad_out_pad", a) * _cells(conv, "w_rot", b)


def _terms_grad_x_scatter(conv, at, box):
    n, f, i, j = at
    c, p, q = box
    hp, wp = conv.geo.tap(i, j, p, q)
    a = np.broadcast_to(_flat(conv, "grad_out", n, f, i, j), hp.shape)
    b = np.broadcast_to(_flat(conv, "w", f, c, p, q), hp.shape)
    target = _flat(conv, "x_pad", np.broadcast_to(n, hp.shape), c, hp, wp)
    return (a, b, target), _cells(conv, "grad_out", a) * _cells(conv, "w", b)


def _terms_grad_w(conv, at, box):
    f, c, p, q = at
    n, i, j = box
    a = _flat(conv, "grad_out", n, f, i, j)
    b = _flat(conv, "x_pad", n, c, *conv.geo.tap(i, j, p, q))
    return (a, b), _cells(conv, "grad_out", a) * _cells(conv, "x_pad", b)


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
    return (g.C, g.KH, g.KW)


def _outputs(g: Geometry) -> tuple[int, ...]:
    return (g.N, g.Ho, g.Wo)


#: the page's name of each tensor in formulas and tooltips (docs/conventions.md, section 8): a = out,
#: Da = grad_out, ...; a tensor that shows another's cells (x_pad shows x) is named as that one
NOTATION = {"x": "x", "x_pad": "x", "cols": "x", "w": "w", "w_rot": "w", "b": "b", "out": "a", "grad_out": "Da",
            "grad_out_pad": "Da", "grad_x": "Dx", "grad_w": "Dw", "grad_b": "Db", "w_new": "w\u2032",
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
                "channel, plus the bias b. The window slides by the stride; dilation spreads its cells apart.",
        layout=("x_pad", "\u22c6", ("w", "+", "b"), "=", "out"),
        formula={"result": "a", "ops": [_PAD_X, _W], "zero": "padding zeros", "group": ["x_pad", 1, "input channel c"],
                 "selected": "c", "bias": 1, "multiples": _WINDOW_BY_CHANNEL},
        select={"n": 0, "f": 1},
    ),
    Phase(
        name="grad_x", result="grad_x", sources=("grad_out_pad", "w_rot"),
        term_box=lambda g: (g.F, g.KH, g.KW), terms=_terms_grad_x,
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
        select={"n": 0, "f": 1}, steps_from="scatter",
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
        select={"f": 0, "c": 1},
    ),
    Phase(
        name="grad_b", result="grad_b", sources=("grad_out",), term_box=_outputs, terms=_terms_grad_b,
        tensors=("grad_out", "grad_b"),
        title="grad_b", subtitle="dL/db",
        explain="Each bias gradient is the sum of its kernel's grad_out over every sample and position.",
        layout=("\u03a3", "grad_out", "=", "grad_b"),
        formula={"result": "Db", "ops": [_DA], "zero": "", "group": ["grad_out", 0, "sample n"], "selected": "n"},
        select={"f": 0},
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
        select={"f": 0, "c": 1},
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
)

#: every phase by name, in the order the page shows them
PHASES: dict[str, Phase] = {p.name: p for p in PHASE_LIST}
#: the phases ``Trace`` (and ``/api/v1/trace/{phase}``) serves, in order
TRACE_PHASES: tuple[str, ...] = tuple(p.name for p in PHASE_LIST if p.traced)


def phase(name: str) -> Phase:
    """The registry entry ``name``; ``ValueError`` naming the phases otherwise."""
    try:
        return PHASES[name]
    except (KeyError, TypeError):
        raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {name!r}") from None
