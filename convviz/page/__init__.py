"""What the page draws: for each phase of the registry, a view builder that plans its grids from
the shapes (checked against the limits first), then links the drawn cells that share a term."""

from .builders import BUILDERS, MAX_COLS_COLUMNS
from .view import View, check_scatter_page, plan, scatter_steps

__all__ = ["BUILDERS", "MAX_COLS_COLUMNS", "View", "check_scatter_page", "plan", "scatter_steps"]
