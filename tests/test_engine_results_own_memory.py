"""What the engines return belongs to the caller: a later call (another problem, another thread's
work buffers) never changes an array handed out before. convviz.check calls the engine between
the learner's calls, so an aliased result would make a right implementation look wrong."""

from __future__ import annotations

import numpy as np
import pytest

from convviz.engine import fast, naive


@pytest.mark.parametrize("engine", [naive, fast], ids=["naive", "fast"])
@pytest.mark.parametrize("stride", [1, 2])
def test_results_survive_later_calls(engine, stride):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    out = engine.conv2d_forward(x, w, b, stride=stride, padding=1)
    grads = engine.conv2d_backward(x, w, np.ones_like(out), stride=stride, padding=1)
    kept = [out.copy(), *(g.copy() for g in grads)]
    for _ in range(3):  # same shapes, other values: the calls most likely to reuse a buffer
        x2, w2 = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
        out2 = engine.conv2d_forward(x2, w2, b, stride=stride, padding=1)
        engine.conv2d_backward(x2, w2, out2, stride=stride, padding=1)
    for before, now in zip(kept, [out, *grads]):
        np.testing.assert_array_equal(now, before)
    assert not any(np.shares_memory(a, c) for a in [out, *grads] for c in [out, *grads] if a is not c)
