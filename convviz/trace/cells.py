"""What a term says about each tensor cell it reads: the fields of a *cell source*.

A term of a step is the product of cells of two tensors (docs/conventions.md, "Term sets"),
and each cell is reported with the cells it stands for: an ``x_pad`` cell with the ``x`` cell
it holds (null on padding) and its value, a ``w_rot`` cell with its ``w`` cell, and so on.
Each source here turns flat cell numbers into those fields, as columns; the step records
(``steps.py``) and the JSON writer (``convviz.problem.jsonl``) both read these columns, so
the fields of a term are defined once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .convolution import Convolution


@dataclass
class Field:
    """One field of a term, for many cells: an index (``index`` (k, rank), null where not
    ``valid``) or a number (``value`` (k,))."""

    key: str
    index: np.ndarray | None = None
    valid: np.ndarray | None = None
    value: np.ndarray | None = None

    def items(self) -> list:
        """The field's JSON values, one per cell: index lists (or None), or floats."""
        if self.value is not None:
            return self.value.tolist()
        rows = self.index.tolist()
        if self.valid is None:
            return rows
        return [row if ok else None for row, ok in zip(rows, self.valid.tolist())]


@dataclass(frozen=True)
class CellSource:
    """A tensor whose cells terms read (``tensor``), and how a cell is reported (``fields``)."""

    name: str
    tensor: str
    fields: Callable[[Convolution, np.ndarray], list[Field]]
    #: one more number than the tensor has cells, standing for "no cell" (the fold's empty slots)
    empty_slot: bool = False

    def shape(self, conv: Convolution) -> tuple:
        """The shape of the cell numbers: the tensor's (flat, one longer with ``empty_slot``)."""
        shape = getattr(conv.geo, self.tensor + "_shape")
        return (int(np.prod(shape)) + 1,) if self.empty_slot else shape

    def describe(self, conv: Convolution, flat: np.ndarray) -> list[Field]:
        """The fields of the cells ``flat`` (1-D flat indices into ``tensor``)."""
        return self.fields(conv, np.asarray(flat, dtype=np.int64).ravel())


def _index(conv: Convolution, tensor: str, flat: np.ndarray) -> tuple[np.ndarray, ...]:
    return np.unravel_index(flat, getattr(conv.geo, tensor + "_shape"))


def _value(conv: Convolution, tensor: str, flat: np.ndarray) -> np.ndarray:
    return getattr(conv, tensor).reshape(-1)[flat]


def _stack(*axes) -> np.ndarray:
    return np.stack(axes, axis=-1)


def _x_pad_fields(target: str) -> Callable:
    """``x_pad`` (its index), ``target`` (the x / grad_x cell whose value it holds: a copy on the
    border of a padding mode; null on a zero) and, for the forward reading, ``x_value``."""

    def fields(conv: Convolution, flat: np.ndarray) -> list[Field]:
        n, c, hp, wp = _index(conv, "x_pad", flat)
        inside, h, v = conv.geo.x_pad_source(hp, wp)
        out = [Field("x_pad", _stack(n, c, hp, wp)), Field(target, _stack(n, c, h, v), inside)]
        if target == "x":
            out.append(Field("x_value", value=_value(conv, "x_pad", flat)))
        return out

    return fields


def _grad_out_pad_fields(conv: Convolution, flat: np.ndarray) -> list[Field]:
    n, f, u, t = _index(conv, "grad_out_pad", flat)
    real, i, j = conv.geo.grad_out_pad_to_grad_out(u, t)
    return [Field("grad_out_pad", _stack(n, f, u, t)), Field("grad_out", _stack(n, f, i, j), real),
            Field("grad_out_value", value=_value(conv, "grad_out_pad", flat))]


def _w_rot_fields(conv: Convolution, flat: np.ndarray) -> list[Field]:
    c, f, p, q = _index(conv, "w_rot", flat)
    return [Field("w_rot", _stack(c, f, p, q)), Field("w", _stack(*conv.geo.w_rot_to_w(c, f, p, q))),
            Field("w_value", value=_value(conv, "w_rot", flat))]


def _copy_fields(conv: Convolution, flat: np.ndarray) -> list[Field]:
    """The fold: a grad_x_pad cell that copies the step's x cell (null on a slot past its copies,
    numbered one past the last cell of grad_x_pad)."""
    size = conv.grad_x_pad.size
    real = flat < size
    cell = np.minimum(flat, size - 1)
    return [Field("grad_x_pad", _stack(*_index(conv, "grad_x_pad", cell)), real),
            Field("grad_x_pad_value", value=np.where(real, _value(conv, "grad_x_pad", cell), 0.0))]


def _out_target_fields(conv: Convolution, flat: np.ndarray) -> list[Field]:
    """The transposed scatter: the out cell a product lands on, given as a cell of grad_out_pad's
    canvas (out in its ph / pw border); null where the border crops it."""
    n, f, u, t = _index(conv, "grad_out_pad", flat)
    inside, i, j = conv.geo.grad_out_pad_to_grad_out(u, t)
    return [Field("out", _stack(n, f, i, j), inside)]


def _plain_fields(tensor: str) -> Callable:
    def fields(conv: Convolution, flat: np.ndarray) -> list[Field]:
        return [Field(tensor, _stack(*_index(conv, tensor, flat))),
                Field(tensor + "_value", value=_value(conv, tensor, flat))]

    return fields


SOURCES: dict[str, CellSource] = {
    s.name: s for s in (
        CellSource("x_pad", "x_pad", _x_pad_fields("x")),
        CellSource("w", "w", _plain_fields("w")),
        CellSource("grad_out", "grad_out", _plain_fields("grad_out")),
        CellSource("grad_w", "grad_w", _plain_fields("grad_w")),  # the update step reads it
        CellSource("grad_out_pad", "grad_out_pad", _grad_out_pad_fields),
        CellSource("w_rot", "w_rot", _w_rot_fields),
        # the scatter route: the x_pad cell a grad_out value is added to, and the grad_x cell that
        # is (null where the padding ring is cropped)
        CellSource("x_pad_target", "x_pad", _x_pad_fields("grad_x")),
        CellSource("grad_x_pad_copy", "grad_x_pad", _copy_fields, empty_slot=True),  # the fold
        CellSource("x", "x", _plain_fields("x")),  # the transposed convolution reads x itself
        CellSource("out_target", "grad_out_pad", _out_target_fields),  # ... and scatters onto out
    )
}
