"""Shapes, hyper-parameters and output size of a 2-D convolution (docs/conventions.md, "Output size").

Everything here is plain integer arithmetic on shapes and indices: it allocates no tensor, so
the problem service can check a request against its limits before any array is built. The index
maps (``tap``, ``x_pad_to_x``, ...) are the one place the convolution's index arithmetic lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

Pair = tuple[int, int]


def as_pair(value, name: str, *, minimum: int) -> Pair:
    """Normalise an int or a pair of ints to ``(vertical, horizontal)``.

    Raises ``ValueError`` saying what was received and what is allowed.
    """
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer or a pair of integers >= {minimum}, got {value!r}")
    if isinstance(value, int) or _is_numpy_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and len(value) == 2 and all(
        (isinstance(v, int) or _is_numpy_int(v)) and not isinstance(v, bool) for v in value
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be an integer or a pair of integers >= {minimum}, got {value!r}")
    if pair[0] < minimum or pair[1] < minimum:
        raise ValueError(f"{name} must be >= {minimum} on both axes, got {_show(value)}")
    return pair


def _is_numpy_int(value) -> bool:
    return isinstance(value, np.integer)


def _show(value) -> str:
    return repr(list(value)) if isinstance(value, (tuple, list)) else repr(value)


@dataclass(frozen=True)
class Geometry:
    """Every size of one convolution, derived once from the shapes of ``x`` and ``w``.

    Names follow docs/conventions.md: ``x`` is (N, C, H, W), ``w`` is (F, C, KH, KW), ``out`` is
    (N, F, Ho, Wo); ``x_pad`` is (N, C, Hp, Wp); ``grad_out_pad`` is (N, F, Hg, Wg).
    """

    N: int
    C: int
    H: int
    W: int
    F: int
    KH: int
    KW: int
    stride: Pair
    padding: Pair
    dilation: Pair

    @classmethod
    def from_shapes(
        cls,
        x_shape: Sequence[int],
        w_shape: Sequence[int],
        *,
        stride=1,
        padding=0,
        dilation=1,
    ) -> "Geometry":
        """Validate shapes and hyper-parameters; raise ``ValueError`` on anything impossible."""
        stride = as_pair(stride, "stride", minimum=1)
        padding = as_pair(padding, "padding", minimum=0)
        dilation = as_pair(dilation, "dilation", minimum=1)
        x_shape, w_shape = tuple(x_shape), tuple(w_shape)
        if len(x_shape) != 4 or min(x_shape) < 1:
            raise ValueError(f"x must have shape (N, C, H, W) with every size >= 1, got shape {x_shape}")
        if len(w_shape) != 4 or min(w_shape) < 1:
            raise ValueError(f"w must have shape (F, C, KH, KW) with every size >= 1, got shape {w_shape}")
        N, C, H, W = (int(s) for s in x_shape)
        F, Cw, KH, KW = (int(s) for s in w_shape)
        if Cw != C:
            raise ValueError(
                f"w has {Cw} input channels (shape {w_shape}) but x has {C} (shape {x_shape}); "
                "w must be (F, C, KH, KW) with the C of x"
            )
        geo = cls(N, C, H, W, F, KH, KW, stride, padding, dilation)
        if geo.Ho < 1 or geo.Wo < 1:
            raise ValueError(
                f"the kernel does not fit the padded input: dilated kernel is {geo.span_h}x{geo.span_w} "
                f"(KH={KH}, KW={KW}, dilation={list(dilation)}) but the padded input is {geo.Hp}x{geo.Wp} "
                f"(H={H}, W={W}, padding={list(padding)}); the dilated kernel must not be larger than the padded input"
            )
        return geo

    # sizes ---------------------------------------------------------------------------------
    @property
    def span_h(self) -> int:
        """Rows of ``x_pad`` one window covers: dh (KH - 1) + 1."""
        return self.dilation[0] * (self.KH - 1) + 1

    @property
    def span_w(self) -> int:
        return self.dilation[1] * (self.KW - 1) + 1

    @property
    def Hp(self) -> int:
        return self.H + 2 * self.padding[0]

    @property
    def Wp(self) -> int:
        return self.W + 2 * self.padding[1]

    @property
    def Ho(self) -> int:
        return (self.Hp - self.span_h) // self.stride[0] + 1

    @property
    def Wo(self) -> int:
        return (self.Wp - self.span_w) // self.stride[1] + 1

    @property
    def remainder(self) -> Pair:
        """Rows / columns at the bottom / right of ``x_pad`` that no window reads."""
        return ((self.Hp - self.span_h) % self.stride[0], (self.Wp - self.span_w) % self.stride[1])

    @property
    def grad_out_pad_margins(self) -> tuple[int, int, int, int]:
        """Zeros added (negative: rows cropped) around the stride-dilated ``grad_out``.

        ``(top, bottom, left, right)`` = ``(dh(KH-1) - ph, dh(KH-1) - ph + r_h, ...)`` (docs/conventions.md).
        """
        top = self.span_h - 1 - self.padding[0]
        left = self.span_w - 1 - self.padding[1]
        return (top, top + self.remainder[0], left, left + self.remainder[1])

    @property
    def Hg(self) -> int:
        """Rows of ``grad_out_pad``: H + dh (KH - 1)."""
        return self.H + self.span_h - 1

    @property
    def Wg(self) -> int:
        return self.W + self.span_w - 1

    # index maps: the convolution's index arithmetic, written once ----------------------------
    # Each works on ints or on broadcasting integer arrays. The naive engine keeps its literal
    # loops (they are the readable reference); everything else asks these.
    def tap(self, i, j, p, q):
        """The ``x_pad`` cell ``(hp, wp)`` that output ``(i, j)`` reads through kernel cell ``(p, q)``:
        ``(i*sh + p*dh, j*sw + q*dw)``. The window of ``(i, j)`` starts at ``tap(i, j, 0, 0)``."""
        return i * self.stride[0] + p * self.dilation[0], j * self.stride[1] + q * self.dilation[1]

    def tap_slices(self, p: int, q: int) -> tuple[slice, slice]:
        """Rows and columns of ``x_pad`` that kernel cell ``(p, q)`` reads over every output, as
        slices: ``x_pad[..., rows, cols]`` is (Ho, Wo), cell ``(i, j)`` read by output ``(i, j)``."""
        (sh, sw), (dh, dw) = self.stride, self.dilation
        return (slice(p * dh, p * dh + (self.Ho - 1) * sh + 1, sh),
                slice(q * dw, q * dw + (self.Wo - 1) * sw + 1, sw))

    def x_pad_read(self) -> tuple[np.ndarray, np.ndarray]:
        """Which rows (Hp,) and columns (Wp,) of ``x_pad`` some window reads: row ``i*sh + p*dh``
        for some output row ``i`` and kernel row ``p``, likewise columns. A cell is read by some
        window exactly when its row and its column are (windows are a row set times a column
        set). Not only the stride's remainder: a stride longer than the window skips rows between
        windows (x 1x5, w 1x1, stride 3: columns 1, 2 and 4 are never read)."""
        rows, cols = np.zeros(self.Hp, dtype=bool), np.zeros(self.Wp, dtype=bool)
        for p in range(self.KH):
            rows[self.tap_slices(p, 0)[0]] = True
        for q in range(self.KW):
            cols[self.tap_slices(0, q)[1]] = True
        return rows, cols

    def gather_tap(self, h, v, p, q):
        """The ``grad_out_pad`` cell ``(u, t)`` that ``grad_x[., ., h, v]`` reads through ``w_rot``
        cell ``(p, q)``: ``(h + p*dh, v + q*dw)`` (a stride-1 correlation)."""
        return h + p * self.dilation[0], v + q * self.dilation[1]

    def x_pad_to_x(self, hp, wp):
        """``(inside, h, v)``: the ``x`` cell that ``x_pad`` cell ``(hp, wp)`` holds;
        ``inside`` is False on the padding ring (``h``, ``v`` are then meaningless)."""
        h, v = hp - self.padding[0], wp - self.padding[1]
        return (h >= 0) & (h < self.H) & (v >= 0) & (v < self.W), h, v

    def grad_out_pad_to_dilated(self, u, t):
        """``(inside, du, dt)``: where ``grad_out_pad`` cell ``(u, t)`` falls in the stride-dilated
        ``grad_out`` (``grad_out[i, j]`` sits at ``(i*sh, j*sw)``); ``inside`` is False in the
        margins padded around it."""
        top, _, left, _ = self.grad_out_pad_margins
        du, dt = np.asarray(u) - top, np.asarray(t) - left
        inside = (du >= 0) & (du <= (self.Ho - 1) * self.stride[0]) & (dt >= 0) & (dt <= (self.Wo - 1) * self.stride[1])
        return inside, du, dt

    def grad_out_pad_to_grad_out(self, u, t):
        """``(real, i, j)``: the ``grad_out`` cell that ``grad_out_pad`` cell ``(u, t)`` holds;
        ``real`` is False on an inserted zero (margin or stride gap), where ``i``, ``j`` are 0."""
        inside, du, dt = self.grad_out_pad_to_dilated(u, t)
        (sh, sw) = self.stride
        real = inside & (du % sh == 0) & (dt % sw == 0)
        return real, np.where(real, du // sh, 0), np.where(real, dt // sw, 0)

    def w_rot_to_w(self, c, f, p, q):
        """The ``w`` cell that ``w_rot[c, f, p, q]`` holds: ``(f, c, KH-1-p, KW-1-q)``."""
        return f, c, self.KH - 1 - p, self.KW - 1 - q

    # shapes --------------------------------------------------------------------------------
    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.C, self.H, self.W)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.F, self.C, self.KH, self.KW)

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.F, self.Ho, self.Wo)

    @property
    def b_shape(self) -> tuple[int]:
        return (self.F,)

    @property
    def grad_out_shape(self) -> tuple[int, int, int, int]:
        return self.out_shape

    # each gradient has the shape of what it is the gradient of
    grad_x_shape = x_shape
    grad_w_shape = w_shape
    grad_b_shape = b_shape
    # the update step's results have the shapes of what they update; a loss's target, that of out
    w_new_shape = w_shape
    b_new_shape = b_shape
    target_shape = out_shape

    @property
    def x_pad_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.C, self.Hp, self.Wp)

    @property
    def grad_out_pad_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.F, self.Hg, self.Wg)

    @property
    def w_rot_shape(self) -> tuple[int, int, int, int]:
        return (self.C, self.F, self.KH, self.KW)

    @property
    def cols_shape(self) -> tuple[int, int]:
        """The im2col matrix: one row per window (n, i, j), one column per (c, p, q)."""
        return (self.N * self.Ho * self.Wo, self.C * self.KH * self.KW)

    @property
    def macs(self) -> int:
        """Multiply-adds of the forward pass (each backward product costs as many again)."""
        return self.N * self.F * self.Ho * self.Wo * self.C * self.KH * self.KW

    def as_dict(self) -> dict:
        top, bottom, left, right = self.grad_out_pad_margins
        return {
            "N": self.N, "C": self.C, "H": self.H, "W": self.W,
            "F": self.F, "KH": self.KH, "KW": self.KW,
            "Ho": self.Ho, "Wo": self.Wo, "Hp": self.Hp, "Wp": self.Wp, "Hg": self.Hg, "Wg": self.Wg,
            "stride": list(self.stride), "padding": list(self.padding), "dilation": list(self.dilation),
            "remainder": list(self.remainder),
            "grad_out_pad_margins": {"top": top, "bottom": bottom, "left": left, "right": right},
            "macs": self.macs,
        }
