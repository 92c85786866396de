"""convviz: see how a 2-D convolution computes its output and its gradients, step by step.

The Python API uses the fast (im2col) engine::

    out = convviz.conv2d(x, w, b, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros")
    grad_x, grad_w, grad_b = convviz.conv2d_backward(x, w, grad_out, ...)  # shapes of x, w, b
    out = convviz.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)  # ConvTranspose2d
    grad_x, grad_w, grad_b = convviz.conv_transpose2d_backward(x, w, grad_out, ...)
    w_new, b_new = convviz.sgd_update(w, b, grad_w, grad_b, lr=0.01, weight_decay=0.0)
"""

from __future__ import annotations

import warnings

import numpy as np

from .checking import check
from .engine import fast as _fast

__version__ = "0.1.0"


def conv2d(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros") -> np.ndarray:
    """Forward pass (cross-correlation, as PyTorch's ``conv2d`` / ``nn.Conv2d``).

    x (N, C, H, W), w (F, C/groups, KH, KW), b (F,) or None -> out (N, F, Ho, Wo), float64.
    stride / dilation: an int or a pair (vertical, horizontal); padding: an int, a pair, four
    values [top, bottom, left, right], "same" (stride 1) or "valid"; groups: C and F split into
    that many groups; padding_mode: "zeros", "reflect", "replicate" or "circular".
    Raises ``ValueError`` on invalid arguments (what PyTorch refuses), saying what was received.
    A result that overflows float64 is returned as NumPy computes it (inf) with a
    ``RuntimeWarning`` naming it.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        out = _fast.conv2d_forward(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups,
                                   padding_mode=padding_mode)
    _warn_overflow({"out": out})
    return out


def conv2d_backward(x, w, grad_out, *, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """Backward pass given ``grad_out`` = dL/d out (N, F, Ho, Wo); settings as ``conv2d``.

    Returns ``(grad_x, grad_w, grad_b)`` with shapes (N, C, H, W), (F, C/groups, KH, KW), (F,);
    those that overflow float64 hold inf and are named in a ``RuntimeWarning``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        grads = _fast.conv2d_backward(x, w, grad_out, stride=stride, padding=padding, dilation=dilation,
                                      groups=groups, padding_mode=padding_mode)
    _warn_overflow(dict(zip(("grad_x", "grad_w", "grad_b"), grads)))
    return grads


def conv_transpose2d(x, w, b=None, *, stride=1, padding=0, output_padding=0, groups=1, dilation=1) -> np.ndarray:
    """Transposed convolution (PyTorch's ``conv_transpose2d`` / ``nn.ConvTranspose2d``).

    x (N, C, H, W), w (C, F/groups, KH, KW) as ``ConvTranspose2d.weight``, b (F,) or None
    -> out (N, F, Ho, Wo) with Ho = (H - 1) sh - 2 ph + dh (KH - 1) + oph + 1 (Wo likewise).
    stride / padding / output_padding / dilation: an int or a pair; output_padding must be
    smaller than the stride or the dilation on each axis. It is the grad_x of a convolution
    (docs/conventions.md). Raises ``ValueError`` on invalid arguments.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        out = _fast.conv_transpose2d(x, w, b, stride=stride, padding=padding, output_padding=output_padding,
                                     groups=groups, dilation=dilation)
    _warn_overflow({"out": out})
    return out


def conv_transpose2d_backward(x, w, grad_out, *, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Backward pass of ``conv_transpose2d`` given ``grad_out`` = dL/d out (N, F, Ho, Wo).

    Returns ``(grad_x, grad_w, grad_b)`` with shapes (N, C, H, W), (C, F/groups, KH, KW), (F,).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        grads = _fast.conv_transpose2d_backward(x, w, grad_out, stride=stride, padding=padding,
                                                output_padding=output_padding, groups=groups, dilation=dilation)
    _warn_overflow(dict(zip(("grad_x", "grad_w", "grad_b"), grads)))
    return grads


def sgd_update(w, b, grad_w, grad_b, *, lr=0.01, weight_decay=0.0):
    """One step of gradient descent, the update the backward pass is for (as ``torch.optim.SGD``
    without momentum, the bias in a parameter group without weight decay)::

        w_new = w - lr * (grad_w + weight_decay * w)        b_new = b - lr * grad_b

    w, grad_w (F, C, KH, KW); b, grad_b (F,) or both None -> (w_new (F, C, KH, KW), b_new (F,) or None).
    ``lr`` and ``weight_decay``: numbers >= 0. Raises ``ValueError`` on invalid arguments.
    """
    return _fast.sgd_update(w, b, grad_w, grad_b, lr=lr, weight_decay=weight_decay)


def _warn_overflow(results: dict) -> None:
    """The overflow policy (README "Overflow"), as the REST API applies it: finite results are
    given as they are, and the ones that overflowed are named, never silently passed on."""
    bad = [name for name, arr in results.items() if not np.all(np.isfinite(arr))]
    if bad:
        finite = [name for name in results if name not in bad]
        warnings.warn(f"convviz: {' and '.join(bad)} overflow{'s' if len(bad) == 1 else ''} float64 (largest "
                      f"finite value 1.8e+308) for these inputs: {'they hold' if len(bad) > 1 else 'it holds'} inf "
                      f"or nan" + (f"; {', '.join(finite)} {'is' if len(finite) == 1 else 'are'} finite" if finite else ""),
                      RuntimeWarning, stacklevel=3)


__all__ = ["check", "conv2d", "conv2d_backward", "conv_transpose2d", "conv_transpose2d_backward", "sgd_update",
           "__version__"]
