"""Resource limits: documented, configurable (environment or ``convviz serve`` flags), checked
on shapes before any array is built."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Limits:
    #: largest element count of any tensor a request builds (x, w, out, x_pad, grad_out_pad, cols)
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

    ENV_PREFIX = "CONVVIZ_"

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Limits":
        """Defaults, then ``CONVVIZ_MAX_...`` environment variables, then ``overrides`` (not None)."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(cls.ENV_PREFIX + f.name.upper())
            if raw is not None:
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise ValueError(f"{cls.ENV_PREFIX + f.name.upper()} must be a whole number, got {raw!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name, value in values.items():
            if value < (0 if name == "cache_bytes" else 1):
                raise ValueError(f"limit {name} must be >= {0 if name == 'cache_bytes' else 1}, got {value}")
        return cls(**values)

    def as_dict(self) -> dict:
        return asdict(self)
