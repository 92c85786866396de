"""convviz's convolution engine: NumPy only, float64.

``naive`` reads like docs/conventions.md; ``fast`` is the vectorised twin with the same signatures.
``artifacts`` builds the tensors the page shows; ``geometry`` does the shape arithmetic.
"""

from . import fast, naive
from .artifacts import dilate_and_pad, fold, im2col, kernel_matrix, pad_input, rotate_kernel
from .checks import check_problem
from .geometry import PADDING_MODES, Geometry, TransposedGeometry, as_pair, geometry_of

__all__ = [
    "Geometry", "PADDING_MODES", "TransposedGeometry", "as_pair", "check_problem", "dilate_and_pad", "fast", "fold",
    "geometry_of", "im2col", "kernel_matrix", "naive", "pad_input", "rotate_kernel",
]
