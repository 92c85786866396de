"""Step traces of every configuration (issue 9): groups, padding modes with the fold, transposed
convolutions. For each phase that shows a problem, every step's term set is the true dependency
set, checked against the Jacobian's nonzero pattern (PyTorch autograd on random values: d result
/ d input is nonzero exactly where that input feeds that result), each step's value is the sum of
its products (plus the bias) and the engine's result, and the total is the result's size. The
steps are read through their JSON text (``StepWriter``, what a client receives).

A term's dependencies are its non-null input cells; a term whose first operand is a zero of no
cell (padding, an inserted zero, a fold slot past a cell's copies) depends on nothing.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convviz.problem import PRESETS, Limits, ProblemIn, StepWriter, resolve
from convviz.trace import PHASE_LIST, Convolution, Trace

torch = pytest.importorskip("torch")
TF = torch.nn.functional
TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def json_steps(trace: Trace) -> list[dict]:
    return [json.loads(line) for lines in StepWriter(trace).json_lines(0, len(trace)) for line in lines]


def flat(index, shape) -> int:
    return int(np.ravel_multi_index(tuple(index), shape))


class Truth:
    """The maps of one problem in PyTorch, as functions of leaf tensors, and their Jacobians."""

    def __init__(self, conv: Convolution):
        self.conv, g = conv, conv.geo
        self.x, self.w = (torch.tensor(a) for a in (conv.x, conv.w))
        self.go = torch.tensor(conv.grad_out)
        if g.transposed:
            self.forward = lambda x, w: TF.conv_transpose2d(x, w, None, **g.hyper)
        else:
            top, bottom, left, right = g.pads
            self.pad = lambda x: TF.pad(x, (left, right, top, bottom), mode=TORCH_MODE[g.padding_mode])
            self.on_x_pad = lambda xp, w: TF.conv2d(xp, w, None, stride=g.stride, dilation=g.dilation,
                                                    groups=g.groups)
            self.forward = lambda x, w: self.on_x_pad(self.pad(x), w)

    @staticmethod
    def jacobian(fn, arg) -> np.ndarray:
        jac = torch.autograd.functional.jacobian(fn, arg, vectorize=True)
        out_size = int(np.prod(jac.shape[: jac.dim() - arg.dim()]))
        return jac.reshape(out_size, arg.numel()).numpy()

    def d_out_d_x(self):
        return self.jacobian(lambda x: self.forward(x, self.w), self.x)

    def d_out_d_w(self):
        return self.jacobian(lambda w: self.forward(self.x, w), self.w)

    def d_grad_w_d_x(self):
        def grad_w(x):
            w = self.w.clone().requires_grad_()
            return torch.autograd.grad(self.forward(x, w), w, self.go, create_graph=True)[0]
        return self.jacobian(grad_w, self.x)

    def d_out_d_x_pad(self):
        return self.jacobian(lambda xp: self.on_x_pad(xp, self.w), self.pad(self.x))

    def d_x_pad_d_x(self):
        return self.jacobian(self.pad, self.x)


def dependencies(terms, field, gate) -> set:
    """The cells ``field`` names in the terms whose ``gate`` field is not null."""
    return {tuple(t[field]) for t in terms if t.get(gate, True) is not None and t[field] is not None}


def nonzero(row: np.ndarray, shape) -> set:
    return {tuple(int(v) for v in np.unravel_index(k, shape)) for k in np.flatnonzero(row)}


def check_phase(conv: Convolution, phase: str, truth: Truth) -> None:
    g = conv.geo
    trace = Trace(conv, phase)
    steps = json_steps(trace)
    assert len(steps) == len(trace) == trace.result.size
    entry = trace.entry
    for k, step in enumerate(steps):
        at, terms = step["at"], step["terms"]
        assert step["index"] == k and tuple(at) == np.unravel_index(k, trace.result_shape)
        assert step["value"] == trace.result[tuple(at)]
        products = sum(t["product"] for t in terms) + step.get("bias", 0.0)
        if entry.formula.get("style") == "scatter":  # the value is the one spread, each product one stamp of it
            assert all(t["product"] == step["value"] * t["w_value"] for t in terms), (phase, at)
        elif entry.formula.get("style") == "update":  # w_new = w + the change
            assert np.isclose(step["value"], terms[0]["w_value"] + terms[0]["product"], rtol=1e-12, atol=1e-15)
        else:
            assert np.isclose(products, step["value"], rtol=1e-12, atol=1e-12), (phase, at)
    dep = _expected_dependencies(conv, phase, truth)
    for step in steps:
        for field, gate, want in dep(step["at"]):
            got = dependencies(step["terms"], field, gate)
            assert got == want, (phase, step["at"], field, sorted(got ^ want)[:5])


def _expected_dependencies(conv, phase, truth):
    """A function of a step's ``at``: [(term field, gating field, the set the Jacobian gives)]."""
    g = conv.geo
    o_shape, x_shape, w_shape = g.out_shape, g.x_shape, g.w_shape
    if phase in ("forward", "transposed_forward"):
        jx, jw = truth.d_out_d_x(), truth.d_out_d_w()
        gate = "x"
        return lambda at: [("x", gate, nonzero(jx[flat(at, o_shape)], x_shape)),
                           ("w", gate, nonzero(jw[flat(at, o_shape)], w_shape))]
    if phase in ("grad_x", "transposed_grad_x"):
        jx = truth.d_out_d_x()  # grad_x = J^T grad_out: grad_x[i] reads grad_out[o] where J[o, i] != 0
        return lambda at: [("grad_out", "grad_out", nonzero(jx[:, flat(at, x_shape)], o_shape))]
    if phase == "grad_x_pad":
        jp = truth.d_out_d_x_pad()
        return lambda at: [("grad_out", "grad_out", nonzero(jp[:, flat(at, g.x_pad_shape)], o_shape))]
    if phase == "fold":
        jf = truth.d_x_pad_d_x()
        return lambda at: [("grad_x_pad", "grad_x_pad", nonzero(jf[:, flat(at, x_shape)], g.x_pad_shape))]
    if phase in ("grad_w", "transposed_grad_w"):
        jw, jwx = truth.d_out_d_w(), truth.d_grad_w_d_x()
        gate = "x" if phase == "grad_w" else "grad_out"
        return lambda at: [("grad_out", gate, nonzero(jw[:, flat(at, w_shape)], o_shape)),
                           ("x", gate, nonzero(jwx[flat(at, w_shape)], x_shape))]
    if phase == "grad_b":
        return lambda at: [("grad_out", "grad_out", {tuple(i) for i in np.ndindex(*o_shape) if i[1] == at[0]})]
    if phase == "grad_x_scatter":
        jx = truth.d_out_d_x()
        return lambda at: [("grad_x", "grad_x", nonzero(jx[flat(at, o_shape)], x_shape))]
    if phase == "transposed_scatter":
        jx = truth.d_out_d_x()
        return lambda at: [("out", "out", nonzero(jx[:, flat(at, x_shape)], o_shape))]
    if phase == "update":
        return lambda at: [("w", "w", {tuple(at)}), ("grad_w", "grad_w", {tuple(at)})]
    raise AssertionError(f"no truth for phase {phase}")


def phases_of(conv) -> list[str]:
    return [p.name for p in PHASE_LIST if p.traced and p.applies(conv.geo)]


@st.composite
def conv_problems(draw):
    groups = draw(st.integers(1, 2))
    Cg, Fg = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    H, W = draw(st.integers(2, 5)), draw(st.integers(2, 5))
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    most_h, most_w = (H - 1, W - 1) if mode == "reflect" else (min(H, 2), min(W, 2))
    low = 0 if mode == "zeros" else -2  # a negative side crops (F.pad), in the modes that copy x
    pads = [draw(st.integers(low, most_h)), draw(st.integers(low, most_h)),
            draw(st.integers(low, most_w)), draw(st.integers(low, most_w))]
    if mode == "circular":  # it wraps around the cells the crop leaves
        assume(max(pads[:2]) <= H + min(pads[0], 0) + min(pads[1], 0))
        assume(max(pads[2:]) <= W + min(pads[2], 0) + min(pads[3], 0))
    stride, dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 3))), (draw(st.integers(1, 2)), 1)
    assume(H + pads[0] + pads[1] >= dilation[0] * (KH - 1) + 1 and W + pads[2] + pads[3] >= KW)
    return {"x_shape": [draw(st.integers(1, 2)), groups * Cg, H, W], "w_shape": [groups * Fg, Cg, KH, KW],
            "padding": pads, "padding_mode": mode, "groups": groups, "stride": list(stride),
            "dilation": list(dilation), "values": "normal", "seed": draw(st.integers(0, 1000))}


@st.composite
def transposed_problems(draw):
    groups = draw(st.integers(1, 2))
    Cg, Fg = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    H, W = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, dilation = [draw(st.integers(1, 3)), draw(st.integers(1, 2))], [draw(st.integers(1, 2)), 1]
    padding = [draw(st.integers(0, 2)), draw(st.integers(0, 2))]
    output_padding = [draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation)]
    Ho = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (KH - 1) + output_padding[0] + 1
    Wo = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (KW - 1) + output_padding[1] + 1
    assume(Ho >= 1 and Wo >= 1)
    return {"x_shape": [draw(st.integers(1, 2)), groups * Cg, H, W], "w_shape": [groups * Cg, Fg, KH, KW],
            "transposed": True, "stride": stride, "padding": padding, "output_padding": output_padding,
            "dilation": dilation, "groups": groups, "values": "normal", "seed": draw(st.integers(0, 1000))}


def solve(body) -> Convolution:
    return resolve(ProblemIn.model_validate(body), Limits())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(conv_problems())
def test_every_conv_phase_term_set_is_the_jacobians_pattern(body):
    conv = solve(body)
    truth = Truth(conv)
    for phase in phases_of(conv):
        check_phase(conv, phase, truth)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(transposed_problems())
def test_every_transposed_phase_term_set_is_the_jacobians_pattern(body):
    conv = solve(body)
    truth = Truth(conv)
    for phase in phases_of(conv):
        check_phase(conv, phase, truth)


@pytest.mark.parametrize("preset", ["depthwise", "same_even", "reflect", "circular", "transposed_upsample",
                                    "transposed_odd"])
def test_presets_of_issue_9(preset):
    conv = solve({**PRESETS[preset]["problem"], "values": "normal"})  # generic values: no zero is an accident
    truth = Truth(conv)
    x, w = truth.x.clone().requires_grad_(), truth.w.clone().requires_grad_()
    out = truth.forward(x, w)
    out.backward(truth.go)
    np.testing.assert_allclose(conv.out - conv.b[None, :, None, None], out.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.grad_x, x.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.grad_w, w.grad.numpy(), rtol=1e-12, atol=1e-12)
    for phase in phases_of(conv):
        check_phase(conv, phase, truth)


def test_each_kind_shows_its_own_phases():
    kinds = {name: solve(PRESETS[name]["problem"]) for name in ("channels", "reflect", "transposed_upsample")}
    assert phases_of(kinds["channels"]) == ["forward", "grad_x", "grad_x_scatter", "grad_w", "grad_b", "update"]
    assert phases_of(kinds["reflect"]) == ["forward", "grad_x_pad", "fold", "grad_w", "grad_b", "update"]
    assert phases_of(kinds["transposed_upsample"]) == ["transposed_forward", "transposed_scatter", "transposed_grad_x",
                                                       "transposed_grad_w", "grad_b", "update"]
    with pytest.raises(ValueError, match="phase grad_x does not show a convolution whose border copies x"):
        Trace(kinds["reflect"], "grad_x")


def test_fold_by_hand():
    """x = [[1, 2, 3]], reflect padding 1 on the left and right, w = [[1]]: x_pad = [2 | 1 2 3 | 2],
    grad_out = [a b c d e] -> grad_x_pad = grad_out; grad_x = [b, a + c + e, d]: the middle cell
    collects its own gradient and both mirrored copies'."""
    conv = Convolution.from_arrays(np.array([[[[1.0, 2.0, 3.0]]]]), np.array([[[[1.0]]]]),
                                   grad_out=np.array([[[[10.0, 20.0, 30.0, 40.0, 50.0]]]]),
                                   padding=[0, 0, 1, 1], padding_mode="reflect")
    steps = Trace(conv, "fold").steps()
    assert [s["value"] for s in steps] == [20.0, 10.0 + 30.0 + 50.0, 40.0]
    middle = [t for t in steps[1]["terms"] if t["grad_x_pad"] is not None]
    assert [t["grad_x_pad"] for t in middle] == [[0, 0, 0, 2], [0, 0, 0, 0], [0, 0, 0, 4]]  # itself first
    assert [t["grad_x_pad"] for t in steps[0]["terms"]] == [[0, 0, 0, 1], None, None]
    # forward: the border cell's term names the x cell it copies
    first = Trace(conv, "forward").step(0)["terms"][0]
    assert first["x_pad"] == [0, 0, 0, 0] and first["x"] == [0, 0, 0, 1] and first["x_value"] == 2.0


def test_transposed_forward_by_hand():
    """x = [[1, 2]] (1x2), w = [[1, 10]] (1x2), stride 2: out = [1, 10, 2, 20]: x_pad = [0 1 0 2 0]
    (margin dw(KW-1) = 1, a zero between 1 and 2), w_rot = [[10, 1]]."""
    conv = Convolution.from_arrays(np.array([[[[1.0, 2.0]]]]), np.array([[[[1.0, 10.0]]]]), stride=2,
                                   transposed=True)
    assert conv.out.tolist() == [[[[1.0, 10.0, 2.0, 20.0]]]]
    assert conv.x_pad.tolist() == [[[[0.0, 1.0, 0.0, 2.0, 0.0]]]]
    steps = Trace(conv, "transposed_forward").steps()
    assert [[t["x"] for t in s["terms"]] for s in steps] == [
        [None, [0, 0, 0, 0]], [[0, 0, 0, 0], None], [None, [0, 0, 0, 1]], [[0, 0, 0, 1], None]]
    assert [t["w"] for t in steps[1]["terms"]] == [[0, 0, 0, 1], [0, 0, 0, 0]]  # w_rot[0] = w[1], w_rot[1] = w[0]
    scatter = Trace(conv, "transposed_scatter").steps()
    assert [[t["out"] for t in s["terms"]] for s in scatter] == [[[0, 0, 0, 0], [0, 0, 0, 1]],
                                                                 [[0, 0, 0, 2], [0, 0, 0, 3]]]


# the new phases through every outlet: stream, download, CLI, page view and its SVG ---------------------------
NEW_PHASES = {"grad_x_pad": "reflect", "fold": "circular", "transposed_forward": "transposed_odd",
              "transposed_scatter": "transposed_upsample", "transposed_grad_x": "transposed_odd",
              "transposed_grad_w": "transposed_upsample"}


@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from convviz.app import create_app

    return TestClient(create_app())


@pytest.mark.parametrize("phase", list(NEW_PHASES))
def test_new_phases_stream_download_and_cli_agree(client, phase, capsys):
    from convviz.cli import main as cli_main

    body = {**PRESETS[NEW_PHASES[phase]]["problem"], "x_shape": [2, 2, 3, 4]}
    body["w_shape"] = [2, 2, 3, 2] if not body.get("transposed") else [2, 2, 3, 3]
    stream = client.post(f"/api/v1/trace/{phase}/stream", json=body)
    assert stream.status_code == 200, stream.text
    events = [json.loads(line) for line in stream.text.splitlines()]
    conv = solve(body)
    assert events[0]["total"] == len(Trace(conv, phase)) == events[-1]["count"] == len(events) - 2
    assert [e for e in events[1:-1]] == [{"event": "step", **s} for s in json_steps(Trace(conv, phase))]
    download = client.post(f"/api/v1/export/trace/{phase}.jsonl", json=body)
    assert download.text.splitlines()[1:] == stream.text.splitlines()[1:]
    import pathlib
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "problem.json"
        path.write_text(json.dumps(body))
        capsys.readouterr()
        assert cli_main(["trace", phase, str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == stream.text.splitlines()[1:]


@pytest.mark.parametrize("phase", list(NEW_PHASES))
def test_new_phase_views_link_the_cells_of_their_terms(client, phase):
    body = {**PRESETS[NEW_PHASES[phase]]["problem"], "values": "normal"}
    view = client.post(f"/api/v1/page/view/{phase}", json=body)
    assert view.status_code == 200, view.text
    v = view.json()
    drawn = sum(g["rows"] * g["cols"] for g in v["grids"])
    assert v["terms"] and all(0 <= i < drawn for term in v["terms"] for i in term)
    assert v["total"] == len(Trace(solve(body), PHASES_BY_NAME[phase].plays))
    svg = client.post(f"/api/v1/export/view/{phase}.svg", json=body)
    assert svg.status_code == 200 and svg.text.startswith("<svg")


PHASES_BY_NAME = {p.name: p for p in PHASE_LIST}


def test_fold_view_shows_a_border_cell_collecting_its_copies(client):
    """Reflect padding 1 on a 4x4 x: x[1][1] (0-based) is copied above, to the left and at the corner, so
    its fold step links four cells of grad_x_pad: (2,2) itself, (0,2), (2,0) and (0,0)."""
    body = PRESETS["reflect"]["problem"]
    v = client.post("/api/v1/page/view/fold", json=body).json()
    grids = {g["title"]: g for g in v["grids"]}
    gx, gxp = grids["grad_x"], grids["grad_x_pad"]
    cell = gx["offset"] + gx["idx"].index("0,0,1,1")
    linked = {gxp["idx"][i - gxp["offset"]] for term in v["terms"] if term[0] == cell for i in term[1:]
              if gxp["offset"] <= i < gxp["offset"] + gxp["rows"] * gxp["cols"]}
    assert linked == {"0,0,2,2", "0,0,0,2", "0,0,2,0", "0,0,0,0"}
    assert grids["x_pad"]["marks"][0] == "copy" and grids["x_pad"]["twin"][0] == "0,0,1,1"
    total = sum(gxp["values"][gxp["idx"].index(k)] for k in linked)
    assert np.isclose(gx["values"][gx["idx"].index("0,0,1,1")], total)


def test_groups_keep_the_drawn_kernel_in_the_channels_group(client):
    body = PRESETS["depthwise"]["problem"]
    v = client.post("/api/v1/page/view/forward?n=0&f=0&c=2", json=body).json()
    assert v["select"] == {"n": 0, "f": 2, "c": 2}  # kernel 2 is the one that sees channel 2
    grids = {g["title"]: g for g in v["grids"]}
    assert grids["w"]["idx"][0] == "2,0,0,0" and grids["x_pad"]["idx"][0] == "0,2,0,0"
