"""REST API v1 contract (issue 2, section 4), over two transports: in process
(``TestClient(create_app())``, no server; what ``make test-fast`` runs) and against a live
``convviz serve`` (``live_server``, marked ``server``). Every test runs over both, unchanged.

Every number the server sends is checked against a reference written here from the conventions'
formulas as plain loops (and, in a separate test, against PyTorch when it is installed):
nothing below is a recorded output of the code under test.
"""

from __future__ import annotations

import itertools
import json

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from convviz.app import create_app

TIMEOUT = httpx.Timeout(60.0)


@pytest.fixture(scope="module", params=["in_process", pytest.param("live", marks=pytest.mark.server)])
def api(request):
    """An HTTP client of the API: the app in this process (default limits, as ``convviz serve``
    has them), or a real server over the loopback."""
    if request.param == "in_process":
        # base_url http://testserver; redirects not followed, as by httpx and the live variant
        with TestClient(create_app(), follow_redirects=False) as client:
            yield client
    else:
        live_server = request.getfixturevalue("live_server")
        with httpx.Client(base_url=live_server.url, timeout=TIMEOUT) as client:
            yield client


# --- independent reference (docs/conventions.md, plain loops) -------------------------------------------

def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def out_size(xs, ws, stride, padding, dilation):
    """(Ho, Wo) from docs/conventions.md, "Output size"."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    return ((xs[2] + 2 * ph - dh * (ws[2] - 1) - 1) // sh + 1, (xs[3] + 2 * pw - dw * (ws[3] - 1) - 1) // sw + 1)


def reference(x, w, b, g, stride, padding, dilation):
    """Every tensor of docs/conventions.md from its formula, one cell at a time."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Ho = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    x_pad = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for n, c, h, v in itertools.product(range(N), range(C), range(H), range(W)):
        x_pad[n, c, h + ph, v + pw] = x[n, c, h, v]
    out = np.zeros((N, F, Ho, Wo))
    for n, f, i, j in itertools.product(range(N), range(F), range(Ho), range(Wo)):
        s = b[f]
        for c, p, q in itertools.product(range(C), range(KH), range(KW)):
            s += x_pad[n, c, i * sh + p * dh, j * sw + q * dw] * w[f, c, p, q]
        out[n, f, i, j] = s
    grad_b = np.array([sum(g[n, f, i, j] for n in range(N) for i in range(Ho) for j in range(Wo)) for f in range(F)])
    grad_w = np.zeros_like(w)
    grad_x_pad = np.zeros_like(x_pad)  # scatter form: independent of the server's gather form
    for n, f, i, j in itertools.product(range(N), range(F), range(Ho), range(Wo)):
        for c, p, q in itertools.product(range(C), range(KH), range(KW)):
            hp, wp = i * sh + p * dh, j * sw + q * dw
            grad_w[f, c, p, q] += g[n, f, i, j] * x_pad[n, c, hp, wp]
            grad_x_pad[n, c, hp, wp] += g[n, f, i, j] * w[f, c, p, q]
    grad_x = grad_x_pad[:, :, ph:ph + H, pw:pw + W]
    w_rot = np.zeros((C, F, KH, KW))
    for f, c, p, q in itertools.product(range(F), range(C), range(KH), range(KW)):
        w_rot[c, f, p, q] = w[f, c, KH - 1 - p, KW - 1 - q]
    # grad_out dilated by the stride, then padded dh(KH-1)-ph on top, that + r_h at the bottom.
    r_h = (H + 2 * ph - dh * (KH - 1) - 1) % sh
    r_w = (W + 2 * pw - dw * (KW - 1) - 1) % sw
    top, left = dh * (KH - 1) - ph, dw * (KW - 1) - pw
    Hg, Wg = H + dh * (KH - 1), W + dw * (KW - 1)
    grad_out_pad = np.zeros((N, F, Hg, Wg))
    mask = np.zeros((Hg, Wg), dtype=bool)
    for n, f, i, j in itertools.product(range(N), range(F), range(Ho), range(Wo)):
        u, t = top + i * sh, left + j * sw
        if 0 <= u < Hg and 0 <= t < Wg:  # a negative margin crops
            grad_out_pad[n, f, u, t] = g[n, f, i, j]
            mask[u, t] = True
    geometry = {
        "N": N, "C": C, "H": H, "W": W, "F": F, "KH": KH, "KW": KW, "Ho": Ho, "Wo": Wo,
        "Hp": H + 2 * ph, "Wp": W + 2 * pw, "Hg": Hg, "Wg": Wg,
        "stride": [sh, sw], "padding": [ph, pw], "dilation": [dh, dw], "remainder": [r_h, r_w],
        "grad_out_pad_margins": {"top": top, "bottom": top + r_h, "left": left, "right": left + r_w},
        "macs": N * F * Ho * Wo * C * KH * KW,
    }
    return {"geometry": geometry, "out": out, "grad_x": grad_x, "grad_w": grad_w, "grad_b": grad_b,
            "x_pad": x_pad, "w_rot": w_rot, "grad_out_pad": grad_out_pad, "grad_out_pad_mask": mask}


def post(client, path, body, **params):
    return client.post(path, json=body, params=params)


def conv(client, body, **params) -> dict:
    r = post(client, "/api/v1/conv", body, **params)
    assert r.status_code == 200, r.text
    return r.json()


def arrays_of(res):
    return {k: np.array(res[k], dtype=float) for k in ("x", "w", "b", "grad_out")}


CONFIGS = [
    # (x shape, w shape, stride, padding, dilation)
    ((1, 1, 3, 3), (1, 1, 2, 2), 1, 0, 1),            # the worked example
    ((2, 3, 7, 6), (4, 3, 3, 2), [2, 3], [1, 0], 1),  # batch, channels, rectangular, leftovers
    ((1, 2, 8, 9), (2, 2, 3, 3), 2, 1, [2, 1]),       # dilation with stride and padding
    ((1, 1, 4, 5), (3, 1, 1, 1), 3, 4, 1),            # 1x1 kernel, padding larger than the kernel
]


@pytest.mark.parametrize("xs,ws,stride,padding,dilation", CONFIGS)
def test_conv_returns_every_contract_field_matching_the_reference(api, xs, ws, stride, padding, dilation):
    rng = np.random.default_rng(sum(xs) + sum(ws))
    x = rng.integers(-4, 5, size=xs).astype(float)
    w = rng.integers(-3, 4, size=ws).astype(float)
    b = rng.integers(-2, 3, size=ws[0]).astype(float)
    body = {"x": x.tolist(), "w": w.tolist(), "b": b.tolist(), "stride": stride, "padding": padding, "dilation": dilation}
    g = rng.integers(-3, 4, size=(xs[0], ws[0], *out_size(xs, ws, stride, padding, dilation))).astype(float)
    body["grad_out"] = g.tolist()
    ref = reference(x, w, b, g, stride, padding, dilation)
    res = conv(api, body)

    for field in ("geometry", "x", "w", "b", "grad_out", "out", "grad_x", "grad_w", "grad_b",
                  "x_pad", "grad_out_pad", "grad_out_pad_mask", "w_rot", "cols", "w_mat"):
        assert field in res, field
    assert res["geometry"] == ref["geometry"]
    np.testing.assert_array_equal(np.array(res["x"]), x)
    np.testing.assert_array_equal(np.array(res["w"]), w)
    np.testing.assert_array_equal(np.array(res["b"]), b)
    np.testing.assert_array_equal(np.array(res["grad_out"]), g)
    for name in ("out", "grad_x", "grad_w", "grad_b", "x_pad", "grad_out_pad", "w_rot"):
        got = np.array(res[name], dtype=float)
        assert got.shape == ref[name].shape, name
        np.testing.assert_allclose(got, ref[name], rtol=1e-12, atol=1e-12, err_msg=name)
    assert np.array(res["grad_out_pad_mask"]).dtype == bool
    np.testing.assert_array_equal(np.array(res["grad_out_pad_mask"]), ref["grad_out_pad_mask"])

    # im2col: cols @ w_mat + b is out unrolled (rows n, i, j; columns f).
    geo = ref["geometry"]
    cols, w_mat = np.array(res["cols"]), np.array(res["w_mat"])
    assert cols.shape == (geo["N"] * geo["Ho"] * geo["Wo"], geo["C"] * geo["KH"] * geo["KW"])
    assert w_mat.shape == (geo["C"] * geo["KH"] * geo["KW"], geo["F"])
    unrolled = ref["out"].transpose(0, 2, 3, 1).reshape(-1, geo["F"])
    np.testing.assert_allclose(cols @ w_mat + b, unrolled, rtol=1e-12, atol=1e-12)


def test_conv_matches_torch(api):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    hyper = {"stride": [2, 1], "padding": [1, 2], "dilation": [1, 2]}
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    out = torch.nn.functional.conv2d(xt, wt, bt, stride=tuple(hyper["stride"]), padding=tuple(hyper["padding"]),
                                     dilation=tuple(hyper["dilation"]))
    g = rng.standard_normal(tuple(out.shape))
    out.backward(torch.tensor(g))
    res = conv(api, {"x": x.tolist(), "w": w.tolist(), "b": b.tolist(), "grad_out": g.tolist(), **hyper})
    for name, want in (("out", out), ("grad_x", xt.grad), ("grad_w", wt.grad), ("grad_b", bt.grad)):
        np.testing.assert_allclose(np.array(res[name]), want.detach().numpy(), rtol=1e-10, atol=1e-10, err_msg=name)


def test_two_d_inputs_are_one_sample_one_channel_one_kernel(api):
    x = [[1, 2, 0], [0, 1, 3], [2, 1, 0]]
    w = [[1, -1], [2, 0]]
    res = conv(api, {"x": x, "w": w})
    geo = res["geometry"]
    assert (geo["N"], geo["C"], geo["F"], geo["H"], geo["W"], geo["KH"], geo["KW"]) == (1, 1, 1, 3, 3, 2, 2)
    # The tutorial's equations by hand: a11 = x11 w11 + x12 w12 + x21 w21 + x22 w22 = 1 - 2 + 0 + 0,
    # a12 = 2 - 0 + 2 + 0, a21 = 0 - 1 + 4 + 0, a22 = 1 - 3 + 2 + 0.
    assert res["out"] == [[[[-1.0, 4.0], [3.0, 0.0]]]]
    # Dx22 = Da11 w22 + Da12 w21 + Da21 w12 + Da22 w11 with Da = 1: 0 + 2 - 1 + 1 = 2.
    assert res["grad_x"][0][0][1][1] == 2.0
    assert np.array(res["x"]).shape == (1, 1, 3, 3) and np.array(res["w"]).shape == (1, 1, 2, 2)


def test_explicit_arrays_default_to_zero_bias_and_unit_grad_out(api):
    res = conv(api, {"x": [[[[1, 2, 3], [4, 5, 6]]], [[[0, 1, 0], [1, 0, 1]]]],
                             "w": [[[[1, 1]]], [[[2, -1]]]]})
    assert res["b"] == [0.0, 0.0]
    g = np.array(res["grad_out"])
    assert g.shape == (2, 2, 2, 2) and np.all(g == 1.0)
    # With grad_out = 1 (L = sum(out)), grad_b counts the outputs of each kernel: N*Ho*Wo = 8.
    assert res["grad_b"] == [8.0, 8.0]


@pytest.mark.parametrize("kind", ["integers", "normal", "ones"])
def test_generated_problems_are_reproducible_by_seed(api, kind):
    body = {"x_shape": [2, 3, 5, 6], "w_shape": [4, 3, 3, 3], "padding": 1, "values": kind, "seed": 7}
    a, b_ = conv(api, body), conv(api, body)
    for name in ("x", "w", "b", "grad_out", "out"):
        assert a[name] == b_[name], name
    arr = arrays_of(a)
    assert arr["x"].shape == (2, 3, 5, 6) and arr["w"].shape == (4, 3, 3, 3)
    assert arr["b"].shape == (4,) and arr["grad_out"].shape == (2, 4, 5, 6)
    if kind == "integers":
        assert all(np.all((v == np.round(v)) & (np.abs(v) <= 3)) for v in arr.values())
    if kind == "ones":
        assert np.all(arr["x"] == 1) and np.all(arr["w"] == 1)
    other = conv(api, {**body, "seed": 8})
    if kind != "ones":
        assert other["x"] != a["x"]
    # The generated arrays solve like explicit ones.
    ref = reference(arr["x"], arr["w"], arr["b"], arr["grad_out"], 1, 1, 1)
    for name in ("out", "grad_x", "grad_w", "grad_b"):
        np.testing.assert_allclose(np.array(a[name]), ref[name], rtol=1e-10, atol=1e-10)


def test_im2col_false_omits_the_matrices(api):
    body = {"x_shape": [1, 2, 4, 4], "w_shape": [3, 2, 2, 2], "seed": 1}
    res = conv(api, body, im2col="false")
    assert "cols" not in res and "w_mat" not in res
    assert "out" in res and "grad_out_pad" in res


# --- trace pages and the stream --------------------------------------------------------------

PHASE_TERMS = {"forward": ("C", "KH", "KW"), "grad_x": ("F", "KH", "KW"), "grad_w": ("N", "Ho", "Wo"),
               "grad_b": ("N", "Ho", "Wo")}
PHASE_RESULT = {"forward": "out", "grad_x": "grad_x", "grad_w": "grad_w", "grad_b": "grad_b"}
TRACE_PROBLEM = {"x_shape": [2, 2, 6, 5], "w_shape": [3, 2, 3, 2], "stride": [2, 1], "padding": [1, 2],
                 "dilation": [1, 2], "values": "integers", "seed": 3}


@pytest.fixture(scope="module")
def solved(api):
    res = conv(api, TRACE_PROBLEM)
    arr = arrays_of(res)
    ref = reference(arr["x"], arr["w"], arr["b"], arr["grad_out"], TRACE_PROBLEM["stride"],
                    TRACE_PROBLEM["padding"], TRACE_PROBLEM["dilation"])
    return arr, ref


def expected_terms(phase, at, arr, ref):
    """The terms of one step, from the term sets of docs/conventions.md."""
    geo = ref["geometry"]
    (sh, sw), (ph, pw), (dh, dw) = geo["stride"], geo["padding"], geo["dilation"]
    x, w, g, x_pad = arr["x"], arr["w"], arr["grad_out"], ref["x_pad"]

    def x_of(hp, wp):
        h, v = hp - ph, wp - pw
        return [h, v] if 0 <= h < geo["H"] and 0 <= v < geo["W"] else None

    terms = []
    if phase == "forward":
        n, f, i, j = at
        for c, p, q in itertools.product(range(geo["C"]), range(geo["KH"]), range(geo["KW"])):
            hp, wp = i * sh + p * dh, j * sw + q * dw
            xi = x_of(hp, wp)
            terms.append({"x_pad": [n, c, hp, wp], "x": None if xi is None else [n, c, *xi],
                          "x_value": x_pad[n, c, hp, wp], "w": [f, c, p, q], "w_value": w[f, c, p, q],
                          "product": x_pad[n, c, hp, wp] * w[f, c, p, q]})
    elif phase == "grad_x":
        n, c, h, v = at
        top, left = geo["grad_out_pad_margins"]["top"], geo["grad_out_pad_margins"]["left"]
        for f, p, q in itertools.product(range(geo["F"]), range(geo["KH"]), range(geo["KW"])):
            u, t = h + p * dh, v + q * dw
            real = None
            if (u - top) % sh == 0 and (t - left) % sw == 0:
                i, j = (u - top) // sh, (t - left) // sw
                if 0 <= i < geo["Ho"] and 0 <= j < geo["Wo"]:
                    real = [n, f, i, j]
            gv = ref["grad_out_pad"][n, f, u, t]
            terms.append({"grad_out_pad": [n, f, u, t], "grad_out": real, "grad_out_value": gv,
                          "w_rot": [c, f, p, q], "w": [f, c, geo["KH"] - 1 - p, geo["KW"] - 1 - q],
                          "w_value": ref["w_rot"][c, f, p, q], "product": gv * ref["w_rot"][c, f, p, q]})
    elif phase == "grad_w":
        f, c, p, q = at
        for n, i, j in itertools.product(range(geo["N"]), range(geo["Ho"]), range(geo["Wo"])):
            hp, wp = i * sh + p * dh, j * sw + q * dw
            xi = x_of(hp, wp)
            terms.append({"grad_out": [n, f, i, j], "grad_out_value": g[n, f, i, j], "x_pad": [n, c, hp, wp],
                          "x": None if xi is None else [n, c, *xi], "x_value": x_pad[n, c, hp, wp],
                          "product": g[n, f, i, j] * x_pad[n, c, hp, wp]})
    else:
        (f,) = at
        for n, i, j in itertools.product(range(geo["N"]), range(geo["Ho"]), range(geo["Wo"])):
            terms.append({"grad_out": [n, f, i, j], "grad_out_value": g[n, f, i, j], "product": g[n, f, i, j]})
    return terms


def check_step(phase, step, k, arr, ref):
    res = ref[PHASE_RESULT[phase]]
    at = list(np.unravel_index(k, res.shape))
    assert step["index"] == k and step["at"] == at
    geo = ref["geometry"]
    assert len(step["terms"]) == int(np.prod([geo[d] for d in PHASE_TERMS[phase]]))
    bias = arr["b"][at[1]] if phase == "forward" else 0.0
    if phase == "forward":
        assert step["bias"] == bias
    else:
        assert "bias" not in step
    assert step["value"] == pytest.approx(sum(t["product"] for t in step["terms"]) + bias, abs=1e-9)
    assert step["value"] == pytest.approx(res[tuple(at)], abs=1e-9)
    want = expected_terms(phase, at, arr, ref)
    got = [{**t} for t in step["terms"]]
    assert [sorted(t) for t in got] == [sorted(t) for t in want]
    for t_got, t_want in zip(got, want):
        for key, value in t_want.items():
            if isinstance(value, float) or isinstance(value, np.floating):
                assert t_got[key] == pytest.approx(float(value), abs=1e-12), key
            else:
                assert t_got[key] == value, key


@pytest.mark.parametrize("phase", list(PHASE_TERMS))
def test_trace_pages_match_the_reference(api, solved, phase):
    arr, ref = solved
    total = ref[PHASE_RESULT[phase]].size
    first = post(api, f"/api/v1/trace/{phase}", TRACE_PROBLEM, start=0, limit=7).json()
    assert first["phase"] == phase and first["total"] == total and first["start"] == 0
    assert len(first["steps"]) == min(7, total)
    # A page at the end: only the steps that remain.
    start = max(0, total - 3)
    last = post(api, f"/api/v1/trace/{phase}", TRACE_PROBLEM, start=start, limit=10).json()
    assert last["start"] == start and len(last["steps"]) == total - start
    for k, step in enumerate(first["steps"]):
        check_step(phase, step, k, arr, ref)
    for k, step in enumerate(last["steps"], start):
        check_step(phase, step, k, arr, ref)


def read_stream(client, phase, body, **params):
    with client.stream("POST", f"/api/v1/trace/{phase}/stream", json=body, params=params) as r:
        assert r.status_code == 200, r.read()
        content_type = r.headers["content-type"]
        events = [json.loads(line) for line in r.iter_lines() if line]
    return content_type, events


@pytest.mark.parametrize("phase", list(PHASE_TERMS))
def test_stream_events_and_resume(api, solved, phase):
    arr, ref = solved
    total = ref[PHASE_RESULT[phase]].size
    content_type, events = read_stream(api, phase, TRACE_PROBLEM)
    assert content_type.split(";")[0] in ("application/jsonl", "application/x-ndjson")
    meta, steps, end = events[0], events[1:-1], events[-1]
    assert meta["event"] == "meta" and meta["phase"] == phase and meta["total"] == total
    assert meta["geometry"] == ref["geometry"]
    for name, tensor in meta["tensors"].items():
        want = ref[name] if name in ref else arr[name]
        np.testing.assert_allclose(np.array(tensor, dtype=float), want, atol=1e-12, err_msg=name)
    if phase == "grad_x":
        assert {"grad_out_pad", "grad_out_pad_mask", "w_rot"} <= set(meta["tensors"])
    if phase == "forward":
        assert "x_pad" in meta["tensors"]
    assert end == {"event": "end", "count": total}
    assert [s["event"] for s in steps] == ["step"] * total
    assert [s["index"] for s in steps] == list(range(total))
    for k in (0, total // 2, total - 1):
        check_step(phase, {key: v for key, v in steps[k].items() if key != "event"}, k, arr, ref)

    # `start` resumes; the page at the end of the trace equals the same steps from the stream.
    start = max(0, total - 4)
    _, resumed = read_stream(api, phase, TRACE_PROBLEM, start=start)
    assert resumed[0]["start"] == start and resumed[-1] == {"event": "end", "count": total - start}
    assert resumed[1:-1] == steps[start:]
    page = post(api, f"/api/v1/trace/{phase}", TRACE_PROBLEM, start=start, limit=4).json()
    assert page["steps"] == [{k: v for k, v in s.items() if k != "event"} for s in steps[start:]]
    _, limited = read_stream(api, phase, TRACE_PROBLEM, start=1, limit=2)
    assert limited[1:-1] == steps[1:3] and limited[-1]["count"] == min(2, total - 1)


def test_tutorial_layer_page_at_the_end_equals_the_stream(api):
    body = {"x_shape": [10, 32, 14, 14], "w_shape": [16, 32, 3, 3], "padding": 1, "values": "normal", "seed": 0}
    page = post(api, "/api/v1/trace/forward", body, start=31_360 - 5, limit=100).json()
    assert page["total"] == 31_360 and len(page["steps"]) == 5
    for step in page["steps"]:
        assert len(step["terms"]) == 32 * 3 * 3
        assert step["value"] == pytest.approx(sum(t["product"] for t in step["terms"]) + step["bias"], abs=1e-9)
    _, events = read_stream(api, "forward", body, start=31_360 - 5)
    assert [{k: v for k, v in e.items() if k != "event"} for e in events[1:-1]] == page["steps"]


# --- presets, limits, OpenAPI, docs ------------------------------------------------------------

def test_presets_are_problems_the_server_solves(api):
    presets = api.get("/api/v1/presets").json()
    names = [p["name"] for p in presets]
    assert "worked" in names and "tutorial_layer" in names
    for p in presets:
        assert p["title"] and p["description"]
        # tutorial_layer: solved in the tests above, too large to check by loops; groups, padding modes,
        # 'same' and transposed presets (issue 9): against torch in tests/test_configs_trace.py
        issue_9 = set(p["problem"]) & {"groups", "padding_mode", "transposed"} or p["problem"].get("padding") == "same"
        if p["name"] != "tutorial_layer" and not issue_9:
            res = conv(api, p["problem"], im2col="false")
            arr = arrays_of(res)
            pb = p["problem"]
            ref = reference(arr["x"], arr["w"], arr["b"], arr["grad_out"], pb.get("stride", 1), pb.get("padding", 0),
                            pb.get("dilation", 1))
            np.testing.assert_allclose(np.array(res["grad_x"]), ref["grad_x"], atol=1e-9)
    worked = next(p for p in presets if p["name"] == "tutorial_layer")["problem"]
    assert worked["x_shape"] == [10, 32, 14, 14] and worked["w_shape"] == [16, 32, 3, 3] and worked["padding"] == 1


def test_limits_endpoint_admits_the_tutorial_layer(api):
    limits = api.get("/api/v1/limits").json()
    for key in ("max_tensor_elements", "max_macs", "max_step_terms", "max_page_steps", "max_page_terms", "max_body_bytes"):
        assert isinstance(limits[key], int) and limits[key] >= 1
    assert limits["max_tensor_elements"] >= 10 * 32 * 16 * 16
    assert limits["max_macs"] >= 10 * 16 * 14 * 14 * 32 * 9


def test_openapi_lists_every_endpoint_with_schemas(api):
    spec = api.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in (("/api/v1/conv", "post"), ("/api/v1/trace/{phase}", "post"),
                         ("/api/v1/trace/{phase}/stream", "post"), ("/api/v1/presets", "get"),
                         ("/api/v1/limits", "get")):
        assert method in paths[path], path
        op = paths[path][method]
        assert "200" in op["responses"]
        if method == "post":
            assert "requestBody" in op and "422" in op["responses"]
    schemas = spec["components"]["schemas"]
    for name in ("ProblemIn", "ConvResult", "TracePage", "StepOut", "ErrorOut"):
        assert name in schemas, name
    assert {"geometry", "out", "grad_x", "grad_w", "grad_b", "x_pad", "grad_out_pad", "w_rot"} <= set(
        schemas["ConvResult"]["properties"])
    assert set(schemas["ErrorOut"]["properties"]) == {"error"}
    stream_200 = paths["/api/v1/trace/{phase}/stream"]["post"]["responses"]["200"]["content"]
    assert "application/jsonl" in stream_200 or "application/x-ndjson" in stream_200


def test_docs_page_serves(api):
    r = api.get("/docs")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in r.text  # shipped, not from a CDN
    assert api.get("/static/docs/init.js").text.count("/openapi.json") == 1
