"""Shapes, hyper-parameters and output size of a 2-D convolution (docs/conventions.md, "Output size").

Everything here is plain integer arithmetic on shapes and indices: it allocates no tensor, so
the problem service can check a request against its limits before any array is built. The index
maps (``tap``, ``x_pad_to_x``, ...) are the one place the convolution's index arithmetic lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
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


#: how ``x_pad``'s border is filled (as ``nn.Conv2d(padding_mode=...)``): zeros, or copies of x's cells
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
#: the padding strings PyTorch accepts
PADDING_STRINGS = ("same", "valid")
Pads = tuple[int, int, int, int]


def as_groups(value) -> int:
    """``groups`` as an int >= 1 (``ValueError`` otherwise)."""
    if isinstance(value, bool) or not (isinstance(value, int) or _is_numpy_int(value)) or int(value) < 1:
        raise ValueError(f"groups must be an integer >= 1, got {value!r}")
    return int(value)


def as_padding(value, *, kernel: Pair = (1, 1), stride: Pair = (1, 1), dilation: Pair = (1, 1),
               crop: bool = False) -> Pads:
    """``padding`` as ``(top, bottom, left, right)``: an int, a pair ``(vertical, horizontal)``
    (each on both sides), four values ``[top, bottom, left, right]``, ``"valid"`` (none) or
    ``"same"`` (out as large as x: ``dilation (K - 1)`` in all, the odd one at the bottom / right,
    as PyTorch; refused for stride > 1, as PyTorch refuses it). With ``crop`` (the padding modes
    reflect / replicate / circular) a side may be negative: it crops, as PyTorch's ``F.pad``.

    Raises ``ValueError`` saying what was received and what is allowed.
    """
    allowed = "an integer >= 0, a pair [vertical, horizontal], four values [top, bottom, left, right], 'same' or 'valid'"
    if isinstance(value, str):
        if value == "valid":
            return (0, 0, 0, 0)
        if value != "same":
            raise ValueError(f"padding must be {allowed}, got {value!r}")
        if tuple(stride) != (1, 1):
            raise ValueError(f"padding 'same' needs stride 1 on both axes (PyTorch refuses 'same' for strided "
                             f"convolutions: out could not be as large as x), got stride {list(stride)}")
        total_h, total_w = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
        return (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
    if isinstance(value, Sequence) and not isinstance(value, bytes) and len(value) == 4:
        if not all((isinstance(v, int) or _is_numpy_int(v)) and not isinstance(v, bool) for v in value):
            raise ValueError(f"padding must be {allowed}, got {_show(value)}")
        pads = tuple(int(v) for v in value)
        if min(pads) < 0 and not crop:
            raise ValueError(f"padding must be >= 0 on every side, got {_show(value)} ([top, bottom, left, right]); "
                             f"{_CROP_NOTE}")
        return pads  # type: ignore[return-value]
    if isinstance(value, Sequence) and not isinstance(value, bytes) and len(value) not in (2, 4):
        raise ValueError(f"padding must be {allowed}, got {_show(value)}")
    try:
        ph, pw = as_pair(value, "padding", minimum=-(2**63) if crop else 0)
    except ValueError as exc:
        if "must be >=" in str(exc):
            raise ValueError(f"{exc}; {_CROP_NOTE}") from None
        raise ValueError(f"padding must be {allowed}, got {value!r}") from None
    return (ph, ph, pw, pw)


#: why a negative side is refused in zeros mode and where it is allowed
_CROP_NOTE = ("a negative side crops x, allowed with padding_mode 'reflect', 'replicate' or 'circular' only "
              "(PyTorch's conv2d refuses negative padding; nn.Conv2d's other modes crop with F.pad)")


def as_padding_mode(value) -> str:
    if value not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(PADDING_MODES)}, got {value!r}")
    return value


def _copy_source(pos, before: int, after: int, size: int, mode: str):
    """Per axis: ``(valid, source)`` for positions ``pos`` of x_pad on an axis of x of ``size``
    cells with ``before`` / ``after`` cells of border (negative: that many of x's cells cropped),
    under ``mode``: the cell of x that position copies; zeros copies nothing.

    As PyTorch's ``F.pad`` (measured, torch 2.13): reflect mirrors about x's edge cell without
    repeating it and replicate repeats x's edge cell, both reading the offset ``pos - before``
    from x's first cell, uncropped x (reflect [-3, 3] of x0..x4 is x3 x4 x3 x2 x1); circular
    first crops, then wraps around what is left (circular [-2, 2] of x0..x4 is x2 x3 x4 x2 x3)."""
    pos = np.asarray(pos)
    k = pos - before
    if mode == "zeros":
        return (k >= 0) & (k < size), k
    if mode == "reflect":
        k = np.abs(k)
        k = np.where(k > size - 1, 2 * (size - 1) - k, k)
    elif mode == "replicate":
        k = np.clip(k, 0, size - 1)
    else:  # circular: wrap around the cells left after the crop, [first, first + kept)
        first, kept = max(-before, 0), size - max(-before, 0) - max(-after, 0)
        k = first + np.mod(pos - max(before, 0), kept)
    return np.ones(k.shape, dtype=bool), k


@dataclass(frozen=True)
class Geometry:
    """Every size of one convolution, derived once from the shapes of ``x`` and ``w``.

    Names follow docs/conventions.md: ``x`` is (N, C, H, W), ``w`` is (F, C/groups, KH, KW),
    ``out`` is (N, F, Ho, Wo); ``x_pad`` is (N, C, Hp, Wp); ``grad_out_pad`` is (N, F, Hg, Wg).
    ``padding`` is the (top, left) offset of x inside x_pad; ``pads`` all four sides, (top,
    bottom, left, right); ``padding_mode`` says what the border holds (zeros or copies of x).

    The sizes are ``cached_property``: computed on first use, then kept (the geometry is
    immutable), as the fast engine reads them dozens of times a call.
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
    groups: int = 1
    pads: Pads | None = None  # None: (ph, ph, pw, pw)
    padding_mode: str = "zeros"

    transposed = False

    def __post_init__(self):
        if self.pads is None:
            object.__setattr__(self, "pads", (self.padding[0], self.padding[0], self.padding[1], self.padding[1]))

    @classmethod
    def from_shapes(
        cls,
        x_shape: Sequence[int],
        w_shape: Sequence[int],
        *,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        padding_mode="zeros",
    ) -> "Geometry":
        """Validate shapes and hyper-parameters as PyTorch does (``nn.Conv2d``); raise
        ``ValueError`` on anything impossible, saying what was received and what is allowed."""
        stride = as_pair(stride, "stride", minimum=1)
        dilation = as_pair(dilation, "dilation", minimum=1)
        groups = as_groups(groups)
        padding_mode = as_padding_mode(padding_mode)
        x_shape, w_shape = _check_shapes(x_shape, w_shape, "(F, C/groups, KH, KW)")
        N, C, H, W = x_shape
        F, Cw, KH, KW = w_shape
        pads = as_padding(padding, kernel=(KH, KW), stride=stride, dilation=dilation, crop=padding_mode != "zeros")
        _check_groups(C, F, Cw, groups, x_shape, w_shape, per_group="C/groups", channels="input channels",
                      kernels="kernels F")
        _check_mode(pads, H, W, padding_mode)
        geo = cls(N, C, H, W, F, KH, KW, stride, (pads[0], pads[2]), dilation, groups, pads, padding_mode)
        if geo.Ho < 1 or geo.Wo < 1:
            raise ValueError(
                f"the kernel does not fit the padded input: dilated kernel is {geo.span_h}x{geo.span_w} "
                f"(KH={KH}, KW={KW}, dilation={list(dilation)}) but the padded input is {geo.Hp}x{geo.Wp} "
                f"(H={H}, W={W}, padding={geo.padding_arg}); the dilated kernel must not be larger than the padded input"
            )
        return geo

    # settings -------------------------------------------------------------------------------
    @cached_property
    def kind(self) -> str:
        """Which phases apply (convviz/trace/phases.py): "conv" (a zero border: grad_x by one gather),
        "conv_mode" (a border of copies: grad_x_pad by the gather, then the fold)."""
        return "conv" if self.padding_mode == "zeros" else "conv_mode"

    @cached_property
    def plain(self) -> bool:
        """No groups, a zero border of equal sides: the convolution of the tutorial."""
        top, bottom, left, right = self.pads
        return self.groups == 1 and self.padding_mode == "zeros" and top == bottom and left == right

    @property
    def padding_arg(self):
        """``padding`` as PyTorch's ``conv2d`` takes it where it can: ``[ph, pw]``, else the four
        sides ``[top, bottom, left, right]`` (for ``F.pad`` in the order (left, right, top, bottom))."""
        top, bottom, left, right = self.pads
        return [top, left] if (top, left) == (bottom, right) else [top, bottom, left, right]

    @property
    def hyper(self) -> dict:
        """The keyword arguments the engines take for this geometry (``conv2d_forward(x, w, b, **geo.hyper)``)."""
        return {"stride": self.stride, "padding": self.pads, "dilation": self.dilation, "groups": self.groups,
                "padding_mode": self.padding_mode}

    @cached_property
    def Cg(self) -> int:
        """Input channels each kernel sees: C / groups (w's second axis)."""
        return self.C // self.groups

    @cached_property
    def Fg(self) -> int:
        """Kernels of each group: F / groups."""
        return self.F // self.groups

    def x_channel(self, f, cg):
        """The input channel that channel ``cg`` of kernel ``f`` (``w[f, cg]``) reads: group(f)·C/groups + cg."""
        return (f // self.Fg) * self.Cg + cg

    def kernel_of(self, c, fg):
        """The ``fg``-th kernel of input channel ``c``'s group: group(c)·F/groups + fg."""
        return (c // self.Cg) * self.Fg + fg

    # sizes ---------------------------------------------------------------------------------
    @cached_property
    def span_h(self) -> int:
        """Rows of ``x_pad`` one window covers: dh (KH - 1) + 1."""
        return self.dilation[0] * (self.KH - 1) + 1

    @cached_property
    def span_w(self) -> int:
        return self.dilation[1] * (self.KW - 1) + 1

    @cached_property
    def Hp(self) -> int:
        """Rows of ``x_pad``: H + top + bottom."""
        return self.H + self.pads[0] + self.pads[1]

    @cached_property
    def Wp(self) -> int:
        return self.W + self.pads[2] + self.pads[3]

    @cached_property
    def Ho(self) -> int:
        return (self.Hp - self.span_h) // self.stride[0] + 1

    @cached_property
    def Wo(self) -> int:
        return (self.Wp - self.span_w) // self.stride[1] + 1

    @cached_property
    def remainder(self) -> Pair:
        """Rows / columns at the bottom / right of ``x_pad`` that no window reads."""
        return ((self.Hp - self.span_h) % self.stride[0], (self.Wp - self.span_w) % self.stride[1])

    @property
    def gather_result(self) -> str:
        """The tensor the gather form (``grad_out_pad`` correlated with ``w_rot``) computes:
        ``grad_x`` when the border is zeros (their gradient is dropped with them), ``grad_x_pad``
        when it holds copies of x (the fold then adds each copy's gradient onto its source)."""
        return "grad_x" if self.padding_mode == "zeros" else "grad_x_pad"

    @cached_property
    def _gather_pads(self) -> Pads:
        """The padding the gather form undoes: all of it in zeros mode, none in the others
        (there it computes the gradient with respect to x_pad itself)."""
        return self.pads if self.padding_mode == "zeros" else (0, 0, 0, 0)

    @cached_property
    def grad_out_pad_margins(self) -> tuple[int, int, int, int]:
        """Zeros added (negative: rows cropped) around the stride-dilated ``grad_out``.

        ``(top, bottom, left, right)`` = ``(dh(KH-1) - top, dh(KH-1) - bottom + r_h, ...)`` with
        top, bottom, ... the padding (zero in the modes that copy x: docs/conventions.md).
        """
        top, bottom, left, right = self._gather_pads
        return (self.span_h - 1 - top, self.span_h - 1 - bottom + self.remainder[0],
                self.span_w - 1 - left, self.span_w - 1 - right + self.remainder[1])

    @cached_property
    def Hg(self) -> int:
        """Rows of ``grad_out_pad``: H + dh (KH - 1) (Hp + dh (KH - 1) in the modes that copy x)."""
        return (self.H if self.padding_mode == "zeros" else self.Hp) + self.span_h - 1

    @cached_property
    def Wg(self) -> int:
        return (self.W if self.padding_mode == "zeros" else self.Wp) + self.span_w - 1

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
        """``(inside, h, v)``: the ``x`` cell at ``x_pad`` cell ``(hp, wp)``'s place (x_pad
        minus its border); ``inside`` is False on the border (``h``, ``v`` are then meaningless)."""
        h, v = hp - self.padding[0], wp - self.padding[1]
        return (h >= 0) & (h < self.H) & (v >= 0) & (v < self.W), h, v

    def x_pad_source(self, hp, wp):
        """``(valid, h, v)``: the ``x`` cell whose value ``x_pad`` cell ``(hp, wp)`` holds, a copy
        on the border in reflect / replicate / circular mode; ``valid`` is False on a zero."""
        top, bottom, left, right = self.pads
        ok_h, h = _copy_source(hp, top, bottom, self.H, self.padding_mode)
        ok_v, v = _copy_source(wp, left, right, self.W, self.padding_mode)
        return ok_h & ok_v, h, v

    def copies(self, axis: int) -> np.ndarray:
        """The fold's map on one axis (0: rows, 1: columns): ``(H, K)`` (or ``(W, K)``), row ``h``
        listing the x_pad rows that copy x's row ``h`` (itself first, then the border's copies in
        order), -1 where a row has fewer than the most ``K``. A row that a negative side crops away
        lists only the copies of it that are left (none: all -1, its gradient is 0)."""
        top, bottom, left, right = self.pads
        size, before, after, length = (self.H, top, bottom, self.Hp) if axis == 0 else (self.W, left, right, self.Wp)
        ok, src = _copy_source(np.arange(length), before, after, size, self.padding_mode)
        lists = [[before + h] if 0 <= before + h < length else [] for h in range(size)]
        for pos in range(length):
            if ok[pos] and pos != before + src[pos]:
                lists[src[pos]].append(pos)
        table = np.full((size, max(1, max(len(row) for row in lists))), -1, dtype=np.int64)
        for h, row in enumerate(lists):
            table[h, :len(row)] = row
        return table

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

    def w_rot_to_w(self, c, fg, p, q):
        """The ``w`` cell that ``w_rot[c, fg, p, q]`` holds: ``(f, cg, KH-1-p, KW-1-q)`` with ``f``
        the fg-th kernel of c's group and ``cg`` c's place in it (groups = 1: ``(fg, c, ...)``)."""
        return self.kernel_of(c, fg), np.mod(c, self.Cg), self.KH - 1 - p, self.KW - 1 - q

    # shapes --------------------------------------------------------------------------------
    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.C, self.H, self.W)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.F, self.Cg, self.KH, self.KW)

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

    grad_x_pad_shape = x_pad_shape

    @property
    def grad_out_pad_shape(self) -> tuple[int, int, int, int]:
        return (self.N, self.F, self.Hg, self.Wg)

    @property
    def w_rot_shape(self) -> tuple[int, int, int, int]:
        return (self.C, self.Fg, self.KH, self.KW)

    @property
    def cols_shape(self) -> tuple[int, int]:
        """The im2col matrix: one row per window (n, i, j), one column per (c, p, q)."""
        return (self.N * self.Ho * self.Wo, self.C * self.KH * self.KW)

    @property
    def w_mat_shape(self) -> tuple[int, int]:
        """The kernels as columns, (C*KH*KW, F): with groups, zeros outside each group's block."""
        return (self.C * self.KH * self.KW, self.F)

    @property
    def macs(self) -> int:
        """Multiply-adds of the forward pass (each backward product costs as many again)."""
        return self.N * self.F * self.Ho * self.Wo * self.Cg * self.KH * self.KW

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
            **self._settings_dict(),
        }

    def _settings_dict(self) -> dict:
        """groups, pads and padding_mode, where not the defaults (the plain case's answers stay
        byte for byte as they were)."""
        out = {}
        if self.groups != 1:
            out["groups"] = self.groups
        if self.pads != (self.padding[0], self.padding[0], self.padding[1], self.padding[1]):
            out["pads"] = list(self.pads)
        if self.padding_mode != "zeros":
            out["padding_mode"] = self.padding_mode
            out["kind"] = self.kind
        return out


def _check_shapes(x_shape, w_shape, w_layout: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    x_shape, w_shape = tuple(int(s) for s in x_shape), tuple(int(s) for s in w_shape)
    if len(x_shape) != 4 or min(x_shape) < 1:
        raise ValueError(f"x must have shape (N, C, H, W) with every size >= 1, got shape {x_shape}")
    if len(w_shape) != 4 or min(w_shape) < 1:
        raise ValueError(f"w must have shape {w_layout} with every size >= 1, got shape {w_shape}")
    return x_shape, w_shape


def _check_groups(C: int, F: int, Cw: int, groups: int, x_shape, w_shape, *, per_group: str, channels: str,
                  kernels: str) -> None:
    """PyTorch's rules: x's C = w's second axis times groups, and the kernels split evenly."""
    if Cw * groups != C:
        if groups == 1:
            raise ValueError(f"w has {Cw} input channels (shape {w_shape}) but x has {C} (shape {x_shape}); "
                             "w must be (F, C, KH, KW) with the C of x")
        raise ValueError(f"w has {Cw} input channels per group (shape {w_shape}) and groups={groups}, so x must have "
                         f"{Cw} x {groups} = {Cw * groups} channels, but x has {C} (shape {x_shape}); w must be "
                         f"(F, {per_group}, KH, KW)")
    if F % groups:
        raise ValueError(f"the {kernels} = {F} (w shape {w_shape}) must split evenly into groups={groups}: "
                         f"use a multiple of {groups}")


def _check_mode(pads: Pads, H: int, W: int, mode: str) -> None:
    """The border a mode can fill, as PyTorch's ``F.pad`` allows it: reflect mirrors without
    repeating the edge, so each side needs fewer cells than the axis has; circular wraps once.
    Negative sides crop (these modes only): at least one row and column must be left, and a
    circular side may not wrap more cells than the crop leaves (PyTorch accepts that but reads
    memory it never wrote: its answer differs from run to run, so there is none to match)."""
    if mode == "zeros":
        return
    top, bottom, left, right = pads
    for axis, size, first, last in (("H", H, top, bottom), ("W", W, left, right)):
        if size + first + last < 1:
            raise ValueError(f"padding {_show(list(pads))} ([top, bottom, left, right]) leaves {size + first + last} "
                             f"{'rows' if axis == 'H' else 'columns'} of x_pad ({axis} = {size}); negative sides crop, "
                             f"and at least one must be left")
    if mode not in ("reflect", "circular"):
        return
    for side, pad, size, axis in (("top", top, H, "H"), ("bottom", bottom, H, "H"),
                                  ("left", left, W, "W"), ("right", right, W, "W")):
        if mode == "reflect" and pad >= size:
            raise ValueError(f"padding_mode 'reflect' needs each side's padding below the input size on that axis "
                             f"(a mirror does not repeat the edge cell): {side} padding is {pad} but {axis} = {size}; "
                             f"allowed: at most {size - 1}")
        if mode == "circular" and pad > size:
            raise ValueError(f"padding_mode 'circular' wraps around at most once: {side} padding is {pad} but "
                             f"{axis} = {size}; allowed: at most {size}")
        kept = size + min(top, 0) + min(bottom, 0) if axis == "H" else size + min(left, 0) + min(right, 0)
        if mode == "circular" and pad > kept:
            raise ValueError(f"padding_mode 'circular' wraps around the cells the negative sides leave: {side} padding "
                             f"is {pad} but only {max(kept, 0)} of {axis} = {size} are left after the crop; allowed: at "
                             f"most {max(kept, 0)} (PyTorch accepts more, but then reads memory it never wrote)")


@dataclass(frozen=True)
class TransposedGeometry:
    """Every size of one transposed convolution (``ConvTranspose2d``; docs/conventions.md).

    ``x`` is (N, C, H, W), ``w`` is (C, F/groups, KH, KW) as ``ConvTranspose2d.weight``, ``out``
    is (N, F, Ho, Wo) with ``Ho = (H - 1) sh - 2 ph + dh (KH - 1) + oph + 1``. Shown as a
    convolution: ``x_pad`` is x dilated by the stride (sh - 1 zeros between rows) and padded by
    ``dh (KH - 1) - ph`` (cropped where negative; ``oph`` more at the bottom), (N, C, Hp, Wp);
    ``out`` is x_pad correlated (stride 1, dilation d) with ``w_rot``, w turned 180 degrees,
    (F, C/groups, KH, KW). Its backward to x is a plain convolution of ``grad_out_pad``
    (grad_out padded by ph / pw), (N, F, Ho + 2ph, Wo + 2pw), with ``w``.

    The index maps have the names and signatures of ``Geometry``'s, with these meanings.
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
    groups: int = 1
    output_padding: Pair = (0, 0)

    transposed = True
    padding_mode = "zeros"
    kind = "transposed"
    gather_result = "out"

    @classmethod
    def from_shapes(cls, x_shape, w_shape, *, stride=1, padding=0, output_padding=0, groups=1,
                    dilation=1) -> "TransposedGeometry":
        """Validate as PyTorch's ``conv_transpose2d``; ``ValueError`` saying what was received."""
        stride = as_pair(stride, "stride", minimum=1)
        dilation = as_pair(dilation, "dilation", minimum=1)
        groups = as_groups(groups)
        if isinstance(padding, str) or (isinstance(padding, Sequence) and len(padding) == 4):
            raise ValueError(f"a transposed convolution takes padding as an integer >= 0 or a pair [vertical, "
                             f"horizontal] (as PyTorch's conv_transpose2d), got {_show(padding)}")
        padding = as_pair(padding, "padding", minimum=0)
        output_padding = as_pair(output_padding, "output_padding", minimum=0)
        x_shape, w_shape = _check_shapes(x_shape, w_shape, "(C, F/groups, KH, KW)")
        N, C, H, W = x_shape
        Cw, Fg, KH, KW = w_shape
        if Cw != C:
            raise ValueError(f"w has {Cw} input channels on its first axis (shape {w_shape}) but x has {C} (shape "
                             f"{x_shape}); a transposed convolution's w is (C, F/groups, KH, KW) with the C of x")
        if C % groups:
            raise ValueError(f"the input channels C = {C} (x shape {x_shape}) must split evenly into groups={groups}: "
                             f"use a multiple of {groups}")
        for axis, op, s, d in ((0, output_padding[0], stride[0], dilation[0]),
                               (1, output_padding[1], stride[1], dilation[1])):
            if op >= max(s, d):
                raise ValueError(f"output_padding must be smaller than the stride or the dilation on each axis (as "
                                 f"PyTorch requires), got output_padding {list(output_padding)} with stride "
                                 f"{list(stride)} and dilation {list(dilation)}; allowed on the "
                                 f"{'vertical' if axis == 0 else 'horizontal'} axis: 0 to {max(s, d) - 1}")
        geo = cls(N, C, H, W, Fg * groups, KH, KW, stride, padding, dilation, groups, output_padding)
        if geo.Ho < 1 or geo.Wo < 1:
            raise ValueError(f"the output would be {geo.Ho}x{geo.Wo}: (H-1)*stride - 2*padding + dilation*(K-1) + "
                             f"output_padding + 1 with H x W = {H}x{W}, K = {KH}x{KW}, stride {list(stride)}, "
                             f"padding {list(padding)}, dilation {list(dilation)}, output_padding "
                             f"{list(output_padding)}; the padding must leave at least one row and one column")
        return geo

    # settings -------------------------------------------------------------------------------
    @property
    def hyper(self) -> dict:
        """The keyword arguments of ``conv_transpose2d(x, w, b, **geo.hyper)``."""
        return {"stride": self.stride, "padding": self.padding, "output_padding": self.output_padding,
                "groups": self.groups, "dilation": self.dilation}

    plain = False
    padding_arg = property(lambda self: list(self.padding))
    Cg = property(lambda self: self.C // self.groups, doc="Input channels of each group: C / groups.")
    Fg = property(lambda self: self.F // self.groups, doc="Output channels of each group: F / groups (w's second axis).")

    def x_channel(self, f, cg):
        """The input channel ``cg`` of output channel ``f``'s group: group(f)·C/groups + cg."""
        return (f // self.Fg) * self.Cg + cg

    def kernel_of(self, c, fg):
        """The ``fg``-th output channel of input channel ``c``'s group."""
        return (c // self.Cg) * self.Fg + fg

    # sizes ---------------------------------------------------------------------------------
    span_h = property(lambda self: self.dilation[0] * (self.KH - 1) + 1)
    span_w = property(lambda self: self.dilation[1] * (self.KW - 1) + 1)

    @property
    def Ho(self) -> int:
        return (self.H - 1) * self.stride[0] - 2 * self.padding[0] + self.span_h + self.output_padding[0]

    @property
    def Wo(self) -> int:
        return (self.W - 1) * self.stride[1] - 2 * self.padding[1] + self.span_w + self.output_padding[1]

    @property
    def x_pad_margins(self) -> tuple[int, int, int, int]:
        """Zeros around the stride-dilated x (negative: cropped): ``(dh(KH-1) - ph, dh(KH-1) - ph + oph, ...)``."""
        top, left = self.span_h - 1 - self.padding[0], self.span_w - 1 - self.padding[1]
        return (top, top + self.output_padding[0], left, left + self.output_padding[1])

    Hp = property(lambda self: self.Ho + self.span_h - 1, doc="Rows of x_pad: Ho + dh (KH - 1).")
    Wp = property(lambda self: self.Wo + self.span_w - 1)
    Hg = property(lambda self: self.Ho + 2 * self.padding[0], doc="Rows of grad_out_pad: Ho + 2 ph.")
    Wg = property(lambda self: self.Wo + 2 * self.padding[1])

    @cached_property  # built and validated once: the fast engine asks for it every call
    def dual(self) -> Geometry:
        """The convolution whose grad_x this forward is: x (N, F, Ho, Wo), w (C, F/groups, KH, KW)
        read as (F', C'/groups, ...), the same stride, padding, dilation and groups. Its output
        has H + floor(oph / sh) rows (more than H only when output_padding >= stride, which a
        dilation larger than the stride allows): the transposed forward is its grad_x for a
        grad_out of x followed by that many zero rows (columns likewise)."""
        return Geometry.from_shapes((self.N, self.F, self.Ho, self.Wo), (self.C, self.Fg, self.KH, self.KW),
                                    stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)

    # index maps ----------------------------------------------------------------------------
    def gather_tap(self, u, t, p, q):
        """The ``x_pad`` cell that ``out[., ., u, t]`` reads through ``w_rot`` cell ``(p, q)``."""
        return u + p * self.dilation[0], t + q * self.dilation[1]

    def x_pad_to_x(self, u, t):
        """``(real, i, j)``: the ``x`` cell at ``x_pad`` cell ``(u, t)``; ``real`` is False on an
        inserted zero (stride gap or margin), where ``i``, ``j`` are 0."""
        top, _, left, _ = self.x_pad_margins
        du, dt = np.asarray(u) - top, np.asarray(t) - left
        (sh, sw) = self.stride
        real = (du >= 0) & (du % sh == 0) & (du // sh < self.H) & (dt >= 0) & (dt % sw == 0) & (dt // sw < self.W)
        return real, np.where(real, du // sh, 0), np.where(real, dt // sw, 0)

    x_pad_source = x_pad_to_x

    def x_pad_to_dilated(self, u, t):
        """``(inside, du, dt)``: where x_pad cell ``(u, t)`` falls in the stride-dilated x; ``inside``
        is False in the margins."""
        top, _, left, _ = self.x_pad_margins
        du, dt = np.asarray(u) - top, np.asarray(t) - left
        inside = ((du >= 0) & (du <= (self.H - 1) * self.stride[0]) & (dt >= 0)
                  & (dt <= (self.W - 1) * self.stride[1]))
        return inside, du, dt

    def scatter_tap(self, i, j, p, q):
        """The ``out`` cell that ``x[., ., i, j]`` times ``w[., ., p, q]`` is added to, in the
        coordinates of ``grad_out_pad`` (out with its ph / pw border): ``(i*sh + p*dh, j*sw + q*dw)``."""
        return i * self.stride[0] + p * self.dilation[0], j * self.stride[1] + q * self.dilation[1]

    tap = scatter_tap  # grad_x reads grad_out_pad where forward wrote: a plain convolution's window

    def grad_out_pad_to_grad_out(self, u, t):
        """``(inside, i, j)``: the ``grad_out`` (= ``out``) cell at ``grad_out_pad`` cell ``(u, t)``;
        ``inside`` is False on the ph / pw border, where ``i``, ``j`` are 0."""
        i, j = np.asarray(u) - self.padding[0], np.asarray(t) - self.padding[1]
        inside = (i >= 0) & (i < self.Ho) & (j >= 0) & (j < self.Wo)
        return inside, np.where(inside, i, 0), np.where(inside, j, 0)

    def w_rot_to_w(self, f, cg, p, q):
        """The ``w`` cell that ``w_rot[f, cg, p, q]`` holds: ``(c, fg, KH-1-p, KW-1-q)``."""
        return self.x_channel(f, cg), np.mod(f, self.Fg), self.KH - 1 - p, self.KW - 1 - q

    # shapes --------------------------------------------------------------------------------
    x_shape = property(lambda self: (self.N, self.C, self.H, self.W))
    w_shape = property(lambda self: (self.C, self.Fg, self.KH, self.KW))
    out_shape = property(lambda self: (self.N, self.F, self.Ho, self.Wo))
    b_shape = property(lambda self: (self.F,))
    # each gradient has the shape of what it is the gradient of
    grad_out_shape = target_shape = out_shape
    grad_x_shape = x_shape
    grad_w_shape = w_new_shape = w_shape
    grad_b_shape = b_new_shape = b_shape
    x_pad_shape = property(lambda self: (self.N, self.C, self.Hp, self.Wp))
    grad_out_pad_shape = property(lambda self: (self.N, self.F, self.Hg, self.Wg))
    w_rot_shape = property(lambda self: (self.F, self.Cg, self.KH, self.KW))

    @property
    def macs(self) -> int:
        """Multiply-adds of the forward pass as the trace shows it (x_pad's zeros included), or
        as the scatter does it, whichever is more."""
        return max(self.N * self.F * self.Ho * self.Wo * self.Cg * self.KH * self.KW,
                   self.N * self.C * self.H * self.W * self.Fg * self.KH * self.KW)

    def as_dict(self) -> dict:
        top, bottom, left, right = self.x_pad_margins
        return {
            "N": self.N, "C": self.C, "H": self.H, "W": self.W, "F": self.F, "KH": self.KH, "KW": self.KW,
            "Ho": self.Ho, "Wo": self.Wo, "Hp": self.Hp, "Wp": self.Wp, "Hg": self.Hg, "Wg": self.Wg,
            "stride": list(self.stride), "padding": list(self.padding), "dilation": list(self.dilation),
            "output_padding": list(self.output_padding), "groups": self.groups, "transposed": True,
            "kind": self.kind, "x_pad_margins": {"top": top, "bottom": bottom, "left": left, "right": right},
            "macs": self.macs,
        }


def geometry_of(x_shape, w_shape, *, transposed: bool = False, **hyper):
    """``Geometry`` or, with ``transposed``, ``TransposedGeometry`` from the shapes and ``hyper``."""
    if transposed:
        return TransposedGeometry.from_shapes(x_shape, w_shape, **hyper)
    return Geometry.from_shapes(x_shape, w_shape, **hyper)
