"""The new settings of issue 9 through the problem service, the REST API and the CLI: groups,
padding (int, pair, four sides, "same", "valid"), padding_mode, transposed with output_padding.

Truths: PyTorch float64 and autograd (the gradient of x_pad itself, before the fold, by
``retain_grad`` on ``F.pad``'s output), the definition of each border (every x_pad cell equals
the x cell it names), and hand-written messages of what is allowed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from convviz.app import create_app
from convviz.cli import main as cli_main
from convviz.problem import Limits, ProblemIn, resolve

torch = pytest.importorskip("torch")
TF = torch.nn.functional


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(Limits()))


def post(client, body, path="/api/v1/conv"):
    r = client.post(path, json=body)
    return r.status_code, r.json()


def assert_as_torch_pads_then_convolves(ans, mode, torch_pad, **conv):
    """The answer's out, x_pad, grad_x_pad, grad_x and grad_w against PyTorch: ``F.pad`` in the
    mode (``torch_pad`` in its (left, right, top, bottom) order), then ``conv2d`` with no padding,
    autograd for the gradients (``retain_grad`` on the padded tensor). Returns x as answered."""
    x, w, b, go = (np.array(ans[k]) for k in ("x", "w", "b", "grad_out"))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    x_pad_t = TF.pad(xt, torch_pad, mode=mode)
    x_pad_t.retain_grad()
    out = TF.conv2d(x_pad_t, wt, bt, **conv)
    out.backward(torch.tensor(go))
    np.testing.assert_allclose(ans["out"], out.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ans["x_pad"], x_pad_t.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(ans["grad_x_pad"], x_pad_t.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ans["grad_x"], xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ans["grad_w"], wt.grad.numpy(), rtol=1e-12, atol=1e-12)
    return x


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv_answers_x_pad_source_and_grad_x_pad_in_the_modes(client, mode):
    body = {"x_shape": [2, 4, 5, 4], "w_shape": [6, 2, 3, 2], "groups": 2, "padding": [2, 1, 1, 0],
            "padding_mode": mode, "stride": [2, 1], "values": "normal", "seed": 3}
    status, ans = post(client, body)
    assert status == 200, ans
    assert ans["geometry"]["groups"] == 2 and ans["geometry"]["pads"] == [2, 1, 1, 0]
    assert ans["geometry"]["padding_mode"] == mode and ans["geometry"]["kind"] == "conv_mode"
    x = assert_as_torch_pads_then_convolves(ans, mode, (1, 0, 2, 1), stride=(2, 1), groups=2)
    # every x_pad cell holds the x cell it names (and no cell is a zero in these modes)
    x_pad, source = np.array(ans["x_pad"]), ans["x_pad_source"]
    for idx in np.ndindex(x_pad.shape):
        cell = source[idx[0]][idx[1]][idx[2]][idx[3]]
        assert cell is not None and cell[:2] == list(idx[:2]) and x_pad[idx] == x[tuple(cell)]
    assert np.array(ans["w_mat"]).shape == (4 * 3 * 2, 6)  # one block per group
    w_mat = np.array(ans["w_mat"])
    assert not w_mat[:12, 3:].any() and not w_mat[12:, :3].any()  # group 0: rows of c 0-1, kernels 0-2


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_negative_sides_crop_as_torch_and_every_phase_shows_them(client, mode):
    """x_pad smaller than x on one axis and larger on the other: top -2, bottom 1, left 1, right -1."""
    body = {"x_shape": [1, 2, 5, 4], "w_shape": [2, 1, 2, 2], "groups": 2, "padding": [-2, 1, 1, -1],
            "padding_mode": mode, "values": "normal", "seed": 5}
    status, ans = post(client, body)
    assert status == 200, ans
    assert ans["geometry"]["pads"] == [-2, 1, 1, -1] and (ans["geometry"]["Hp"], ans["geometry"]["Wp"]) == (4, 4)
    x = assert_as_torch_pads_then_convolves(ans, mode, (1, -1, -2, 1), groups=2)
    assert not np.array(ans["grad_x"])[:, :, :2].any()  # the rows cropped away, which no x_pad cell copies
    x_pad, source = np.array(ans["x_pad"]), ans["x_pad_source"]
    for idx in np.ndindex(x_pad.shape):
        cell = source[idx[0]][idx[1]][idx[2]][idx[3]]
        assert cell[:2] == list(idx[:2]) and x_pad[idx] == x[tuple(cell)]
    for phase in ("forward", "grad_x_pad", "fold", "grad_w", "grad_b", "update"):
        r = client.post(f"/api/v1/page/view/{phase}", json=body)
        assert r.status_code == 200, (phase, r.text[:300])


def test_fold_note_counts_the_copies_of_cropped_cells(client):
    """Reflect [-3, 3] of one row x0..x4: x_pad = x3 x4 | x3 x2 x1. x1, x2 and x3 have copies on the
    border; x1 and x2 are cropped, so each collects its one copy, and x3 its place and its copy."""
    body = {"x_shape": [1, 1, 1, 5], "w_shape": [1, 1, 1, 1], "padding": [0, 0, -3, 3], "padding_mode": "reflect",
            "values": "integers", "seed": 1}
    r = client.post("/api/v1/page/view/fold", json=body)
    assert r.status_code == 200
    assert ("3 of the 5 cells of x shown have copies on the border (reflect): each of them collects the gradient "
            "of up to 2 cells of grad_x_pad.") in r.json()["notes"]


def test_zeros_mode_answers_as_before_without_the_new_fields(client):
    status, ans = post(client, {"x_shape": [1, 1, 4, 4], "w_shape": [1, 1, 3, 3], "padding": 1})
    assert status == 200
    assert "x_pad_source" not in ans and "grad_x_pad" not in ans
    assert set(ans["geometry"]) >= {"padding", "remainder"} and "groups" not in ans["geometry"]


def test_same_with_an_even_kernel_pads_the_bottom_and_right(client):
    status, ans = post(client, {"x": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "w": [[1, 10], [100, 1000]], "padding": "same"})
    assert status == 200
    assert ans["geometry"]["pads"] == [0, 1, 0, 1] and ans["geometry"]["padding"] == [0, 0]
    # out[2][2] = x[2][2] * 1 (the window hangs over the bottom-right zeros)
    want = TF.conv2d(torch.tensor([[[[1., 2, 3], [4, 5, 6], [7, 8, 9]]]], dtype=torch.float64),
                     torch.tensor([[[[1., 10], [100, 1000]]]], dtype=torch.float64), padding="same")
    assert ans["out"] == want.numpy().tolist() and ans["out"][0][0][2][2] == 9.0


def test_transposed_problem_matches_torch(client):
    body = {"x_shape": [2, 4, 3, 3], "w_shape": [4, 3, 3, 3], "transposed": True, "stride": 2, "padding": 1,
            "output_padding": 1, "groups": 2, "values": "normal", "seed": 1}
    status, ans = post(client, body)
    assert status == 200, ans
    g = ans["geometry"]
    assert g["transposed"] is True and (g["Ho"], g["Wo"]) == (6, 6) and g["F"] == 6
    assert "cols" not in ans and "grad_x_pad" not in ans
    x, w, b, go = (np.array(ans[k]) for k in ("x", "w", "b", "grad_out"))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = TF.conv_transpose2d(xt, wt, bt, stride=2, padding=1, output_padding=1, groups=2)
    out.backward(torch.tensor(go))
    for name, want in (("out", out.detach()), ("grad_x", xt.grad), ("grad_w", wt.grad), ("grad_b", bt.grad)):
        np.testing.assert_allclose(ans[name], want.numpy(), rtol=1e-12, atol=1e-12, err_msg=name)
    # x_pad: x dilated by 2, margins 1 (top, left) and 2 (bottom, right); its sources name x's cells
    x_pad = np.array(ans["x_pad"])
    assert x_pad.shape == (2, 4, 8, 8)
    np.testing.assert_array_equal(x_pad[:, :, 1:6:2, 1:6:2], x)
    assert np.count_nonzero(x_pad) == np.count_nonzero(x)
    assert ans["x_pad_source"][1][2][3][5] == [1, 2, 1, 2] and ans["x_pad_source"][1][2][2][5] is None


@pytest.mark.parametrize("body, status, fragment", [
    ({"groups": 2}, 422, "x must have 2 x 2 = 4 channels, but x has 3"),
    ({"groups": 0}, 422, "greater than or equal to 1"),
    ({"padding": "same", "stride": 2}, 422, "padding 'same' needs stride 1"),
    ({"padding": "full"}, 422, "'same' or 'valid'"),
    ({"padding": [1, 2, 3]}, 422, "four values [top, bottom, left, right]"),
    ({"padding": [1, 0, 0, -1]}, 422, "padding must be >= 0 on every side"),
    ({"padding": 4, "padding_mode": "reflect"}, 422, "top padding is 4 but H = 4; allowed: at most 3"),
    ({"padding": 5, "padding_mode": "circular"}, 422, "wraps around at most once"),
    ({"padding_mode": "mirror"}, 422, "'zeros', 'reflect', 'replicate' or 'circular'"),
    ({"output_padding": 1}, 422, "output_padding is for a transposed convolution"),
    ({"transposed": True, "padding_mode": "reflect"}, 422, "pads with zeros only"),
    ({"transposed": True, "padding": "same"}, 422, "integer >= 0 or a pair"),
    ({"transposed": True, "output_padding": 1}, 422, "output_padding must be smaller than the stride or the dilation"),
    ({"transposed": True, "padding": 3}, 422, "the output would be"),
    ({"transposed": "yes"}, 422, "valid boolean"),
])
def test_impossible_settings_are_422_with_what_is_allowed(client, body, status, fragment):
    base = {"x_shape": [1, 3, 4, 4], "w_shape": [3, 3, 2, 2]} if "groups" not in body or body["groups"] != 2 else {
        "x_shape": [1, 3, 4, 4], "w_shape": [4, 2, 2, 2]}
    if body.get("transposed") is True:
        base = {"x_shape": [1, 3, 2, 2], "w_shape": [3, 3, 2, 2]}
    got, ans = post(client, {**base, **body})
    assert got == status, ans
    assert ans["error"]["status"] == 422 and fragment in ans["error"]["message"], ans


def test_limits_apply_before_allocation_to_transposed_outputs(client):
    """A 2x2 input with stride 10**6 would make an output of about 10**12 cells: refused from the
    shapes (limit_exceeded), at once."""
    status, ans = post(client, {"x_shape": [1, 1, 2, 2], "w_shape": [1, 1, 3, 3], "transposed": True,
                                "stride": 1000000})
    assert status == 422 and ans["error"]["code"] == "limit_exceeded"
    assert "out would have" in ans["error"]["message"]
    status, ans = post(client, {"x_shape": [1, 1, 2, 2], "w_shape": [1, 1, 3, 3], "transposed": True,
                                "stride": 2**31, "output_padding": 0})
    assert status == 422 and "at most 2,147,483,647" in ans["error"]["message"]


def test_every_new_setting_reaches_the_solved_problem():
    conv = resolve(ProblemIn.model_validate({"x_shape": [1, 4, 5, 5], "w_shape": [4, 1, 3, 3], "groups": 4,
                                             "padding": "same", "padding_mode": "circular"}), Limits())
    assert conv.geo.hyper == {"stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 4,
                              "padding_mode": "circular"}
    conv = resolve(ProblemIn.model_validate({"x_shape": [1, 2, 3, 3], "w_shape": [2, 1, 2, 2], "transposed": True,
                                             "stride": [2, 1], "output_padding": [1, 0], "groups": 2}), Limits())
    assert conv.geo.transposed and conv.geo.hyper["output_padding"] == (1, 0) and conv.out.shape == (1, 2, 7, 4)  # (3-1)2 + (2-1) + 1 + 1


def test_cli_traces_a_problem_file_with_the_new_settings(tmp_path, capsys):
    problem = {"x": [[1, 2, 3], [4, 5, 6]], "w": [[1, -1]], "padding": [0, 0, 1, 1], "padding_mode": "reflect"}
    path = tmp_path / "reflect.json"
    path.write_text(json.dumps(problem))
    assert cli_main(["trace", "forward", str(path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    steps = [e for e in lines if e.get("event") == "step"]
    # x_pad rows: [2 1 2 3 2], [5 4 5 6 5]; out = x_pad[., t] - x_pad[., t+1]
    assert [s["value"] for s in steps] == [1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0]
    # the border cell x_pad[0, 0, 0, 0] copies x[0, 0, 0, 1] (reflect): its term names that cell
    assert steps[0]["terms"][0]["x_pad"] == [0, 0, 0, 0] and steps[0]["terms"][0]["x"] == [0, 0, 0, 1]


SNIPPET_CASES = [
    {"x_shape": [1, 4, 5, 4], "w_shape": [6, 2, 3, 2], "groups": 2, "padding": [2, 1, 1, 0], "padding_mode": "reflect",
     "values": "integers", "seed": 4},
    {"x_shape": [1, 2, 4, 4], "w_shape": [2, 2, 2, 2], "padding": "same", "padding_mode": "circular", "seed": 2},
    {"x_shape": [1, 2, 3, 3], "w_shape": [2, 2, 3, 3], "transposed": True, "stride": 2, "padding": 1,
     "output_padding": 1, "groups": 2, "seed": 5},
]


@pytest.mark.parametrize("body", SNIPPET_CASES, ids=["groups-reflect-four-sides", "same-circular", "transposed"])
@pytest.mark.parametrize("library", ["numpy", "pytorch"])
def test_code_snippets_of_the_new_settings_rebuild_the_results(client, body, library, capsys):
    phases = (["transposed_forward", "transposed_grad_w"] if body.get("transposed") else
              ["forward", "im2col", "grad_w"] + (["fold"] if body.get("padding_mode", "zeros") != "zeros" else []))
    want = client.post("/api/v1/conv", json=body).json()
    for phase in phases:
        r = client.post(f"/api/v1/export/code/{phase}", json=body, params={"n": 0, "f": 1, "c": 1})
        assert r.status_code == 200, r.text
        ns: dict = {}
        exec(compile(r.json()[library], f"<{library} snippet>", "exec"), ns)  # the snippet as a reader runs it
        for name in ("out", "grad_x", "grad_w", "grad_b"):
            got = ns[name].detach().numpy() if hasattr(ns[name], "detach") else ns[name]
            np.testing.assert_allclose(got, want[name], rtol=1e-10, atol=1e-10, err_msg=f"{phase} {name}")
        if phase == "im2col":
            np.testing.assert_allclose(np.asarray(ns["cols"]), want["cols"], rtol=0, atol=0)
    capsys.readouterr()


def test_exports_of_the_new_settings(client):
    for body in SNIPPET_CASES:
        r = client.post("/api/v1/export/problem.json", json=body)
        assert r.status_code == 200, r.text
        ans = r.json()
        again = client.post("/api/v1/conv", json=ans["problem"]).json()
        assert again["out"] == ans["tensors"]["out"] and again["grad_x"] == ans["tensors"]["grad_x"]
        assert ("grad_x_pad" in ans["tensors"]) == (body.get("padding_mode", "zeros") != "zeros")
        assert ("cols" in ans["tensors"]) == (not body.get("transposed"))
        r = client.post("/api/v1/export/problem.npz", json=body)
        assert r.status_code == 200
        import io
        arrays = np.load(io.BytesIO(r.content), allow_pickle=False)
        np.testing.assert_array_equal(arrays["out"], ans["tensors"]["out"])
        if body.get("transposed"):
            assert arrays["transposed"] and arrays["output_padding"].tolist() == [1, 1]
        else:
            assert str(arrays["padding_mode"]) == body["padding_mode"]


MEMORY_CASES = [
    ((2, 8, 16, 16), (8, 1, 3, 3), {"groups": 8, "padding": 1}),
    ((1, 4, 12, 12), (4, 4, 3, 3), {"padding": [2, 1, 0, 2], "padding_mode": "reflect"}),
    ((1, 6, 10, 10), (6, 3, 5, 5), {"groups": 2, "padding": 4, "padding_mode": "circular", "stride": 2}),
    ((1, 4, 6, 6), (4, 2, 3, 3), {"transposed": True, "stride": 3, "padding": 1, "output_padding": 2, "groups": 2}),
    ((1, 2, 3, 3), (2, 1, 3, 3), {"transposed": True, "stride": 1, "dilation": 3, "output_padding": 2}),
]


@pytest.mark.parametrize("x_shape, w_shape, hyper", MEMORY_CASES)
def test_the_engine_allocates_no_more_than_the_arrays_counted_in_every_configuration(x_shape, w_shape, hyper):
    """As tests/test_audit.py for the plain case: solving (every result and artifact) stays within a
    few times what ``engine_arrays`` counts, so the limits checked on shapes bound the memory."""
    import tracemalloc

    from convviz.engine import geometry_of
    from convviz.problem.limits import engine_arrays
    from convviz.trace import Convolution, generate_arrays

    geo = geometry_of(x_shape, w_shape, **hyper)
    counted = sum(8 * int(np.prod(shape)) for shape in engine_arrays(geo).values())
    arrays = generate_arrays(geo, "normal", 0)
    names = ["out", "grad_x", "grad_w", "grad_b", "x_pad", "grad_out_pad", "w_rot"]
    names += [] if geo.transposed else ["cols", "w_mat"]
    names += ["grad_x_pad"] if geo.kind == "conv_mode" else []
    tracemalloc.start()
    try:
        conv = Convolution.from_arrays(arrays["x"], arrays["w"], arrays["b"], arrays["grad_out"],
                                       transposed=geo.transposed, **geo.hyper)
        for name in names:
            getattr(conv, name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 4 * counted + 256 * 1024, (peak, counted)
