"""One convolution problem, solved once: inputs, results and the tensors the page shows.

A ``Convolution`` is what every step trace observes. It runs the fast engine once (results)
and builds the artifacts of docs/conventions.md once; the traces then read single cells out of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..engine import Geometry, check_problem, dilate_and_pad, fast, im2col, kernel_matrix, pad_input, rotate_kernel
from ..engine.geometry import TransposedGeometry
from ..engine.checks import as_float_array, check_rates

VALUE_KINDS = ("integers", "normal", "ones")
#: where grad_out comes from: as given (a next layer's), L = sum(out), L = 1/2 sum((out - target)^2)
LOSSES = ("none", "sum", "mse")
#: the tensors the engine computes (the others are inputs or rearrangements of them)
RESULTS = ("out", "grad_x", "grad_w", "grad_b", "w_new", "b_new")
#: every tensor that is computed from the values (and checked for overflow) in some problem:
#: grad_x_pad is a result where the border copies x (padding modes), the first stage of grad_x
CHECKED_RESULTS = RESULTS + ("grad_x_pad",)


class OverflowInProblem(ValueError):
    """The inputs are finite but a result is not (float64 overflow)."""


@dataclass(frozen=True)
class Convolution:
    """x (N, C, H, W), w (F, C/groups, KH, KW) (transposed: (C, F/groups, KH, KW)), b (F,),
    grad_out (N, F, Ho, Wo), all float64; ``geo`` a ``Geometry`` or a ``TransposedGeometry``."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    grad_out: np.ndarray
    geo: Geometry | TransposedGeometry
    # the update step (docs/conventions.md): w_new = w - lr (grad_w + weight_decay w), b_new = b - lr grad_b
    lr: float = 0.01
    weight_decay: float = 0.0
    # where grad_out comes from (LOSSES); target (N, F, Ho, Wo) with loss "mse"
    loss: str = "none"
    target: np.ndarray | None = None

    @classmethod
    def from_arrays(cls, x, w, b=None, grad_out=None, *, stride=1, padding=0, dilation=1, groups=1,
                    padding_mode="zeros", transposed=False, output_padding=0, lr=0.01, weight_decay=0.0,
                    loss="none", target=None) -> "Convolution":
        """Validate (``ValueError`` saying what was received); ``b`` defaults to zeros and
        ``grad_out`` to ones, as for a loss ``L = sum(out)``.

        ``loss`` says where grad_out comes from: "none" (``grad_out`` as given: handed back by a
        next layer), "sum" (``L = sum(out)``: ones) or "mse" (``L = 1/2 sum((out - target)^2)``:
        ``out - target``, with ``target`` (N, F, Ho, Wo) defaulting to zeros)."""
        x, w, b, grad_out, geo = check_problem(x, w, b, grad_out, stride=stride, padding=padding, dilation=dilation,
                                               groups=groups, padding_mode=padding_mode, transposed=transposed,
                                               output_padding=output_padding)
        lr, weight_decay = check_rates(lr=lr, weight_decay=weight_decay)
        if b is None:
            b = np.zeros(geo.F)
        grad_out, target = _grad_out_of_loss(x, w, b, grad_out, loss, target, geo)
        return cls(x, w, b, grad_out, geo, lr, weight_decay, loss, target)

    # results (fast engine) -----------------------------------------------------------------
    @cached_property
    def _forward(self) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by _finite
            return forward(self.x, self.w, self.b, self.geo)

    @property
    def out(self) -> np.ndarray:
        """(N, F, Ho, Wo)"""
        return self._finite("out", self._forward)

    @cached_property
    def _backward(self):
        with np.errstate(over="ignore", invalid="ignore"):
            backward = fast.conv_transpose2d_backward if self.geo.transposed else fast.conv2d_backward
            return backward(self.x, self.w, self.grad_out, **self.geo.hyper)

    @property
    def grad_x(self) -> np.ndarray:
        """(N, C, H, W)"""
        return self._finite("grad_x", self._backward[0])

    @cached_property
    def _grad_x_pad(self) -> np.ndarray:
        if self.geo.transposed:
            raise ValueError("a transposed convolution has no grad_x_pad: its grad_x is a plain convolution of "
                             "grad_out_pad")
        with np.errstate(over="ignore", invalid="ignore"):
            return fast.grad_x_pad(self.x, self.w, self.grad_out, **self.geo.hyper)

    @property
    def grad_x_pad(self) -> np.ndarray:
        """(N, C, Hp, Wp): dL/d x_pad, border included (what grad_x crops, or what the fold adds onto x)."""
        return self._finite("grad_x_pad", self._grad_x_pad)

    @property
    def grad_w(self) -> np.ndarray:
        """(F, C, KH, KW)"""
        return self._finite("grad_w", self._backward[1])

    @property
    def grad_b(self) -> np.ndarray:
        """(F,)"""
        return self._finite("grad_b", self._backward[2])

    @property
    def results(self) -> tuple[str, ...]:
        """The results of this problem: RESULTS, and grad_x_pad where the border copies x."""
        return RESULTS + (("grad_x_pad",) if self.geo.kind == "conv_mode" else ())

    def check_finite(self) -> None:
        """Raise ``OverflowInProblem`` if any result overflowed float64."""
        for name in self.results:
            getattr(self, name)

    def overflowing(self, names=RESULTS) -> tuple[str, ...]:
        """Which of the results ``names`` overflow float64 (computing them); never raises."""
        raw = {"out": lambda: self._forward, "grad_x": lambda: self._backward[0],
               "grad_w": lambda: self._backward[1], "grad_b": lambda: self._backward[2],
               "w_new": lambda: self._update[0], "b_new": lambda: self._update[1],
               "grad_x_pad": lambda: self._grad_x_pad}
        return tuple(name for name in names if name in raw and name in self.results
                     and not np.all(np.isfinite(raw[name]())))

    # the update step (one SGD step with weight decay on the kernels) ------------------------
    @cached_property
    def _update(self):
        _, grad_w, grad_b = self._backward
        if not (np.all(np.isfinite(grad_w)) and np.all(np.isfinite(grad_b))):  # no step from an overflowed gradient
            return np.full(self.w.shape, np.inf), np.full(self.b.shape, np.inf)
        with np.errstate(over="ignore", invalid="ignore"):
            return fast.sgd_update(self.w, self.b, grad_w, grad_b, lr=self.lr, weight_decay=self.weight_decay,
                                   transposed=self.geo.transposed)

    @property
    def w_new(self) -> np.ndarray:
        """(F, C, KH, KW): w - lr * (grad_w + weight_decay * w)"""
        return self._finite("w_new", self._update[0])

    @property
    def b_new(self) -> np.ndarray:
        """(F,): b - lr * grad_b"""
        return self._finite("b_new", self._update[1])

    # artifacts ------------------------------------------------------------------------------
    @cached_property
    def x_pad(self) -> np.ndarray:
        """(N, C, Hp, Wp): x in its border (zeros or copies); transposed: x dilated by the stride and padded."""
        return pad_input(self.x, self.geo)

    def x_pad_source(self) -> list:
        """For each cell of x_pad (N, C, Hp, Wp, nested lists), the index [n, c, h, v] of the x
        cell whose value it holds (a copy on the border of a padding mode), or None for a zero."""
        hp, wp = np.indices((self.geo.Hp, self.geo.Wp))
        valid, h, v = self.geo.x_pad_source(hp, wp)
        cells = [[[h_, v_] if ok else None for ok, h_, v_ in zip(*rows)]
                 for rows in zip(valid.tolist(), h.tolist(), v.tolist())]
        return [[[[None if cell is None else [n, c, *cell] for cell in row] for row in cells]
                 for c in range(self.geo.C)] for n in range(self.geo.N)]

    @property
    def x_pad_mask(self) -> np.ndarray:
        """(Hp, Wp) bool, transposed only: True where x_pad holds a cell of x (not an inserted zero)."""
        hp, wp = np.indices((self.geo.Hp, self.geo.Wp))
        return self.geo.x_pad_source(hp, wp)[0]

    @cached_property
    def _grad_out_pad(self):
        return dilate_and_pad(self.grad_out, self.geo)

    @property
    def grad_out_pad(self) -> np.ndarray:
        """(N, F, Hg, Wg): grad_out dilated by the stride and padded (docs/conventions.md)."""
        return self._grad_out_pad[0]

    @property
    def grad_out_pad_mask(self) -> np.ndarray:
        """(Hg, Wg) bool: True where grad_out_pad holds a real grad_out value."""
        return self._grad_out_pad[1]

    @cached_property
    def w_rot(self) -> np.ndarray:
        """(C, F/groups, KH, KW); transposed: (F, C/groups, KH, KW)"""
        return rotate_kernel(self.w, self.geo.groups)

    @cached_property
    def cols(self) -> np.ndarray:
        """(N*Ho*Wo, C*KH*KW): the unrolled input, one row per window."""
        self._no_im2col()
        return im2col(self.x_pad, self.geo)

    @cached_property
    def w_mat(self) -> np.ndarray:
        """(C*KH*KW, F): the kernels as columns (one block per group); ``cols @ w_mat + b`` is ``out`` unrolled."""
        self._no_im2col()
        return kernel_matrix(self.w, self.geo.groups)

    # helpers --------------------------------------------------------------------------------
    def _no_im2col(self) -> None:
        if self.geo.transposed:
            raise ValueError("im2col is shown for convolutions; a transposed convolution is shown as the correlation "
                             "of x_pad with w_rot and as a scatter")

    @staticmethod
    def _finite(name: str, arr: np.ndarray) -> np.ndarray:
        if not np.all(np.isfinite(arr)):
            raise OverflowInProblem(
                f"{name} overflows float64 (largest finite value {np.finfo(np.float64).max:.3g}) for these inputs; "
                "use smaller values"
            )
        arr.flags.writeable = False  # computed once, then shared (a solved problem serves every thread)
        return arr


def generate_arrays(geo_or_shapes, kind: str, seed: int) -> dict[str, np.ndarray]:
    """Values for x, w, b, grad_out (and target, for loss "mse") of a given geometry,
    reproducible from ``(kind, seed)``.

    Each tensor has its own random stream (seed, k), so giving one tensor explicitly or
    changing the stride (and with it grad_out's shape) leaves the others unchanged.
    ``integers``: whole numbers in [-3, 3]; ``normal``: standard normal; ``ones``: ones
    (and a zero bias, so each output counts the real input cells of its window).
    """
    if kind not in VALUE_KINDS:
        raise ValueError(f"values must be one of {', '.join(VALUE_KINDS)}, got {kind!r}")
    geo: Geometry = geo_or_shapes
    shapes = {"x": geo.x_shape, "w": geo.w_shape, "b": (geo.F,), "grad_out": geo.out_shape, "target": geo.out_shape}
    arrays = {}
    for k, (name, shape) in enumerate(shapes.items()):
        rng = np.random.default_rng([seed, k])
        if kind == "integers":
            arrays[name] = rng.integers(-3, 4, size=shape).astype(np.float64)
        elif kind == "normal":
            arrays[name] = rng.standard_normal(shape)
        else:
            arrays[name] = np.zeros(shape) if name == "b" else np.ones(shape)
    return arrays


def _grad_out_of_loss(x, w, b, grad_out, loss, target, geo: Geometry):
    """grad_out (N, F, Ho, Wo) as ``loss`` makes it, and the target it used (or None)."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    if loss != "mse" and target is not None:
        raise ValueError(f"target is used only with loss 'mse' (L = 1/2 sum((out - target)^2)), got loss {loss!r}")
    if loss == "none":
        return (np.ones(geo.out_shape) if grad_out is None else grad_out), None
    if grad_out is not None:
        raise ValueError(f"give grad_out or loss {loss!r} (which makes grad_out), not both")
    if loss == "sum":
        return np.ones(geo.out_shape), None  # dL/d out of L = sum(out)
    target = np.zeros(geo.out_shape) if target is None else as_float_array(target, "target", 4)
    if target.shape != geo.out_shape:
        raise ValueError(f"target must have the shape of out, (N, F, Ho, Wo) = {geo.out_shape}, got shape {target.shape}")
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow shows up in the results
        return forward(x, w, b, geo) - target, target  # dL/d out of L = 1/2 sum((out - target)^2)


def forward(x, w, b, geo) -> np.ndarray:
    """The fast engine's forward pass for ``geo`` (a convolution or a transposed one)."""
    if geo.transposed:
        return fast.conv_transpose2d(x, w, b, **geo.hyper)
    return fast.conv2d_forward(x, w, b, **geo.hyper)
