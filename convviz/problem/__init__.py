"""The problem service: a problem model, its validation against the limits, solving it (with
a cache), and writing its traces as JSON Lines. It raises ``ProblemError`` and knows no HTTP;
``convviz.api`` and the CLI sit on top of it."""

from .cache import ARRAY_FIELDS, Solved, SolvedCache, problem_key
from .errors import ProblemError
from .jsonl import StepWriter, dumps, json_object
from .limits import Limits
from .model import ProblemIn
from .presets import DEFAULT_PRESET, PRESETS
from .resolve import check_geometry, check_page, check_select, resolve, solve
from .stream import jsonl_chunks

__all__ = [
    "ARRAY_FIELDS", "DEFAULT_PRESET", "Limits", "PRESETS", "ProblemError", "ProblemIn", "Solved", "SolvedCache",
    "StepWriter", "check_geometry", "check_page", "check_select", "dumps", "json_object", "jsonl_chunks",
    "problem_key", "resolve", "solve",
]
