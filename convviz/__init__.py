"""convviz: see how a 2-D convolution computes its output and its gradients, step by step.

The Python API uses the fast (im2col) engine::

    out = convviz.conv2d(x, w, b, stride=1, padding=0, dilation=1)          # (N, F, Ho, Wo)
    grad_x, grad_w, grad_b = convviz.conv2d_backward(x, w, grad_out, ...)  # shapes of x, w, b
"""

from __future__ import annotations

import numpy as np

from .engine import fast as _fast

__version__ = "0.1.0"


def conv2d(x, w, b=None, *, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Forward pass (cross-correlation, as PyTorch's ``conv2d``).

    x (N, C, H, W), w (F, C, KH, KW), b (F,) or None -> out (N, F, Ho, Wo), float64.
    stride / padding / dilation: an int or a pair (vertical, horizontal).
    Raises ``ValueError`` on invalid arguments, saying what was received.
    """
    return _fast.conv2d_forward(x, w, b, stride=stride, padding=padding, dilation=dilation)


def conv2d_backward(x, w, grad_out, *, stride=1, padding=0, dilation=1):
    """Backward pass given ``grad_out`` = dL/d out (N, F, Ho, Wo).

    Returns ``(grad_x, grad_w, grad_b)`` with shapes (N, C, H, W), (F, C, KH, KW), (F,).
    """
    return _fast.conv2d_backward(x, w, grad_out, stride=stride, padding=padding, dilation=dilation)


__all__ = ["conv2d", "conv2d_backward", "__version__"]
