"""Boundary checks shared by both engines: arrays in, float64 arrays and a Geometry out.

Modelled on numpy's ``sliding_window_view``: every message says what was received and what
is allowed, and every problem raises ``ValueError`` (never ``assert``).
"""

from __future__ import annotations

import numpy as np

from .geometry import Geometry, TransposedGeometry


def as_float_array(value, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    """``value`` as a finite float64 array with ``ndim`` dimensions (or one of several)."""
    if type(value) is np.ndarray and value.dtype == np.float64 and value.ndim == ndim:
        # what the engines are usually given: only the cells are left to check
        if not _all_finite(value):
            raise ValueError(f"{name} must hold finite numbers, got NaN or infinity")
        return value
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array of numbers, got a ragged or mixed value ({exc})") from None
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers, got an array of dtype {arr.dtype}")
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in allowed:
        wanted = " or ".join(str(d) for d in allowed)
        raise ValueError(f"{name} must have {wanted} dimensions, got {arr.ndim} (shape {arr.shape})")
    arr = arr.astype(np.float64, copy=False)
    if not _all_finite(arr):
        raise ValueError(f"{name} must hold finite numbers, got NaN or infinity")
    return arr


def _all_finite(arr: np.ndarray) -> bool:
    """Whether every cell of a float64 array is finite. A sum of squares is finite only if every
    square is (NaN and infinities carry through), and BLAS's dot product takes it in one pass,
    about twice as fast as ``isfinite`` (an array of booleans, then ``all``); cells beyond 1e154
    overflow it, and then each cell is looked at."""
    if arr.flags.c_contiguous and arr.size > 4096:  # below that, isfinite is as fast (no BLAS call)
        flat = arr.reshape(-1)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is an answer here, not a warning
            if np.isfinite(np.dot(flat, flat)):
                return True
    return bool(np.isfinite(arr).all())


# Validated geometries by their arguments: the fast engine's callers (a training loop, the
# check, the server) ask for the same few again and again; building one costs more than some
# layers' passes. Geometry is immutable, so one can be shared.
_GEOMETRIES: dict = {}
_GEOMETRIES_MAX = 256


def _geometry(cls, x_shape, w_shape, **hyper):
    """``cls.from_shapes(x_shape, w_shape, **hyper)``, remembered. The key holds each argument's
    ``repr``, so values that compare equal but are refused differently (``True`` and ``1``,
    ``1.0`` and ``1``) never share an entry; refusals are not remembered."""
    key = (cls, x_shape, w_shape, repr(sorted(hyper.items())))
    geo = _GEOMETRIES.get(key)
    if geo is None:
        geo = cls.from_shapes(x_shape, w_shape, **hyper)
        if len(_GEOMETRIES) >= _GEOMETRIES_MAX:
            _GEOMETRIES.clear()
        _GEOMETRIES[key] = geo
    return geo


def check_problem(x, w, b=None, grad_out=None, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros",
                  need_grad_out=False, transposed=False, output_padding=0):
    """Validate one convolution problem (with ``transposed``, a transposed one).

    Returns ``(x, w, b, grad_out, geo)`` as float64 arrays: ``x`` (N, C, H, W), ``w``
    (F, C/groups, KH, KW) (transposed: (C, F/groups, KH, KW)), ``b`` (F,) or ``None``,
    ``grad_out`` (N, F, Ho, Wo) or ``None`` (refused when ``need_grad_out``: the backward passes).
    """
    x = as_float_array(x, "x", 4)
    w = as_float_array(w, "w", 4)
    if transposed:
        if padding_mode != "zeros":
            raise ValueError(f"a transposed convolution pads with zeros only (as PyTorch's ConvTranspose2d), got "
                             f"padding_mode {padding_mode!r}")
        geo = _geometry(TransposedGeometry, x.shape, w.shape, stride=stride, padding=padding,
                        output_padding=output_padding, groups=groups, dilation=dilation)
    else:
        geo = _geometry(Geometry, x.shape, w.shape, stride=stride, padding=padding, dilation=dilation, groups=groups,
                        padding_mode=padding_mode)
    if b is not None:
        b = as_float_array(b, "b", 1)
        if b.shape != (geo.F,):
            raise ValueError(f"b must have shape ({geo.F},) (one bias per {'output channel' if transposed else 'kernel'}), "
                             f"got shape {b.shape}")
    if grad_out is None and need_grad_out:
        raise ValueError(f"grad_out is required: an array of shape (N, F, Ho, Wo) = {geo.out_shape}")
    if grad_out is not None:
        grad_out = as_float_array(grad_out, "grad_out", 4)
        if grad_out.shape != geo.out_shape:
            raise ValueError(
                f"grad_out must have the shape of out, (N, F, Ho, Wo) = {geo.out_shape}, got shape {grad_out.shape}"
            )
    return x, w, b, grad_out, geo


def check_update(w, b, grad_w, grad_b, *, lr, weight_decay, transposed=False):
    """Validate one SGD step (docs/conventions.md, "The update step").

    Returns ``(w, b, grad_w, grad_b, lr, weight_decay)``: ``w`` and ``grad_w`` (F, C, KH, KW),
    ``b`` and ``grad_b`` (F,) or both ``None``, ``lr`` and ``weight_decay`` finite floats >= 0.
    """
    w = as_float_array(w, "w", 4)
    grad_w = as_float_array(grad_w, "grad_w", 4)
    if grad_w.shape != w.shape:
        raise ValueError(f"grad_w must have the shape of w, {w.shape}, got shape {grad_w.shape}")
    if (b is None) != (grad_b is None):
        raise ValueError("give b and grad_b together (or neither), got "
                         + ("b without grad_b" if grad_b is None else "grad_b without b"))
    if b is not None:
        b = as_float_array(b, "b", 1)
        grad_b = as_float_array(grad_b, "grad_b", 1)
        # one per kernel, w.shape[0] of them; a transposed convolution's w (C, F/groups, ...) does not
        # say its F, so there b and grad_b only have to agree
        if grad_b.shape != b.shape or (not transposed and b.shape != (w.shape[0],)):
            raise ValueError(f"b and grad_b must have shape ({w.shape[0]},) (one per kernel), got shapes "
                             f"{b.shape} and {grad_b.shape}")
    return (w, b, grad_w, grad_b, *check_rates(lr=lr, weight_decay=weight_decay))


def check_rates(*, lr, weight_decay) -> tuple[float, float]:
    """The learning rate and the weight decay of an SGD step as floats, each finite and >= 0."""
    rates = []
    for name, value in (("lr", lr), ("weight_decay", weight_decay)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        value = float(value)
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        rates.append(value)
    return rates[0], rates[1]
