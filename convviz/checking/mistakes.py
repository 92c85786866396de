"""The known mistakes of a hand-written convolution, each as what it computes.

A mistake is a *model*: given the problem (x, w, b, grad_out and its ``Geometry``) it returns the
tensor that an implementation making that mistake returns. ``diagnose.py`` names a mistake only
when the learner's numbers equal the model's wherever the model differs from the right answer.

Mistakes that can occur together in one implementation sit in different *slots* of the tensor
they spoil (grad_x: the route that builds the gradient of ``x_pad``, then the crop back to ``x``),
and combine: the tutorial's own backward rotates the kernel in its scatter loop *and* crops with
``[p:-p]``. A slot's variants (e.g. "cropped at the top-left" and "not cropped at all") are ways
of making one named mistake.

Models return an ``ndarray``; ``EMPTY`` where the mistake leaves a zero-size result (the code
raises, or returns an empty array); ``None`` where the mistake cannot be made (a transpose that
only type-checks when C == F).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..engine import Geometry
from ..engine import fast as engine

EMPTY = "empty"  # a prediction: the result has no cells (e.g. x_pad[:, :, 0:-0, 0:-0])


@dataclass(frozen=True)
class Mistake:
    """One named mistake: stable ``code``, a ``title``, and an explanation that points at the page."""

    code: str
    tensor: str  # "out" | "grad_x" | "grad_w" | "grad_b"
    title: str
    explanation: str
    slot: str  # mistakes of one slot exclude each other; of different slots, combine
    variants: tuple[str, ...] = ()  # the ways of making it; each is an argument of its slot's model


@dataclass(frozen=True)
class Problem:
    """The numbers a check runs on: x (N, C, H, W), w (F, C, KH, KW), b (F,), grad_out (N, F, Ho, Wo)."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    grad_out: np.ndarray
    geo: Geometry

    @property
    def hyper(self) -> dict:
        return {"stride": self.geo.stride, "padding": self.geo.padding, "dilation": self.geo.dilation}


# --- out ------------------------------------------------------------------------------------
# out = correlate(x, kernel) + bias; the kernel slot and the bias slot combine.

def _flipped(w: np.ndarray) -> np.ndarray:
    return w[:, :, ::-1, ::-1]


def model_out(pb: Problem, kernel: str | None, bias: str | None):
    w = _flipped(pb.w) if kernel else pb.w
    b = None if bias else pb.b
    return engine.conv2d_forward(pb.x, w, b, **pb.hyper)


# --- grad_x ---------------------------------------------------------------------------------
# Route: how the gradient of x_pad (N, C, Hp, Wp) is built; crop: how grad_x is cut out of it.

def _scatter(grad_out: np.ndarray, w: np.ndarray, geo: Geometry, *, dilate: bool = True) -> np.ndarray:
    """Each grad_out cell stamps its kernel (w, (F, C, KH, KW)) into grad_x_pad (N, C, Hp, Wp).

    ``dilate=False`` places window (i, j) at (i, j) * 1 instead of (i, j) * stride: the gather
    form with grad_out padded but not spread apart by the stride."""
    sh, sw = geo.stride if dilate else (1, 1)
    (dh, dw), (Ho, Wo) = geo.dilation, (geo.Ho, geo.Wo)
    grad_x_pad = np.zeros((geo.N, geo.C, geo.Hp, geo.Wp))
    for p in range(geo.KH):
        for q in range(geo.KW):
            rows = slice(p * dh, p * dh + (Ho - 1) * sh + 1, sh)
            cols = slice(q * dw, q * dw + (Wo - 1) * sw + 1, sw)
            grad_x_pad[:, :, rows, cols] += np.einsum("nfij,fc->ncij", grad_out, w[:, :, p, q])
    return grad_x_pad


def _route(pb: Problem, route: str | None):
    if route is None:
        return _scatter(pb.grad_out, pb.w, pb.geo)
    if route == "rotated_kernel_in_scatter":
        return _scatter(pb.grad_out, _flipped(pb.w), pb.geo)
    if route == "channels_not_swapped":
        if pb.geo.C != pb.geo.F:
            return None  # w[c, f] does not exist unless C == F: such code fails at once
        return _scatter(pb.grad_out, pb.w.transpose(1, 0, 2, 3), pb.geo)
    if route == "stride_not_dilated":
        return _scatter(pb.grad_out, pb.w, pb.geo, dilate=False)
    raise KeyError(route)


def _crop(grad_x_pad: np.ndarray, geo: Geometry, crop: str | None):
    (ph, pw), (H, W) = geo.padding, (geo.H, geo.W)
    if crop is None:
        return grad_x_pad[:, :, ph:ph + H, pw:pw + W]
    if crop == "not_cropped":
        return grad_x_pad
    if crop == "top_left":
        return grad_x_pad[:, :, :H, :W]
    if crop == "bottom_right":
        return grad_x_pad[:, :, grad_x_pad.shape[2] - H:, grad_x_pad.shape[3] - W:]
    if crop == "minus_p":
        if ph == 0 or pw == 0:
            return EMPTY  # [0:-0] is [0:0]
        return grad_x_pad[:, :, ph:-ph, pw:-pw]
    raise KeyError(crop)


def model_grad_x(pb: Problem, route: str | None, crop: str | None):
    grad_x_pad = _route(pb, route)
    return None if grad_x_pad is None else _crop(grad_x_pad, pb.geo, crop)


# --- grad_w ---------------------------------------------------------------------------------

def _grad_w_per_sample(pb: Problem) -> np.ndarray:
    """(N, F, C, KH, KW): each sample's own grad_w."""
    return np.stack([engine.conv2d_backward(pb.x[n:n + 1], pb.w, pb.grad_out[n:n + 1], **pb.hyper)[1]
                     for n in range(pb.geo.N)])


def model_grad_w(pb: Problem, rotation: str | None, batch: str | None):
    per = _grad_w_per_sample(pb)
    reduce = {None: lambda a: a.sum(0), "first_sample": lambda a: a[0], "last_sample": lambda a: a[-1],
              "mean": lambda a: a.mean(0)}[batch]
    grad_w = reduce(per)
    return _flipped(grad_w) if rotation else grad_w


# --- grad_b ---------------------------------------------------------------------------------

_GRAD_B = {
    None: lambda g: g.sum(axis=(0, 2, 3)),
    "mean_over_batch": lambda g: g.sum(axis=(0, 2, 3)) / g.shape[0],
    "mean_over_all": lambda g: g.mean(axis=(0, 2, 3)),
    "first_sample": lambda g: g[0].sum(axis=(1, 2)),
    "last_sample": lambda g: g[-1].sum(axis=(1, 2)),
    "summed_over_axis_1": lambda g: g.sum(axis=(1, 2, 3)),
    "summed_over_batch_only": lambda g: g.sum(axis=0),
    "summed_over_space_only": lambda g: g.sum(axis=(2, 3)),
}


def model_grad_b(pb: Problem, reduction: str | None):
    return _GRAD_B[reduction](pb.grad_out)


MODELS: dict[str, Callable] = {"out": model_out, "grad_x": model_grad_x, "grad_w": model_grad_w, "grad_b": model_grad_b}
SLOTS: dict[str, tuple[str, ...]] = {"out": ("kernel", "bias"), "grad_x": ("route", "crop"),
                                     "grad_w": ("rotation", "batch"), "grad_b": ("reduction",)}

_ROUTES = "on the page: phase grad_x, and its scatter route (phase=grad_x&scatter=1)"

MISTAKES: dict[str, Mistake] = {m.code: m for m in [
    Mistake(
        "rotated_kernel_in_scatter", "grad_x", "The kernel is rotated in the scatter route (or not rotated in the gather route)",
        "grad_x can be computed two ways. Scatter: every grad_out cell stamps the kernel w, as it is, onto the "
        "window it came from. Gather: every grad_x cell correlates the padded grad_out with the kernel rotated by "
        "180 degrees (w_rot). Your grad_x rotates the kernel in the scatter loop, the tutorial's own bug; the "
        "gather route with an unrotated kernel gives exactly the same numbers, so it may be that instead. Rotate "
        "in the gather form only. See " + _ROUTES + ".",
        "route", ("rotated_kernel_in_scatter",)),
    Mistake(
        "channels_not_swapped", "grad_x", "w_rot keeps w's channel order",
        "grad_x[n, c] sums over kernels f, so the rotated kernel must be indexed w_rot[c, f] = rot180(w[f, c]): "
        "rotation turns each KHxKW slice and also swaps the first two axes. Your grad_x used rot180(w[c, f]) "
        "(the two axes not swapped), which only runs when C = F and mixes the channels. See the w_rot grid of "
        "phase grad_x.",
        "route", ("channels_not_swapped",)),
    Mistake(
        "stride_not_dilated", "grad_x", "grad_out is padded but not dilated by the stride",
        "With stride s > 1, output (i, j) read the window starting at (i*s, j*s); in the gather form, grad_out "
        "must first be spread apart by inserting s-1 zeros between neighbours, then padded. Your grad_x "
        "padded grad_out without spreading it, as if the stride were 1. See grad_out_pad in phase grad_x on "
        "the stride-2 preset: its inserted zeros are marked.",
        "route", ("stride_not_dilated",)),
    Mistake(
        "padding_not_removed", "grad_x", "grad_x is not cut out of the padded gradient correctly",
        "The gather and scatter routes give the gradient of x_pad (N, C, H+2p, W+2p); grad_x is its interior, "
        "rows p .. p+H-1 and columns p .. p+W-1, the padding ring dropped. Your grad_x has x_pad's shape, or "
        "was cut from the wrong side (the first or the last H rows). See phase grad_x: the padding ring of "
        "x_pad gets gradient but belongs to no cell of x.",
        "crop", ("not_cropped", "top_left", "bottom_right")),
    Mistake(
        "crop_empty_at_zero_padding", "grad_x", "grad_x is cut out with [p:-p], empty when p = 0",
        "Cutting the interior as grad_x_pad[:, :, p:-p, p:-p] works for p >= 1, but with p = 0 the slice is "
        "[0:-0] = [0:0], an empty array (the tutorial's own code does this, and course notebooks that test "
        "only padding 1 never notice). Slice with explicit ends: [p:p+H, p:p+W].",
        "crop", ("minus_p",)),
    Mistake(
        "grad_w_rotated", "grad_w", "grad_w is rotated 180 degrees",
        "grad_w[f, c, p, q] sums grad_out[n, f, i, j] * x_pad[n, c, i*s + p*d, j*s + q*d]: the correlation of "
        "x_pad with grad_out, with no rotation anywhere (the rotation belongs to grad_x's gather form only). "
        "Your grad_w is the right one rotated by 180 degrees. See phase grad_w.",
        "rotation", ("rotated",)),
    Mistake(
        "grad_w_not_summed_over_batch", "grad_w", "grad_w is not summed over the batch",
        "Every sample of the batch uses the same kernels, so grad_w is the sum over n of each sample's "
        "gradient. Yours is one sample's (often the last, when a loop assigns with = instead of +=) or the "
        "batch mean. See phase grad_w: each step's terms run over n, i, j.",
        "batch", ("first_sample", "last_sample", "mean")),
    Mistake(
        "grad_b_not_summed", "grad_b", "grad_b is not the sum of grad_out over N, Ho and Wo",
        "b[f] is added to every output cell of kernel f, in every sample, so grad_b[f] is the sum of "
        "grad_out[:, f, :, :] over the batch and both spatial axes: shape (F,). Yours is averaged or summed "
        "over other axes. See phase grad_b.",
        "reduction", tuple(k for k in _GRAD_B if k is not None)),
    Mistake(
        "forward_kernel_flipped", "out", "The forward pass flips the kernel (true convolution)",
        "Deep-learning libraries compute cross-correlation: out[n, f, i, j] = b[f] + sum x_pad[n, c, i*s + p*d, "
        "j*s + q*d] * w[f, c, p, q], with the kernel as it is. Yours flips the kernel by 180 degrees first (the "
        "convolution of signal processing), so its numbers match no PyTorch layer with these weights. See "
        "phase forward.",
        "kernel", ("flipped",)),
    Mistake(
        "bias_missing", "out", "The forward pass leaves out the bias",
        "Every output cell of kernel f gets b[f] added once. Your out is the right one minus the bias. See "
        "phase forward: the bias is the first term of each step's sum.",
        "bias", ("missing",)),
]}

# variant name -> the mistake code it belongs to, per slot
VARIANT_CODE: dict[tuple[str, str], str] = {
    (m.slot, variant): m.code for m in MISTAKES.values() for variant in m.variants}

OUTPUT_SIZE_WRONG = Mistake(
    "output_size_wrong", "out", "out has the wrong size",
    "The output size on each axis is floor((H + 2p - d(KH - 1) - 1) / s) + 1. ", "size")
