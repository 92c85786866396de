"""The holes an audit found (issue 11, part 4), one test (or a few) each, against independent
truths: the error shape of docs (README "Errors"), brute-force sets of read cells, float64's own
rounding (``float(n) == n``), tracemalloc and the server's peak RSS read from /proc.

1. integers too large for a float -> 422, never a 500 or a traceback
2. every array the engine allocates counted before allocation (tracemalloc; peak RSS on a live server)
3. b held to the same rules as x, w and grad_out
4. every x_pad cell no window reads is marked "unread", not only the stride's remainder
5. overflow: the finite tensors and phases are served, the overflowing ones named (API and Python alike)
6. ``Trace.steps`` past the end gives the available steps, a bad start a clear message
7. a 2-D grad_out of the wrong shape is reported with the shape sent
8. a non-numeric Content-Length: what uvicorn answers below the app is what docs/SECURITY.md says
9. integers float64 would round are refused, naming the entry
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import tracemalloc
import warnings
from itertools import product
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

import convviz
from convviz.app import create_app
from convviz.engine import Geometry
from convviz.problem import Limits
from convviz.problem.limits import engine_arrays
from convviz.trace import Convolution, Trace, generate_arrays

ROOT = Path(__file__).resolve().parent.parent
CONVVIZ = [sys.executable, "-m", "convviz"]


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app())


@pytest.fixture(scope="module")
def post_paths(client):
    """Every POST endpoint of /openapi.json whose body is a problem, with its path parameter
    filled with a phase every problem below can show."""
    spec = client.get("/openapi.json").json()
    paths = []
    for path, ops in spec["paths"].items():
        body = ops.get("post", {}).get("requestBody", {}).get("content", {}).get("application/json", {})
        if body.get("schema", {}).get("$ref", "").endswith("/ProblemIn"):
            paths.append(re.sub(r"\{phase\}", "forward", path))
    assert {"/api/v1/conv", "/api/v1/trace/forward", "/api/v1/page/view/forward"} <= set(paths)
    return paths


def error_of(r: httpx.Response, status: int = 422) -> dict:
    """The project's one error shape (README "Errors")."""
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message", "loc"}, body
    assert body["error"]["status"] == status
    return body["error"]


def post_raw(client, path: str, text: str) -> httpx.Response:
    return client.post(path, content=text.encode(), headers={"content-type": "application/json"})


# 1. integers too large for a float ---------------------------------------------------------------
HUGE = str(10**309)


@pytest.mark.parametrize("body, field, entry", [
    ('{"x": [[%s, 1]], "w": [[1]]}' % HUGE, "x", "x[0][0]"),
    ('{"x": [[1, 2]], "w": [[-%s]]}' % HUGE, "w", "w[0][0]"),
    ('{"x": [[1, 2]], "w": [[1]], "grad_out": [[1, %s]]}' % HUGE, "grad_out", "grad_out[0][1]"),
    ('{"x": [[1, 2]], "w": [[1]], "b": [%s]}' % HUGE, "b", "b[0]"),
    ('{"x_shape": [2, 2], "w_shape": [1, 1], "b": [%s]}' % HUGE, "b", "b[0]"),
])
def test_integer_too_large_for_a_float_is_a_422_on_every_endpoint(client, post_paths, body, field, entry):
    for path in post_paths:
        err = error_of(post_raw(client, path, body))
        assert err["code"] == "invalid_problem" and err["loc"] == ["body", field], (path, err)
        assert f"{entry} is an integer of about 310 digits" in err["message"], (path, err["message"])
        assert "1.8e+308" in err["message"]


def test_integer_too_large_for_a_float_in_convviz_trace(tmp_path):
    path = tmp_path / "huge.json"
    path.write_text('{"x": [[%s, 1]], "w": [[1]]}' % HUGE)
    done = subprocess.run([*CONVVIZ, "trace", "forward", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("convviz: ") and "Traceback" not in done.stderr
    assert "x[0][0] is an integer of about 310 digits" in done.stderr


# 2. memory: every array the engine allocates is counted --------------------------------------------
# Shapes where each counted array is the largest in turn: im2col's cols (many channels, a large
# kernel), grad_out_pad's windows (many kernels, stride 2), the dilated grad_out and x_pad (padding
# far larger than the input), dilation.
ENGINE_CASES = [
    ((1, 64, 16, 16), (1, 64, 7, 7), {}),
    ((4, 16, 16, 16), (1, 16, 3, 3), {}),
    ((2, 3, 20, 20), (8, 3, 3, 3), {"stride": 2}),
    ((1, 2, 9, 9), (3, 2, 3, 3), {"dilation": 2, "padding": 1}),
    ((1, 1, 3, 3), (1, 1, 1, 1), {"padding": 30}),
    ((1, 1, 3, 3), (2, 1, 1, 1), {"padding": 30, "stride": 7}),
    ((2, 4, 12, 12), (8, 4, 5, 5), {"stride": 3, "padding": 2}),
]


@pytest.mark.parametrize("x_shape, w_shape, hyper", ENGINE_CASES)
def test_the_engine_allocates_no_more_than_the_arrays_counted_before_it_runs(x_shape, w_shape, hyper):
    """tracemalloc sees NumPy's buffers: solving a problem (every result and artifact, im2col
    included) stays within a few times the arrays ``check_geometry`` counts (the engine may hold
    some twice: it keeps work buffers between its passes), so that a limit on each of them
    bounds the request's memory. An engine that one day allocates something far bigger (the
    audit's im2col matrix was 40 times the limit) fails here, until ``engine_arrays`` counts it."""
    geo = Geometry.from_shapes(x_shape, w_shape, **hyper)
    counted = sum(8 * int(np.prod(shape)) for shape in engine_arrays(geo).values())
    arrays = generate_arrays(geo, "normal", 0)
    tracemalloc.start()
    try:
        conv = Convolution.from_arrays(arrays["x"], arrays["w"], arrays["b"], arrays["grad_out"], **hyper)
        for name in ("out", "grad_x", "grad_w", "grad_b", "x_pad", "grad_out_pad", "w_rot", "cols", "w_mat"):
            getattr(conv, name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 4 * counted + 256 * 1024, (peak, counted)


def test_no_engine_array_escapes_the_limit_whatever_the_flags(client):
    """The audit's two requests, in process: refused on shapes, naming the array, whatever the
    endpoint and its flags."""
    big_kernel = {"x_shape": [1, 1024, 64, 64], "w_shape": [1, 1024, 7, 7], "values": "ones"}
    many_windows = {"x_shape": [16, 256, 32, 32], "w_shape": [1, 256, 3, 3]}
    for body, path, params in [
        (big_kernel, "/api/v1/conv", {"im2col": "false"}),
        (big_kernel, "/api/v1/conv", {}),
        (big_kernel, "/api/v1/trace/forward", {}),
        (big_kernel, "/api/v1/page/view/forward", {}),
        (many_windows, "/api/v1/page/view/im2col", {}),
        (many_windows, "/api/v1/conv", {"im2col": "false"}),
    ]:
        t0 = time.monotonic()
        err = error_of(client.post(path, json=body, params=params))
        assert err["code"] == "limit_exceeded" and "cols" in err["message"] and "max_tensor_elements" in err["message"]
        assert time.monotonic() - t0 < 2, path
    # the numbers: cols is N*Ho*Wo x C*KH*KW
    err = error_of(client.post("/api/v1/conv", json=big_kernel, params={"im2col": "false"}))
    assert f"{58 * 58 * 1024 * 49:,}" in err["message"] and "(3364, 50176)" in err["message"]


@pytest.mark.server
def test_peak_memory_of_the_audit_requests_stays_flat():
    """On a live server: the two requests of the audit (168M- and 33M-element im2col matrices
    from 100-byte bodies) are refused at once, and the server's peak RSS (VmHWM) barely moves.
    Before: 68 MB -> 1.46 GB and 123 MB -> 861 MB."""
    from conftest import start_server, stop_server
    from procstat import memory_kib

    server = start_server()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            ok = c.post("/api/v1/page/view/im2col", json={"x_shape": [1, 1, 4, 4], "w_shape": [1, 1, 2, 2]})
            assert ok.status_code == 200  # warm: every module loaded, one view drawn
            before = memory_kib(server.pid)["VmHWM"]
            for path, body in [
                ("/api/v1/conv?im2col=false", {"x_shape": [1, 1024, 64, 64], "w_shape": [1, 1024, 7, 7], "values": "ones"}),
                ("/api/v1/page/view/im2col", {"x_shape": [16, 256, 32, 32], "w_shape": [1, 256, 3, 3]}),
            ]:
                t0 = time.monotonic()
                err = error_of(c.post(path, json=body))
                assert err["code"] == "limit_exceeded" and "cols" in err["message"]
                assert time.monotonic() - t0 < 2
            after = memory_kib(server.pid)["VmHWM"]
        print(f"\npeak RSS {before / 1024:.0f} MiB before the audit requests, {after / 1024:.0f} MiB after")
        assert after - before < 40 * 1024, (before, after)
    finally:
        stop_server(server)


# 3. b as strict as x, w and grad_out ---------------------------------------------------------------
@pytest.mark.parametrize("bad, shown", [('"1.5"', "'1.5'"), ("true", "True"), ("null", "None"), ('[1]', "[1]")])
@pytest.mark.parametrize("field", ["x", "w", "b", "grad_out"])
def test_every_tensor_refuses_what_is_not_a_number(client, field, bad, shown):
    arrays = {"x": "[[1, 2], [3, 4]]", "w": "[[1, 0]]", "b": "[0.5]", "grad_out": "[[1], [1]]"}
    # the bad entry second, beside a number: NumPy alone would turn true into 1.0 there
    arrays[field] = {"b": "[1, %s]", "x": "[[1, %s], [3, 4]]", "w": "[[1, %s]]", "grad_out": "[[1], [%s]]"}[field] % bad
    if field == "b":
        arrays["w"] = "[[[[1, 0]]], [[[1, 0]]]]"  # two kernels, so b has two entries
        arrays["grad_out"] = "[[[[1], [1]], [[1], [1]]]]"
    body = "{" + ", ".join(f'"{k}": {v}' for k, v in arrays.items()) + "}"
    err = error_of(post_raw(client, "/api/v1/conv", body))
    assert err["code"] in ("invalid_problem", "invalid_request"), err
    where = {"b": "b[1]", "x": "x[0][1]", "w": "w[0][1]", "grad_out": "grad_out[1][0]"}[field]
    if bad == "[1]":  # a list where a number belongs: ragged
        assert "ragged" in err["message"] or "dimensions" in err["message"], err
    else:
        assert f"{where} is {shown}" in err["message"], err["message"]
    assert err["loc"][-1] == field


# 4. every cell no window reads is marked ------------------------------------------------------------
def read_cells(g: Geometry) -> set:
    """x_pad cells some window reads, by brute force over every window (docs/conventions.md)."""
    return {(i * g.stride[0] + p * g.dilation[0], j * g.stride[1] + q * g.dilation[1])
            for i, j, p, q in product(range(g.Ho), range(g.Wo), range(g.KH), range(g.KW))}


@pytest.mark.parametrize("x_shape, w_shape, hyper", [
    ((1, 1, 1, 5), (1, 1, 1, 1), {"stride": (1, 3)}),  # the audit's case: columns 1, 2 (and 4) unread
    ((1, 1, 7, 7), (1, 1, 2, 2), {"stride": 3}),
    ((1, 1, 9, 8), (1, 1, 2, 1), {"stride": (4, 2), "dilation": (2, 1), "padding": 1}),
    ((1, 1, 6, 6), (1, 1, 3, 3), {"stride": 2, "padding": 1}),
    ((1, 1, 7, 7), (1, 1, 3, 3), {"dilation": 2, "padding": 1}),
])
@pytest.mark.parametrize("phase", ["forward", "grad_w", "im2col"])
def test_every_cell_no_window_reads_is_marked_unread(client, x_shape, w_shape, hyper, phase):
    g = Geometry.from_shapes(x_shape, w_shape, **hyper)
    body = {"x_shape": list(x_shape), "w_shape": list(w_shape), **{k: list(v) if isinstance(v, tuple) else v
                                                                    for k, v in hyper.items()}}
    r = client.post(f"/api/v1/page/view/{phase}", json=body)
    assert r.status_code == 200, r.text
    grid = next(gr for gr in r.json()["grids"] if gr["tensor"] == "x_pad")
    read = read_cells(g)
    ph, pw = g.padding
    for k, mark in enumerate(grid["marks"]):
        hp, wp = divmod(k, g.Wp)
        inside = ph <= hp < ph + g.H and pw <= wp < pw + g.W
        assert mark == ("pad" if not inside else "" if (hp, wp) in read else "unread"), (hp, wp, mark)


def test_an_unread_cell_changes_nothing():
    """The marks mean what the legend says: changing x at an unread cell leaves out unchanged
    and its grad_x is 0 (x 1x5, w 1x1, stride 3 reads columns 0 and 3 only)."""
    x = np.arange(1.0, 6.0).reshape(1, 1, 1, 5)
    w = np.full((1, 1, 1, 1), 2.0)
    out = convviz.conv2d(x, w, stride=(1, 3))
    for col in (1, 2, 4):
        x2 = x.copy()
        x2[..., col] = 100.0
        assert np.array_equal(convviz.conv2d(x2, w, stride=(1, 3)), out)
    grad_x, _, _ = convviz.conv2d_backward(x, w, np.ones_like(out), stride=(1, 3))
    assert grad_x.ravel().tolist() == [2.0, 0.0, 0.0, 2.0, 0.0]


# 5. overflow: the finite tensors and phases are served, the overflowing ones named -------------------
# x 2x2 with a 1e308 row, w 2x1 of ones: out = x[0] + x[1] = 1e308 (finite); grad_x = 1 (finite);
# grad_b = 2; grad_w[0,0,0,0] = 1e308 + 1e308 = inf.
OVER_W = {"x": [[1e308, 1e308], [1, 1]], "w": [[1], [1]]}


def test_overflow_in_one_result_serves_the_others(client):
    r = client.post("/api/v1/conv", json=OVER_W)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["overflow"] == ["grad_w"] and body["grad_w"] is None
    assert body["out"] == [[[[1e308, 1e308]]]] and body["grad_x"] == [[[[1.0, 1.0], [1.0, 1.0]]]]
    assert body["grad_b"] == [2.0]
    # the phases that show only finite results are served, the one showing grad_w is refused, naming it
    for phase in ("forward", "grad_x", "grad_x_scatter", "grad_b"):
        assert client.post(f"/api/v1/trace/{phase}", json=OVER_W).status_code == 200, phase
        with client.stream("POST", f"/api/v1/trace/{phase}/stream", json=OVER_W) as s:
            assert s.status_code == 200 and json.loads(list(s.iter_lines())[-1])["event"] == "end"
    for phase in ("forward", "grad_x", "grad_b", "im2col"):
        assert client.post(f"/api/v1/page/view/{phase}", json=OVER_W).status_code == 200, phase
    assert client.post("/api/v1/page/scatter", json=OVER_W).status_code == 200
    for path in ("/api/v1/trace/grad_w", "/api/v1/trace/grad_w/stream", "/api/v1/page/view/grad_w"):
        err = error_of(client.post(path, json=OVER_W))
        assert err["code"] == "overflow", err
        assert "grad_w overflows float64" in err["message"] and "out, grad_x, grad_b are finite" in err["message"]
        assert "forward" in err["message"]  # what is served instead


def test_overflow_everywhere_names_every_result(client):
    # out[j] = 1e308 + 1e308 and grad_x[1] = w[0] + w[1] overflow; grad_w = [2, 2], grad_b = 2
    body = {"x": [[1, 1, 1]], "w": [[1e308, 1e308]]}
    got = client.post("/api/v1/conv", json=body).json()
    assert got["overflow"] == ["out", "grad_x"] and got["out"] is None and got["grad_x"] is None
    assert got["grad_w"] == [[[[2.0, 2.0]]]] and got["grad_b"] == [2.0]
    err = error_of(client.post("/api/v1/trace/forward", json=body))
    assert err["code"] == "overflow" and "out overflows" in err["message"] and "the forward phase" in err["message"]


def test_the_python_api_follows_the_same_policy():
    """Python returns what NumPy computes (inf) and names the overflowing results in one warning;
    the finite ones come back as they are, as the REST API serves them."""
    x = np.array(OVER_W["x"], dtype=float)[None, None]
    w = np.ones((1, 1, 2, 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = convviz.conv2d(x, w)
        grad_x, grad_w, grad_b = convviz.conv2d_backward(x, w, np.ones_like(out))
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad_x)) and grad_b.tolist() == [2.0]
    assert np.isinf(grad_w).any()
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and all(issubclass(w.category, RuntimeWarning) for w in caught), messages
    assert messages[0].startswith("convviz: grad_w overflows float64") and "grad_x, grad_b are finite" in messages[0]
    # the trace layer names it too
    conv = Convolution.from_arrays(x, w)
    assert Trace(conv, "forward").step(0)["value"] == 1e308
    with pytest.raises(ValueError, match="grad_w overflows float64"):
        Trace(conv, "grad_w").steps()


def test_convviz_trace_serves_the_finite_phases(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(OVER_W))
    ok = subprocess.run([*CONVVIZ, "trace", "forward", str(path)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([*CONVVIZ, "trace", "grad_w", str(path)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "grad_w overflows float64" in bad.stderr and "Traceback" not in bad.stderr


# 6. Trace.steps past the end --------------------------------------------------------------------------
def test_trace_steps_past_the_end_are_the_available_steps():
    conv = Convolution.from_arrays(np.arange(9.0).reshape(1, 1, 3, 3), np.ones((1, 1, 1, 1)))
    trace = Trace(conv, "forward")
    assert len(trace) == 9
    steps = trace.steps(0, 100)
    assert [s["index"] for s in steps] == list(range(9))
    assert [s["value"] for s in steps] == list(np.arange(9.0))  # 1x1 kernel of one: out = x
    assert [s["index"] for s in trace.steps(7, 100)] == [7, 8]
    assert trace.steps(9, 100) == []
    with pytest.raises(IndexError, match="start 10 is out of range: this forward trace has steps 0 to 8"):
        trace.steps(10, 100)
    with pytest.raises(IndexError, match="start -1 is out of range"):
        trace.steps(-1)


# 7. a 2-D grad_out is reported with the shape sent --------------------------------------------------
def test_a_2d_grad_out_of_the_wrong_shape_is_reported_as_sent(client):
    # two kernels: out is (1, 2, 1, 2), so a 2-D grad_out (one sample, one kernel) cannot fit
    body = {"x": [[1, 2]], "w": [[[[1]]], [[[1]]]], "grad_out": [[1, 2]]}
    err = error_of(client.post("/api/v1/conv", json=body))
    assert "(N, F, Ho, Wo) = (1, 2, 1, 2)" in err["message"] and "got shape (1, 2)" in err["message"]
    assert "(1, 1, 1, 2)" not in err["message"] and err["loc"] == ["body", "grad_out"]


# 8. below the app: a non-numeric Content-Length -------------------------------------------------------
def raw_request(url: str, head: str, body: bytes = b"{}") -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while chunk := s.recv(65536):  # the server closes the connection after its answer
            data += chunk
    return data


@pytest.mark.server
@pytest.mark.parametrize("length", ["abc", "-5", "1e3", "99999999999999999999999"])
def test_a_malformed_content_length_gets_what_security_md_says(live_server, length):
    documented = re.search(r"plain-text `400 Bad Request` whose body is `([^`]+)`", (ROOT / "docs/SECURITY.md").read_text())
    assert documented, "docs/SECURITY.md must say what the server answers below the app"
    data = raw_request(live_server.url, f"POST /api/v1/conv HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                        f"Content-Type: application/json\r\nContent-Length: {length}\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"text/plain" in head.lower(), head
    assert body.decode() == documented.group(1)
    assert httpx.get(live_server.url + "/api/v1/limits", timeout=10).status_code == 200  # still serving


# 9. integers float64 would round --------------------------------------------------------------------
@pytest.mark.parametrize("field", ["x", "w", "b", "grad_out"])
def test_integers_float64_would_round_are_refused(client, field):
    n = 2**53 + 1
    assert float(n) != n  # float64 cannot hold it: it would become 2**53
    body = {"x": [[1, 2]], "w": [[1]], "b": [0], "grad_out": [[1, 1]]}
    body[field] = {"x": [[1, n]], "w": [[n]], "b": [n], "grad_out": [[1, n]]}[field]
    err = error_of(client.post("/api/v1/conv", json=body))
    where = {"x": "x[0][1]", "w": "w[0][0]", "b": "b[0]", "grad_out": "grad_out[0][1]"}[field]
    assert f"{where} is the integer 9007199254740993, which float64 cannot hold exactly" in err["message"]
    assert "9007199254740992.0" in err["message"]  # what to send to accept the rounding


def test_integers_float64_holds_exactly_are_accepted(client):
    exact = [2**53, 2**53 + 2, -(2**60), 10**22]  # 10**22 = 2**22 * 5**22, 5**22 < 2**53
    assert all(float(n) == n for n in exact)
    r = client.post("/api/v1/conv", json={"x": [exact], "w": [[1]], "b": [2**54]})
    assert r.status_code == 200, r.text
    assert r.json()["out"] == [[[[float(n) + 2**54 for n in exact]]]]
    # floats beyond 2**53 are floats: the client chose them
    assert client.post("/api/v1/conv", json={"x": [[1e20, 9007199254740993.0]], "w": [[1]]}).status_code == 200
