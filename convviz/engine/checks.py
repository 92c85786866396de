"""Boundary checks shared by both engines: arrays in, float64 arrays and a Geometry out.

Modelled on numpy's ``sliding_window_view``: every message says what was received and what
is allowed, and every problem raises ``ValueError`` (never ``assert``).
"""

from __future__ import annotations

import numpy as np

from .geometry import Geometry


def as_float_array(value, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    """``value`` as a finite float64 array with ``ndim`` dimensions (or one of several)."""
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
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must hold finite numbers, got NaN or infinity")
    return arr


def check_problem(x, w, b=None, grad_out=None, *, stride=1, padding=0, dilation=1, need_grad_out=False):
    """Validate one convolution problem.

    Returns ``(x, w, b, grad_out, geo)`` as float64 arrays: ``x`` (N, C, H, W), ``w``
    (F, C, KH, KW), ``b`` (F,) or ``None``, ``grad_out`` (N, F, Ho, Wo) or ``None`` (refused
    when ``need_grad_out``: the backward passes).
    """
    x = as_float_array(x, "x", 4)
    w = as_float_array(w, "w", 4)
    geo = Geometry.from_shapes(x.shape, w.shape, stride=stride, padding=padding, dilation=dilation)
    if b is not None:
        b = as_float_array(b, "b", 1)
        if b.shape != (geo.F,):
            raise ValueError(f"b must have shape ({geo.F},) (one bias per kernel), got shape {b.shape}")
    if grad_out is None and need_grad_out:
        raise ValueError(f"grad_out is required: an array of shape (N, F, Ho, Wo) = {geo.out_shape}")
    if grad_out is not None:
        grad_out = as_float_array(grad_out, "grad_out", 4)
        if grad_out.shape != geo.out_shape:
            raise ValueError(
                f"grad_out must have the shape of out, (N, F, Ho, Wo) = {geo.out_shape}, got shape {grad_out.shape}"
            )
    return x, w, b, grad_out, geo
