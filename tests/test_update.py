"""The update step (w_new = w - lr (grad_w + weight_decay w), b_new = b - lr grad_b) and where
grad_out comes from (loss "none", "sum", "mse"): against hand-worked numbers, PyTorch's SGD and
autograd, through the engine, the Python API, the trace of the ``update`` phase, the REST body
and the page's view (docs/conventions.md, "The update step" and "Where grad_out comes from")."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

import convviz
from convviz.app import create_app
from convviz.engine import fast, naive
from convviz.trace import Convolution, Trace

# The worked example (docs/conventions.md, section 8): preset "worked", integers, seed 37.
X = [[-2.0, 1.0, 1.0], [1.0, -2.0, -3.0], [3.0, 1.0, -2.0]]
W = [[2.0, 1.0], [3.0, -3.0]]
B = [2.0]
GRAD_OUT = [[1.0, 1.0], [3.0, 2.0]]
GRAD_W = [[-2.0, -10.0], [10.0, -6.0]]  # docs/conventions.md
GRAD_B = [7.0]
WORKED = {"x_shape": [1, 1, 3, 3], "w_shape": [1, 1, 2, 2], "values": "integers", "seed": 37}

# lr 0.1, weight_decay 0.5, worked out by hand:
#   w11: 2 - 0.1 (-2 + 0.5*2) = 2.1       w12: 1 - 0.1 (-10 + 0.5*1) = 1.95
#   w21: 3 - 0.1 (10 + 0.5*3) = 1.85      w22: -3 - 0.1 (-6 + 0.5*(-3)) = -2.25
#   b1:  2 - 0.1 * 7 = 1.3                (the bias is not decayed)
W_NEW = [[2.1, 1.95], [1.85, -2.25]]
B_NEW = [1.3]


def four_d(a):
    return np.array(a, dtype=float)[None, None]


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app())


@pytest.mark.parametrize("update", [naive.sgd_update, fast.sgd_update, convviz.sgd_update])
def test_worked_example_by_hand(update):
    w_new, b_new = update(four_d(W), np.array(B), four_d(GRAD_W), np.array(GRAD_B), lr=0.1, weight_decay=0.5)
    assert w_new[0, 0] == pytest.approx(np.array(W_NEW), abs=1e-12)
    assert b_new == pytest.approx(B_NEW, abs=1e-12)


def test_defaults_are_lr_001_and_no_decay():
    w_new, b_new = convviz.sgd_update(four_d(W), np.array(B), four_d(GRAD_W), np.array(GRAD_B))
    # w11 = 2 - 0.01 * (-2) = 2.02; b = 2 - 0.01 * 7 = 1.93
    assert w_new[0, 0, 0, 0] == pytest.approx(2.02) and b_new[0] == pytest.approx(1.93)
    w_new, b_new = convviz.sgd_update(four_d(W), None, four_d(GRAD_W), None, lr=1.0)
    assert b_new is None and w_new[0, 0, 1, 0] == pytest.approx(3.0 - 10.0)


@pytest.mark.parametrize("seed", range(3))
def test_engines_agree_and_match_torch_sgd(seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 4, size=4))
    w, grad_w = rng.standard_normal(shape), rng.standard_normal(shape)
    b, grad_b = rng.standard_normal(shape[0]), rng.standard_normal(shape[0])
    lr, wd = float(rng.uniform(0.001, 0.5)), float(rng.uniform(0, 0.1))
    got = fast.sgd_update(w, b, grad_w, grad_b, lr=lr, weight_decay=wd)
    slow = naive.sgd_update(w, b, grad_w, grad_b, lr=lr, weight_decay=wd)
    assert np.array_equal(got[0], slow[0]) and np.array_equal(got[1], slow[1])
    wt, bt = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    wt.grad, bt.grad = torch.tensor(grad_w), torch.tensor(grad_b)
    opt = torch.optim.SGD([{"params": [wt], "weight_decay": wd}, {"params": [bt], "weight_decay": 0.0}], lr=lr)
    opt.step()
    np.testing.assert_allclose(got[0], wt.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got[1], bt.detach().numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"lr": -0.1}, "lr must be a finite number >= 0, got -0.1"),
    ({"lr": float("nan")}, "lr must be a finite number >= 0"),
    ({"weight_decay": True}, "weight_decay must be a number >= 0, got True"),
    ({"weight_decay": "0.1"}, "weight_decay must be a number >= 0, got '0.1'"),
])
def test_bad_rates_are_refused_saying_what_was_received(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        convviz.sgd_update(four_d(W), np.array(B), four_d(GRAD_W), np.array(GRAD_B), **kwargs)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"grad_w must have the shape of w, \(1, 1, 2, 2\), got shape \(1, 1, 2, 3\)"):
        convviz.sgd_update(four_d(W), None, np.zeros((1, 1, 2, 3)), None)
    with pytest.raises(ValueError, match="give b and grad_b together"):
        convviz.sgd_update(four_d(W), np.array(B), four_d(GRAD_W), None)
    with pytest.raises(ValueError, match=r"must have shape \(1,\)"):
        convviz.sgd_update(four_d(W), np.array([1.0, 2.0]), four_d(GRAD_W), np.array([1.0, 2.0]))


def test_update_trace_steps_are_the_hand_worked_numbers():
    conv = Convolution.from_arrays(four_d(X), four_d(W), np.array(B), four_d(GRAD_OUT), lr=0.1, weight_decay=0.5)
    trace = Trace(conv, "update")
    steps = trace.steps()
    assert len(steps) == 4 and trace.terms_per_step == 1
    for k, step in enumerate(steps):
        p, q = divmod(k, 2)
        (term,) = step["terms"]
        assert step["at"] == [0, 0, p, q] and term["w"] == term["grad_w"] == [0, 0, p, q]
        assert (term["w_value"], term["grad_w_value"]) == (W[p][q], GRAD_W[p][q])
        assert term["product"] == pytest.approx(W_NEW[p][q] - W[p][q], abs=1e-12)  # the change added to w
        assert step["value"] == pytest.approx(W_NEW[p][q], abs=1e-12)
        assert step["value"] == term["w_value"] + term["product"]


def test_rest_body_lr_and_weight_decay_reach_the_trace_and_the_view(client):
    body = {**WORKED, "lr": 0.1, "weight_decay": 0.5}
    page = client.post("/api/v1/trace/update", json=body).json()
    assert [s["value"] for s in page["steps"]] == pytest.approx([v for row in W_NEW for v in row], abs=1e-12)
    view = client.post("/api/v1/page/view/update", json=body).json()
    grids = {g["title"]: g for g in view["grids"]}
    assert grids["w_new"]["values"] == pytest.approx([v for row in W_NEW for v in row], abs=1e-12)
    assert grids["b_new"]["values"] == pytest.approx(B_NEW) and grids["grad_b"]["values"] == GRAD_B
    assert "lr = 0.1, weight_decay = 0.5." in view["notes"]
    # each new value is linked to its old value and its gradient, and to nothing else
    ids = {g["offset"] + k: (g["tensor"], idx) for g in view["grids"] for k, idx in enumerate(g["idx"])}
    terms = sorted(sorted(ids[i] for i in term) for term in view["terms"])
    expect = sorted(sorted([("w_new", f"0,0,{p},{q}"), ("w", f"0,0,{p},{q}"), ("grad_w", f"0,0,{p},{q}")])
                    for p in range(2) for q in range(2))
    assert terms == sorted(expect + [sorted([("b_new", "0"), ("b", "0"), ("grad_b", "0")])])
    # the defaults: lr 0.01, no decay (2 - 0.01 * (-2) = 2.02)
    default = client.post("/api/v1/trace/update?limit=1", json=WORKED).json()["steps"][0]
    assert default["value"] == pytest.approx(2.02)


@pytest.mark.parametrize("field, value, fragment", [
    ("lr", -1, "lr: Input should be greater than or equal to 0"),
    ("lr", "0.1", "lr: Input should be a valid number"),
    ("weight_decay", True, "weight_decay: Input should be a valid number"),
    ("loss", "l1", "loss: Input should be 'none', 'sum' or 'mse'"),
])
def test_bad_settings_are_422_saying_what_is_allowed(client, field, value, fragment):
    r = client.post("/api/v1/conv", json={**WORKED, field: value})
    assert r.status_code == 422
    assert fragment in r.json()["error"]["message"] and r.json()["error"]["loc"] == ["body", field]


def test_cli_traces_the_update_phase(capsysbinary):
    from convviz.cli import main

    assert main(["trace", "update", "worked", "--limit", "2"]) == 0
    lines = capsysbinary.readouterr().out.decode().splitlines()
    steps = [json.loads(line) for line in lines if '"step"' in line]
    assert [s["value"] for s in steps] == pytest.approx([2.02, 1.1])  # 1 - 0.01 * (-10) = 1.1


# where grad_out comes from ---------------------------------------------------------------------------
def test_loss_sum_gives_ones_and_mse_gives_out_minus_target_by_hand(client):
    r = client.post("/api/v1/conv", json={**WORKED, "loss": "sum"}).json()
    assert r["grad_out"] == [[[[1.0, 1.0], [1.0, 1.0]]]]
    # out = [[8, 8], [8, 4]] (docs/conventions.md); target chosen here; grad_out = out - target
    target = [[3.0, -3.0], [2.0, 0.0]]
    r = client.post("/api/v1/conv", json={**WORKED, "loss": "mse", "target": target}).json()
    assert r["out"] == [[[[8.0, 8.0], [8.0, 4.0]]]]
    assert r["grad_out"] == [[[[5.0, 11.0], [6.0, 4.0]]]]
    # grad_b = sum of grad_out = 26
    assert r["grad_b"] == [26.0]
    # explicit x and w without a target: target zeros, L = 1/2 sum(out^2), grad_out = out
    r = client.post("/api/v1/conv", json={"x": X, "w": W, "b": B, "loss": "mse"}).json()
    assert r["grad_out"] == r["out"] == [[[[8.0, 8.0], [8.0, 4.0]]]]


def test_generated_target_is_reproducible_and_leaves_the_other_tensors_alone(client):
    base = client.post("/api/v1/conv", json=WORKED).json()
    a = client.post("/api/v1/page/view/grad_w", json={**WORKED, "loss": "mse"}).json()
    b = client.post("/api/v1/page/view/grad_w", json={**WORKED, "loss": "mse"}).json()
    assert a == b
    grids = {g["title"]: g for g in a["grids"]}
    assert grids["x_pad"]["values"] == [v for row in base["x"][0][0] for v in row]
    out, target, grad_out = (np.array(grids[t]["values"]) for t in ("out", "target", "grad_out"))
    assert np.array_equal(out, np.array(base["out"]).ravel())
    assert np.array_equal(grad_out, out - target)
    assert set(target) <= set(range(-3, 4)) and grids["target"]["area"] == "origin"
    # each grad_out cell is linked to the out and target cells it is made of
    ids = {g["offset"] + k: (g["tensor"], idx) for g in a["grids"] for k, idx in enumerate(g["idx"])}
    made_of = [sorted(ids[i] for i in term) for term in a["terms"] if {ids[i][0] for i in term} == {"grad_out", "out", "target"}]
    assert sorted(made_of) == sorted(sorted([("grad_out", k), ("out", k), ("target", k)])
                                     for k in grids["out"]["idx"])


@pytest.mark.parametrize("extra, fragment", [
    ({"loss": "sum", "grad_out": [[1, 1], [1, 1]]}, "give grad_out or loss 'sum' (which makes grad_out), not both"),
    ({"target": [[1, 1], [1, 1]]}, "target is used only with loss 'mse'"),
    ({"loss": "mse", "target": [[1, 1, 1]]}, "target must have the shape of out"),
])
def test_inconsistent_loss_settings_are_422(client, extra, fragment):
    r = client.post("/api/v1/conv", json={"x": X, "w": W, **extra})
    assert r.status_code == 422 and fragment in r.json()["error"]["message"], r.text


def test_mse_gradients_match_torch_autograd(client):
    torch = pytest.importorskip("torch")
    body = {"x_shape": [2, 2, 5, 4], "w_shape": [3, 2, 2, 3], "padding": 1, "stride": [2, 1], "values": "normal",
            "seed": 4, "loss": "mse"}
    r = client.post("/api/v1/conv", json=body).json()
    view = client.post("/api/v1/page/view/grad_b", json=body, params={"n": 1, "f": 2}).json()
    target_slice = {g["title"]: g for g in view["grids"]}["target"]["values"]
    xt, wt, bt = (torch.tensor(r[k], dtype=torch.float64, requires_grad=True) for k in ("x", "w", "b"))
    out = torch.nn.functional.conv2d(xt, wt, bt, stride=(2, 1), padding=1)
    # a generated tensor has its own stream (seed, k): x 0, w 1, b 2, grad_out 3, target 4
    target = torch.from_numpy(np.random.default_rng([4, 4]).standard_normal(tuple(out.shape)))
    assert np.array(target_slice) == pytest.approx(target[1, 2].numpy().ravel(), abs=0)
    loss = 0.5 * ((out - target) ** 2).sum()
    gx, gw, gb = torch.autograd.grad(loss, (xt, wt, bt))
    np.testing.assert_allclose(r["grad_x"], gx.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r["grad_w"], gw.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r["grad_b"], gb.numpy(), rtol=1e-10, atol=1e-12)
