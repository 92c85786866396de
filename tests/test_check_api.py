"""``POST /api/v1/check``: submitted arrays judged against a problem, in process and through a
live server. Truth: learner-style loops (tests/learner_code.py) and hand-worked literals."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from convviz.app import create_app
from convviz.trace import generate_arrays
from convviz.engine import Geometry

import learner_code as lc

WORKED = {"x_shape": [1, 1, 3, 3], "w_shape": [1, 1, 2, 2], "values": "integers", "seed": 37}
# hand-worked (tests/test_check.py): the worked example's grad_x, right and by the rotated-kernel scatter
RIGHT_GRAD_X = [[2, 3, 1], [9, 7, -1], [9, -3, -6]]
ROTATED_GRAD_X = [[-3, 0, 3], [-8, 6, 8], [3, 8, 4]]


@pytest.fixture(scope="module", params=["in_process", pytest.param("live", marks=pytest.mark.server)])
def api(request):
    if request.param == "in_process":
        with TestClient(create_app(), follow_redirects=False) as client:
            yield client
    else:
        live_server = request.getfixturevalue("live_server")
        with httpx.Client(base_url=live_server.url, timeout=60) as client:
            yield client


def test_right_numbers_are_ok(api):
    r = api.post("/api/v1/check", json={**WORKED, "submitted": {"grad_x": RIGHT_GRAD_X}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True and body["diagnosis"] is None
    t = body["tensors"]["grad_x"]
    assert t == {"ok": True, "shape_expected": [1, 1, 3, 3], "shape_got": [1, 1, 3, 3], "max_abs_error": 0.0,
                 "wrong_count": 0, "wrong": [], "first": None, "diagnosis": None}


def test_the_tutorials_scatter_is_named(api):
    r = api.post("/api/v1/check", json={**WORKED, "submitted": {"grad_x": ROTATED_GRAD_X}})
    body = r.json()
    assert body["ok"] is False and body["diagnosis"]["code"] == "rotated_kernel_in_scatter"
    t = body["tensors"]["grad_x"]
    wrong = np.argwhere(~np.isclose(np.array(ROTATED_GRAD_X), np.array(RIGHT_GRAD_X)))
    assert t["wrong"] == [[0, 0, int(i), int(j)] for i, j in wrong] and t["wrong_count"] == len(wrong) == 9
    assert t["max_abs_error"] == 17.0  # |-8 - 9|
    first = t["first"]
    assert first["index"] == [0, 0, 0, 0] and first["step"] == 0 and first["expected"] == 2 and first["got"] == -3
    assert first["equation"].startswith("grad_x[0,0,0,0] = grad_out[0,0,0,0] * w[0,0,0,0]")


def problem_arrays(body):
    geo = Geometry.from_shapes(tuple(body["x_shape"]), tuple(body["w_shape"]), stride=body.get("stride", 1),
                               padding=body.get("padding", 0))
    return generate_arrays(geo, body["values"], body["seed"])


@pytest.mark.parametrize("name, tensor", [("grad_w_rotated", 1), ("grad_w_not_summed_over_batch", 1),
                                          ("grad_b_not_summed", 2), ("padding_not_removed", 0),
                                          ("stride_not_dilated", 0)])
def test_mistakes_named_from_one_problem(api, name, tensor):
    body = {"x_shape": [2, 2, 5, 5], "w_shape": [2, 2, 3, 3], "stride": 2, "padding": 1, "values": "integers",
            "seed": 9}
    a = problem_arrays(body)
    got = lc.MUTANTS_BACKWARD[name](a["x"], a["w"], a["grad_out"], 2, 1)[tensor]
    key = ("grad_x", "grad_w", "grad_b")[tensor]
    r = api.post("/api/v1/check", json={**body, "submitted": {key: got.tolist()}})
    assert r.status_code == 200, r.text
    assert r.json()["diagnosis"]["code"] == name


def test_wrong_shape_and_forward(api):
    a = problem_arrays({**WORKED})
    out = lc.forward_bias_missing(a["x"], a["w"], a["b"])
    r = api.post("/api/v1/check", json={**WORKED, "submitted": {"out": out[0, 0].tolist(), "grad_b": [1, 2]}})
    body = r.json()
    assert body["tensors"]["out"]["diagnosis"]["code"] == "bias_missing"
    gb = body["tensors"]["grad_b"]
    assert gb["ok"] is False and gb["shape_got"] == [2] and gb["shape_expected"] == [1] and gb["wrong"] == []
    assert body["diagnosis"]["code"] == "bias_missing"  # the first wrong tensor's


def test_an_unknown_mistake_gets_no_name_but_a_note(api):
    got = np.array(RIGHT_GRAD_X, dtype=float)
    got[1, 1] += 1.0 * 3  # one term grad_out[0,0,0,1] * w[0,0,1,0] = 1 * 3 counted twice
    r = api.post("/api/v1/check", json={**WORKED, "submitted": {"grad_x": got.tolist()}})
    t = r.json()["tensors"]["grad_x"]
    assert r.json()["diagnosis"] is None and t["wrong"] == [[0, 0, 1, 1]]
    assert "twice" in t["first"]["note"]


@pytest.mark.parametrize("extra, status, message", [
    ({"submitted": {}}, 422, "submitted must hold at least one of out, grad_x, grad_w, grad_b; got an empty object"),
    ({"submitted": {"grad_x": [[1, "a"]]}}, 422, "submitted.grad_x"),
    ({"submitted": {"grad_x": [1, 2, 3]}}, 422, "submitted.grad_x"),
    ({"submitted": {"grad_q": [1]}}, 422, "grad_q"),
    ({"submitted": {"grad_b": [1]}, "rtol": -1}, 422, "rtol"),
    ({}, 422, "submitted must hold at least one of out, grad_x, grad_w, grad_b; got none"),
])
def test_bad_requests_get_422_saying_what(api, extra, status, message):
    r = api.post("/api/v1/check", json={**WORKED, **extra})
    assert r.status_code == status, r.text
    assert message in r.text
    assert "error" in r.json()


def test_limits_apply(api):
    r = api.post("/api/v1/check", json={"x_shape": [4000, 4000], "w_shape": [3, 3], "submitted": {"grad_b": [0]}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "limit_exceeded"


@pytest.mark.parametrize("extra, tensor", [
    ({"x_shape": [1, 4, 5, 5], "w_shape": [4, 2, 3, 3], "groups": 2, "padding": 1}, "grad_w"),
    ({"x_shape": [1, 2, 5, 5], "w_shape": [2, 2, 3, 3], "padding": 1, "padding_mode": "reflect"}, "grad_x"),
    ({"x_shape": [1, 2, 4, 4], "w_shape": [2, 3, 3, 3], "transposed": True, "stride": 2, "padding": 1,
      "output_padding": 1}, "out"),
])
def test_other_kinds_of_problem_are_judged_without_names(api, extra, tensor):
    """Groups, padding modes and transposed problems: every cell judged against the server's own
    answer, no mistake named (the mistakes model the plain convolution), no step shown."""
    body = {**extra, "values": "integers", "seed": 3}
    right = np.array(api.post("/api/v1/conv?im2col=false", json=body).json()[tensor])
    got = right.copy()
    got.flat[1] += 1.0
    r = api.post("/api/v1/check", json={**body, "submitted": {tensor: got.tolist()}})
    assert r.status_code == 200, r.text
    t = r.json()["tensors"][tensor]
    assert t["wrong"] == [list(np.unravel_index(1, right.shape))] and t["wrong_count"] == 1
    assert r.json()["diagnosis"] is None and t["first"] is None
    ok = api.post("/api/v1/check", json={**body, "submitted": {tensor: right.tolist()}})
    assert ok.json()["ok"] is True
