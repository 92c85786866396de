"""The configurations a check runs, simplest first, and their numbers.

Each configuration's values are the ones the page generates for ``values=integers`` and its
seed (``convviz.trace.generate_arrays``): small whole numbers, so a wrong cell reads as "7 instead
of 4", and a link to the page shows exactly the numbers the learner's code was given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine import Geometry
from ..trace import generate_arrays
from .mistakes import Problem

Pair = tuple[int, int]


@dataclass(frozen=True)
class Config:
    """One problem of the battery: shapes, hyper-parameters (pairs) and the seed of its values."""

    name: str
    x_shape: tuple[int, int, int, int]  # N, C, H, W
    w_shape: tuple[int, int, int, int]  # F, C, KH, KW
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    seed: int = 0

    @property
    def per_axis(self) -> bool:
        """True when some hyper-parameter differs between the two axes (needs pairs, opt-in)."""
        return any(a != b for a, b in (self.stride, self.padding, self.dilation))

    @property
    def dilated(self) -> bool:
        return self.dilation != (1, 1)

    @property
    def geometry(self) -> Geometry:
        return Geometry.from_shapes(self.x_shape, self.w_shape, stride=self.stride, padding=self.padding,
                                    dilation=self.dilation)

    def problem(self) -> Problem:
        geo = self.geometry
        arrays = generate_arrays(geo, "integers", self.seed)
        return Problem(arrays["x"], arrays["w"], arrays["b"], arrays["grad_out"], geo)

    def hyper(self, *, pairs: bool) -> dict:
        """stride / padding / dilation as the learner's function receives them: ints, or pairs."""
        if pairs:
            return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation}
        return {"stride": self.stride[0], "padding": self.padding[0], "dilation": self.dilation[0]}

    def as_dict(self) -> dict:
        return {"name": self.name, "x_shape": self.x_shape, "w_shape": self.w_shape, "stride": self.stride,
                "padding": self.padding, "dilation": self.dilation, "values": "integers", "seed": self.seed}

    def describe(self) -> str:
        """``x 1x1x3x3, w 1x1x2x2, stride 1, padding 0`` (pairs only where the axes differ)."""
        def show(pair):
            return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"
        text = f"x {'x'.join(map(str, self.x_shape))}, w {'x'.join(map(str, self.w_shape))}, " \
               f"stride {show(self.stride)}, padding {show(self.padding)}"
        return text + (f", dilation {show(self.dilation)}" if self.dilated else "")


def _random_configs(count: int, seed: int, *, dilation: int) -> list[Config]:
    """``count`` random small problems (fixed ``seed``): N, C, F in 1..3, H, W in 3..8, kernels up to
    4, stride 1..3, padding 0..2, the given dilation; only shapes that make an output."""
    rng = np.random.default_rng(seed)
    found = []
    while len(found) < count:
        N, C, F = (int(v) for v in rng.integers(1, 4, size=3))
        H, W = (int(v) for v in rng.integers(3, 9, size=2))
        KH, KW = (int(v) for v in rng.integers(1, 5, size=2))
        s, p = int(rng.integers(1, 4)), int(rng.integers(0, 3))
        if p >= max(KH, KW) and p > 0:  # padding no window needs; PyTorch allows it, but it teaches nothing
            continue
        try:
            Geometry.from_shapes((N, C, H, W), (F, C, KH, KW), stride=s, padding=p, dilation=dilation)
        except ValueError:
            continue
        found.append(Config(f"random #{len(found) + 1}{' (dilation %d)' % dilation if dilation > 1 else ''}",
                            (N, C, H, W), (F, C, KH, KW), (s, s), (p, p), (dilation, dilation),
                            seed=1000 * dilation + len(found)))
    return found


# Simplest to hardest, as a learner would debug: the tutorial's worked example first.
BATTERY: tuple[Config, ...] = (
    Config("the tutorial's worked example", (1, 1, 3, 3), (1, 1, 2, 2), seed=37),
    Config("padding 1", (1, 1, 4, 4), (1, 1, 3, 3), padding=(1, 1), seed=11),
    Config("stride 2 with a leftover row and column", (1, 1, 6, 6), (1, 1, 3, 3), stride=(2, 2), seed=2),
    Config("stride 2 and padding 1", (1, 1, 5, 5), (1, 1, 3, 3), stride=(2, 2), padding=(1, 1), seed=12),
    Config("C > 1 (2 input channels)", (1, 2, 4, 4), (1, 2, 3, 3), padding=(1, 1), seed=13),
    Config("F > 1 (C = F = 2)", (1, 2, 4, 4), (2, 2, 3, 3), padding=(1, 1), seed=14),
    Config("N > 1 (2 samples, 3 kernels)", (2, 2, 4, 4), (3, 2, 2, 2), padding=(1, 1), seed=5),
    Config("rectangular input and kernel", (2, 2, 5, 7), (2, 2, 2, 3), padding=(1, 1), seed=15),
    Config("per-axis stride and padding", (1, 2, 6, 7), (2, 2, 3, 2), stride=(2, 1), padding=(1, 0), seed=16),
    Config("dilation 2", (1, 2, 7, 7), (2, 2, 3, 3), padding=(1, 1), dilation=(2, 2), seed=17),
    *_random_configs(5, seed=2024, dilation=1),
    *_random_configs(2, seed=2025, dilation=2),
)
