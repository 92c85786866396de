"""Every knob of a convviz server: resource limits and thread counts, documented and
configurable (``CONVVIZ_...`` environment variables or ``convviz serve`` flags), served at
``GET /api/v1/limits``. Limits are checked on shapes before any array is built."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import ClassVar


@dataclass(frozen=True)
class Limits:
    #: largest element count of every array the engine allocates for a request (``engine_arrays``)
    max_tensor_elements: int = 4_194_304
    #: largest number of forward multiply-adds, N*F*Ho*Wo*C*KH*KW (the backward costs twice that)
    max_macs: int = 200_000_000
    #: largest number of terms in one trace step (C*KH*KW forward, F*KH*KW grad_x, N*Ho*Wo grad_w/grad_b)
    max_step_terms: int = 262_144
    #: largest ``limit`` of one trace page
    max_page_steps: int = 1_000
    #: largest number of terms in one trace page (limit x terms per step)
    max_page_terms: int = 500_000
    #: largest request body, in bytes
    max_body_bytes: int = 16 * 1024 * 1024
    #: bytes of solved problems kept for later requests (an estimate; 0 keeps none)
    cache_bytes: int = 256 * 1024 * 1024
    #: most cells one page view draws (the page keeps one element per cell)
    max_view_cells: int = 60_000
    #: most steps of the scatter route per request (they carry running sums)
    max_scatter_steps: int = 500
    #: worker threads that solve large problems, taking turns (small ones skip the queue)
    work_threads: int = 2
    #: worker threads that write trace streams, taking turns chunk by chunk
    stream_threads: int = 1

    ENV_PREFIX: ClassVar[str] = "CONVVIZ_"
    #: the knobs that may be 0
    MAY_BE_ZERO: ClassVar[tuple[str, ...]] = ("cache_bytes",)

    @classmethod
    def env_name(cls, name: str) -> str:
        return cls.ENV_PREFIX + name.upper()

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Limits":
        """Defaults, then ``CONVVIZ_...`` environment variables, then ``overrides`` (not None)."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(cls.env_name(f.name))
            if raw is not None:
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise ValueError(f"{cls.env_name(f.name)} must be a whole number, got {raw!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name, value in values.items():
            least = 0 if name in cls.MAY_BE_ZERO else 1
            if value < least:
                raise ValueError(f"limit {name} must be >= {least}, got {value}")
        return cls(**values)

    def as_dict(self) -> dict:
        return asdict(self)


def engine_arrays(geo) -> dict[str, tuple[int, ...]]:
    """Every array solving a problem of geometry ``geo`` allocates, by what it is, with its shape.

    ``max_tensor_elements`` applies to each of them, whatever the endpoint and its flags: the
    fast engine unrolls the windows of ``x_pad`` (im2col, for ``out`` and ``grad_w``) and of
    ``grad_out_pad`` (gather route of ``grad_x``) even when the answer shows neither, and the
    page's views and the traces compute term sets no larger than these. A test
    (tests/test_audit.py) runs the engine under tracemalloc and fails if it ever allocates more
    than this accounts for.
    """
    if geo.transposed:  # the engine runs its dual convolution (its forward is the dual's grad_x)
        return {"x": geo.x_shape, "w": geo.w_shape, "out": geo.out_shape,
                "x_pad (x dilated by the stride and padded)": geo.x_pad_shape, "grad_out_pad": geo.grad_out_pad_shape,
                **{f"{name} of the dual convolution": shape for name, shape in engine_arrays(geo.dual).items()}}
    sh, sw = geo.stride
    rows, cols = getattr(geo, geo.gather_result + "_shape")[2:]
    return {
        "x": geo.x_shape,
        "w": geo.w_shape,
        "out": geo.out_shape,
        "x_pad": geo.x_pad_shape,
        "grad_out_pad": geo.grad_out_pad_shape,
        "grad_out dilated by the stride": (geo.N, geo.F, (geo.Ho - 1) * sh + 1, (geo.Wo - 1) * sw + 1),
        "the im2col matrix cols (N*Ho*Wo x C*KH*KW), built for out and grad_w even when not shown": geo.cols_shape,
        "the windows of grad_out_pad (N*H*W x F*KH*KW) that grad_x gathers": (geo.N * rows * cols,
                                                                               geo.Fg * geo.KH * geo.KW),
    }
