"""Step traces: lazy, random-access records that observe one solved convolution.

``phases`` is the phase registry; ``cells`` says what a term reports about each cell it reads.
"""

from .cells import SOURCES, CellSource, Field
from .convolution import LOSSES, VALUE_KINDS, Convolution, OverflowInProblem, generate_arrays
from .phases import PHASE_LIST, PHASES, TRACE_PHASES, Phase, phase
from .steps import Block, Trace

__all__ = [
    "Block", "CellSource", "Convolution", "Field", "LOSSES", "OverflowInProblem", "PHASE_LIST", "PHASES", "Phase", "SOURCES",
    "TRACE_PHASES", "Trace", "VALUE_KINDS", "generate_arrays", "phase",
]
