"""Checking a learner's own convolution: find the first wrong number, and name the mistake.

``convviz.check(forward=..., backward=...)`` runs the learner's functions on a battery of small
problems (``battery.py``), compares every tensor with the engine's, and names a known mistake
(``mistakes.py``) only when the numbers prove it (``diagnose.py``). ``check_arrays`` judges
arrays already computed, for the REST API, which never runs submitted code.
"""

from .battery import BATTERY, Config
from .checker import TENSORS, check, check_arrays
from .diagnose import Diagnosis
from .mistakes import MISTAKES, OUTPUT_SIZE_WRONG, Problem
from .report import Failure, Report

__all__ = ["BATTERY", "Config", "Diagnosis", "Failure", "MISTAKES", "OUTPUT_SIZE_WRONG", "Problem", "Report",
           "TENSORS", "check", "check_arrays"]
