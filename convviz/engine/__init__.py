"""convviz's convolution engine: NumPy only, float64.

``naive`` reads like docs/conventions.md; ``fast`` is the vectorised twin with the same signatures.
``artifacts`` builds the tensors the page shows; ``geometry`` does the shape arithmetic.
"""

from . import fast, naive
from .artifacts import dilate_and_pad, im2col, kernel_matrix, pad_input, rotate_kernel
from .checks import check_problem
from .geometry import Geometry, as_pair

__all__ = [
    "Geometry", "as_pair", "check_problem", "dilate_and_pad", "fast", "im2col",
    "kernel_matrix", "naive", "pad_input", "rotate_kernel",
]
