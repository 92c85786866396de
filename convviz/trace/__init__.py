"""Step traces: lazy, random-access records that observe one solved convolution."""

from .convolution import VALUE_KINDS, Convolution, OverflowInProblem, generate_arrays
from .steps import PHASE_TENSORS, PHASES, TERM_SOURCES, Block, Trace

__all__ = [
    "Block", "Convolution", "OverflowInProblem", "PHASES", "PHASE_TENSORS", "TERM_SOURCES", "Trace",
    "VALUE_KINDS", "generate_arrays",
]
