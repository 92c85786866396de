"""The solved-problem cache: repeated problems are answered from it, never a stale answer."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from convviz.problem import Limits, Solved, SolvedCache
from convviz.app import create_app
from convviz.trace import Convolution


def reference_out(x, w):
    """Valid cross-correlation, stride 1, no padding, one channel: docs/conventions.md's forward by loops."""
    H, W, KH, KW = len(x), len(x[0]), len(w), len(w[0])
    return [[sum(x[i + p][j + q] * w[p][q] for p in range(KH) for q in range(KW))
             for j in range(W - KW + 1)] for i in range(H - KH + 1)]


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(Limits()))


def test_edited_array_is_not_answered_from_the_cache(client):
    x = [[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [2.0, 1.0, 0.0]]
    w = [[1.0, -1.0], [2.0, 0.0]]
    first = client.post("/api/v1/conv", json={"x": x, "w": w}).json()
    edited = [row[:] for row in x]
    edited[1][1] = 10.0
    second = client.post("/api/v1/conv", json={"x": edited, "w": w}).json()
    again = client.post("/api/v1/conv", json={"x": x, "w": w}).json()
    assert first["out"][0][0] == reference_out(x, w)
    assert second["out"][0][0] == reference_out(edited, w)
    assert again == first


def test_same_generated_problem_same_answer_and_other_seed_differs(client):
    problem = {"x_shape": [2, 3, 6, 5], "w_shape": [4, 3, 3, 2], "padding": 1, "values": "normal", "seed": 7}
    a = client.post("/api/v1/conv", json=problem)
    b = client.post("/api/v1/conv", json=problem)
    c = client.post("/api/v1/conv", json={**problem, "seed": 8})
    assert a.status_code == b.status_code == c.status_code == 200
    assert a.content == b.content
    assert a.json()["x"] != c.json()["x"]
    # the cached problem still honours each request's limits (cols only when asked for)
    assert "cols" not in client.post("/api/v1/conv", json=problem, params={"im2col": "false"}).json()


def test_cached_arrays_are_read_only():
    entry = Solved(Convolution.from_arrays(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))))
    with pytest.raises(ValueError):
        entry.conv.x[0, 0, 0, 0] = 5.0
    with pytest.raises(ValueError):
        entry.conv.out[0, 0, 0, 0] = 5.0


def test_lru_is_bounded_by_bytes():
    one = Solved(Convolution.from_arrays(np.ones((1, 1, 8, 8)), np.ones((1, 1, 3, 3))))
    cache = SolvedCache(max_bytes=3 * one.estimated_bytes)
    for k in range(5):
        cache.put(f"k{k}", Solved(Convolution.from_arrays(np.full((1, 1, 8, 8), k), np.ones((1, 1, 3, 3)))))
    assert cache.get("k0") is None and cache.get("k1") is None
    assert cache.get("k4").conv.x[0, 0, 0, 0] == 4
    # an entry over half the budget is never kept
    SolvedCache(max_bytes=one.estimated_bytes).put("big", one)


def test_cache_can_be_turned_off():
    client = TestClient(create_app(Limits(cache_bytes=0)))
    r = client.post("/api/v1/trace/forward", json={"x": [[1, 2], [3, 4]], "w": [[1]]}, params={"limit": 4})
    assert [s["value"] for s in r.json()["steps"]] == [1.0, 2.0, 3.0, 4.0]
