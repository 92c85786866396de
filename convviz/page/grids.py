"""The grids a view draws: first *planned* from the shapes alone (``GridPlan``: which tensor,
which cells, how many), so a view's size is known before anything is built, then made into
``Grid`` objects holding each cell's index, value, marks and the cell it stands for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..engine import Geometry
from ..trace import Convolution
from ..trace.phases import NOTATION


@dataclass
class GridPlan:
    """One grid a view will draw: ``rows`` x ``cols`` cells of ``tensor``, row-major.

    ``cells()`` gives the flat index of each cell in the tensor; it is called only once the
    view is known to fit its limit."""

    tensor: str
    title: str
    caption: str
    rows: int
    cols: int
    cells: Callable[[], np.ndarray]
    role: str = "source"  # result, source
    row_labels: list | None = None
    col_labels: list | None = None
    area: str | None = None  # None: the phase's layout places it; "origin": where grad_out comes from

    @property
    def size(self) -> int:
        return self.rows * self.cols


def plane(geo: Geometry, tensor: str, lead: tuple, title: str, caption: str, role: str = "source") -> GridPlan:
    """The last two axes of ``tensor[lead]``."""
    shape = getattr(geo, tensor + "_shape")
    rows, cols = shape[-2:]

    def cells() -> np.ndarray:
        return np.ravel_multi_index(tuple(lead) + (0, 0), shape) + np.arange(rows * cols)

    return GridPlan(tensor, title, caption, rows, cols, cells, role)


def vector(tensor: str, size: int, caption: str, role: str = "source", column: bool = False) -> GridPlan:
    """A whole 1-D tensor (``b``, ``grad_b``) as one row, or one column."""
    return GridPlan(tensor, tensor, caption, size if column else 1, 1 if column else size, lambda: np.arange(size), role)


@dataclass
class Grid:
    """One drawn 2-D block of a tensor: ``flat`` holds, row-major, each cell's flat index in the tensor."""

    tensor: str
    title: str
    caption: str
    shape: tuple  # the whole tensor's shape
    rows: int
    cols: int
    flat: np.ndarray
    values: np.ndarray
    role: str = "source"
    row_labels: list | None = None
    col_labels: list | None = None
    marks: list | None = None  # per cell: "" or pad / unread / margin / gap
    step: list | None = None  # result grids: the step number that computes each cell
    twin: list | None = None  # per cell: the index (string) of the x / grad_out / w cell it shows, or None
    # result grids: per kind of zero (pad, margin, gap), how many terms of each cell's step multiply one
    zeros: dict | None = None
    area: str | None = None
    offset: int = 0
    lookup: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_plan(cls, plan: GridPlan, conv: Convolution, offset: int) -> "Grid":
        flat = plan.cells()
        return cls(plan.tensor, plan.title, plan.caption, getattr(conv.geo, plan.tensor + "_shape"), plan.rows,
                   plan.cols, flat, getattr(conv, plan.tensor).reshape(-1)[flat], plan.role, plan.row_labels,
                   plan.col_labels, area=plan.area, offset=offset)

    def ids_of(self, flat: np.ndarray) -> np.ndarray:
        """Ids of the cells ``flat`` (flat indices in the tensor); -1 where not drawn."""
        if self.lookup is None:
            self.lookup = np.full(int(np.prod(self.shape)), -1, dtype=np.int64)
            self.lookup[self.flat] = self.offset + np.arange(self.flat.size)
        return self.lookup[flat]

    def index(self) -> tuple[np.ndarray, ...]:
        """Each cell's index in the tensor, one array per axis."""
        return np.unravel_index(self.flat, self.shape)

    def as_dict(self) -> dict:
        idx = np.stack(self.index(), axis=-1).tolist()
        out = {
            "tensor": self.tensor, "symbol": NOTATION.get(self.tensor, self.tensor), "title": self.title,
            "caption": self.caption, "role": self.role,
            "rows": self.rows, "cols": self.cols, "offset": self.offset,
            "idx": [",".join(map(str, ix)) for ix in idx],
            "values": self.values.tolist(),
        }
        for name in ("marks", "step", "row_labels", "col_labels", "twin", "zeros", "area"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


# what a drawn cell stands for ---------------------------------------------------------------------
def index_texts(valid: np.ndarray, *axes: np.ndarray) -> list:
    """``"a,b,c,d"`` per cell where ``valid``, else None (the page's data-twin)."""
    return [",".join(map(str, ix)) if ok else None for ok, ix in zip(valid.tolist(), zip(*(a.tolist() for a in axes)))]


def x_twin(geo: Geometry, x_pad_flat: np.ndarray) -> list:
    """The x cell each x_pad cell holds (a copy on the border of a padding mode; None on a zero)."""
    n, c, hp, wp = np.unravel_index(x_pad_flat, geo.x_pad_shape)
    valid, h, v = geo.x_pad_source(hp, wp)
    return index_texts(valid, n, c, h, v)


def x_pad_marks(geo: Geometry) -> list[str]:
    """pad: the zero ring (no cell of x); copy: a border cell that copies a cell of x (padding
    modes); unread: every cell no window reads (the stride's remainder, and rows / columns a
    stride larger than the window's taps steps over). Transposed: xgap / xmargin, the zeros
    inserted between x's cells and around them."""
    hp, wp = np.indices((geo.Hp, geo.Wp))
    if geo.transposed:
        real, _, _ = geo.x_pad_to_x(hp, wp)
        inside, _, _ = geo.x_pad_to_dilated(hp, wp)
        return np.where(real, "", np.where(inside, "xgap", "xmargin")).ravel().tolist()
    inside, _, _ = geo.x_pad_to_x(hp, wp)
    rows, cols = geo.x_pad_read()
    unread = ~(rows[hp] & cols[wp])
    border = "pad" if geo.padding_mode == "zeros" else "copy"
    return np.where(~inside, border, np.where(unread, "unread", "")).ravel().tolist()


def grad_out_pad_marks(geo: Geometry) -> list[str]:
    """margin: zeros padded around the dilated grad_out; gap: zeros inserted between rows /
    columns (stride). Transposed: margin, the border grad_out is padded with."""
    u, t = np.indices((geo.Hg, geo.Wg))
    real, _, _ = geo.grad_out_pad_to_grad_out(u, t)
    if geo.transposed:
        return np.where(real, "", "margin").ravel().tolist()
    inside, _, _ = geo.grad_out_pad_to_dilated(u, t)
    return np.where(real, "", np.where(inside, "gap", "margin")).ravel().tolist()
