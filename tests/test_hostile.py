"""Hostile input against a real ``convviz serve`` (issue 4): every bad body, query and path on
every endpoint gets a 4xx in the one documented error shape, with a message that says what was
received; never a 5xx, never a hang; the server is still alive afterwards. Plus the work bomb,
and limits set by CLI flags and ``CONVVIZ_MAX_*`` variables on a second server.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import start_server, stop_server

pytestmark = pytest.mark.server

TIMEOUT = httpx.Timeout(20.0)  # every answer below comes in milliseconds; this only catches a hang
OK = {"x": [[1, 2, 0], [0, 1, 3], [2, 1, 0]], "w": [[1, -1], [2, 0]]}


def assert_error(r: httpx.Response, *expect: str, status: int | None = None, code: str | None = None) -> dict:
    """A 4xx in the documented shape; ``expect``: substrings the message must hold (case-insensitive)."""
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"status", "code", "message", "loc"}, err
    assert err["status"] == r.status_code
    assert isinstance(err["code"], str) and err["code"]
    assert isinstance(err["message"], str) and len(err["message"]) > 10
    assert isinstance(err["loc"], list)
    if status is not None:
        assert r.status_code == status, err
    if code is not None:
        assert err["code"] == code, err
    for text in expect:
        assert text.lower() in err["message"].lower(), (text, err["message"])
    return err


@pytest.fixture(scope="module")
def endpoints(live_server):
    """Every POST endpoint of /openapi.json, path parameters filled with a valid value."""
    spec = httpx.get(live_server.url + "/openapi.json", timeout=TIMEOUT).json()
    found = []
    for path, ops in spec["paths"].items():
        if "post" not in ops:
            continue
        for param in ops["post"].get("parameters", []):
            if param["in"] == "path":
                schema = param["schema"]
                value = (schema.get("enum") or [schema.get("const")])[0] if "enum" in schema or "const" in schema else "forward"
                path = path.replace("{%s}" % param["name"], str(value))
        found.append(path)
    assert {"/api/v1/conv", "/api/v1/trace/forward", "/api/v1/trace/forward/stream"} <= set(found)
    return found


@pytest.fixture(scope="module")
def client(live_server):
    with httpx.Client(base_url=live_server.url, timeout=TIMEOUT) as c:
        yield c


# (name, raw body, substrings the message must hold)
JSON = "application/json"
BAD_BODIES = [
    ("malformed JSON", b'{"x": [[1, 2], [3', ["not valid JSON", "received"]),
    ("trailing garbage", b'{"x": [[1]], "w": [[1]]} xyz', ["not valid JSON"]),
    ("empty body", b"", ["empty"]),
    ("null body", b"null", ["received None"]),
    ("array body", b"[1, 2, 3]", ["received [1, 2, 3]"]),
    ("string body", b'"conv"', ["received 'conv'"]),
    ("number body", b"42", ["received 42"]),
    ("NaN literal", b'{"x": [[NaN, 1], [1, 1]], "w": [[1]]}', ["NaN", "x[0][0] is nan"]),
    ("Infinity literal", b'{"x": [[1, 1], [1, 1]], "w": [[-Infinity]]}', ["infinity", "w[0][0] is -inf"]),
    ("NaN bias", b'{"x": [[1, 1], [1, 1]], "w": [[1]], "b": [NaN]}', ["finite", "nan"]),
    ("NaN grad_out", b'{"x": [[1, 1], [1, 1]], "w": [[1]], "grad_out": [[1, NaN], [1, 1]]}', ["grad_out", "grad_out[0][1] is nan"]),
    ("1e999 overflows to inf", b'{"x": [[1e999]], "w": [[1]]}', ["infinity"]),
    ("ragged", b'{"x": [[1, 2], [3]], "w": [[1]]}', ["ragged"]),
    ("ragged deep", b'{"x": [[[[1, 2]], [[3]]]], "w": [[[[1]], [[1]]]]}', ["ragged"]),
    ("rank 1", b'{"x": [1, 2, 3], "w": [1]}', ["dimensions", "got 1"]),
    ("rank 3", b'{"x": [[[1, 2], [3, 4]]], "w": [[1]]}', ["dimensions", "got 3"]),
    ("rank 5", b'{"x": [[[[[1]]]]], "w": [[1]]}', ["dimensions", "got 5"]),
    ("scalar x", b'{"x": 3, "w": [[1]]}', ["dimensions", "got 0"]),
    ("x object", b'{"x": {"a": 1}, "w": [[1]]}', ["x is {'a': 1}"]),
    ("x string", b'{"x": "[[1]]", "w": [[1]]}', ["x"]),
    ("strings for numbers", b'{"x": [["1", "2"], ["3", "4"]], "w": [[1]]}', ["real numbers", "x[0][0] is '1'"]),
    ("bools for numbers", b'{"x": [[true, false], [true, true]], "w": [[1]]}', ["real numbers", "x[0][0] is True"]),
    ("nulls for numbers", b'{"x": [[1, 1], [1, null]], "w": [[1]]}', ["real numbers", "x[1][1] is None"]),
    ("huge integer values", b'{"x": [[1000000000000000000000000000000, 1]], "w": [[1]]}', ["x[0][0] is the integer 1e+30"]),
    ("empty x", b'{"x": [], "w": [[1]]}', ["x"]),
    ("empty row", b'{"x": [[]], "w": [[1]]}', ["got shape (1, 1, 1, 0)"]),
    ("missing w", b'{"x": [[1]]}', ["w"]),
    ("both x and x_shape", b'{"x": [[1]], "x_shape": [1, 1, 1, 1], "w": [[1]]}', ["not both"]),
    ("unknown field", b'{"x": [[1]], "w": [[1]], "kernel": 3}', ["kernel"]),
    ("channel mismatch", b'{"x": [[[[1]]]], "w": [[[[1]], [[1]]]]}', ["channels"]),
    ("kernel larger than input", b'{"x": [[1, 2], [3, 4]], "w": [[1, 1, 1], [1, 1, 1], [1, 1, 1]]}', ["kernel does not fit"]),
    ("bias of wrong length", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "b": [1, 2]}', ["got shape (2,)"]),
    ("grad_out of wrong shape", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "grad_out": [[1]]}', ["grad_out", "got shape (1, 1)"]),
    ("zero size", b'{"x_shape": [1, 0, 4, 4], "w_shape": [1, 0, 2, 2]}', ["(1, 0, 4, 4)"]),
    ("negative size", b'{"x_shape": [1, 1, -4, 4], "w_shape": [1, 1, 2, 2]}', ["-4"]),
    ("3-entry shape", b'{"x_shape": [1, 4, 4], "w_shape": [1, 1, 2, 2]}', ["[1, 4, 4]"]),
    ("10**30 size", b'{"x_shape": [1000000000000000000000000000000, 1, 1, 1], "w_shape": [1, 1, 1, 1]}',
     ["1,000,000,000,000,000,000,000,000,000,000", "max_tensor_elements"]),
    ("string sizes", b'{"x_shape": ["4", "4"], "w_shape": [2, 2]}', ["'4'"]),
    ("float sizes", b'{"x_shape": [4.5, 4], "w_shape": [2, 2]}', ["4.5"]),
    ("stride 0", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "stride": 0}', ["stride", "got 0"]),
    ("stride -2", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "stride": [1, -2]}', ["stride", "-2"]),
    ("dilation 0", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "dilation": 0}', ["dilation", "got 0"]),
    ("padding -1", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "padding": -1}', ["padding", "-1"]),
    ("padding 10**9", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "padding": 1000000000}', ["max_tensor_elements", "2000000002"]),
    ("padding 10**30", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "padding": 1000000000000000000000000000000}', ["padding"]),
    ("stride 10**30", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "stride": 1000000000000000000000000000000}', ["stride"]),
    ("dilation 2**63", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "dilation": 9223372036854775808}', ["dilation"]),
    ("stride as string", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "stride": "2"}', ["'2'"]),
    ("stride as float", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "stride": 1.5}', ["1.5"]),
    ("stride as bool", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "stride": true}', ["True"]),
    ("stride of 3", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "stride": [1, 1, 1]}', ["stride"]),
    ("padding null", b'{"x": [[1, 2], [3, 4]], "w": [[1]], "padding": null}', ["None"]),
    ("seed negative", b'{"x_shape": [4, 4], "w_shape": [2, 2], "seed": -1}', ["-1"]),
    ("seed 10**30", b'{"x_shape": [4, 4], "w_shape": [2, 2], "seed": 1000000000000000000000000000000}', ["seed"]),
    ("seed string", b'{"x_shape": [4, 4], "w_shape": [2, 2], "seed": "0"}', ["'0'"]),
    ("unknown value kind", b'{"x_shape": [4, 4], "w_shape": [2, 2], "values": "random"}', ["'random'"]),
    # Overflow is not a bad body: the finite results are served (tests/test_audit.py).
    ("deep nesting", b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b', "w": [[1]]}', ["nested too deeply"]),
    ("deep nesting, bare", b"[" * 100_000, ["received"]),
    ("moderate nesting", b'{"x": ' + b"[" * 500 + b"1" + b"]" * 500 + b', "w": [[1]]}', ["x"]),
]


@pytest.mark.parametrize("name,body,expect", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_bodies_on_every_endpoint(client, endpoints, name, body, expect):
    for path in endpoints:
        r = client.post(path, content=body, headers={"content-type": JSON})
        assert_error(r, *expect)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_types(client, endpoints, content_type):
    headers = {"content-type": content_type} if content_type else {}
    for path in endpoints:
        r = client.post(path, content=b"x=1&w=2", headers=headers)
        assert_error(r)


BAD_QUERIES = [
    ("/api/v1/trace/forward", {"start": -1}, ["got -1"]),
    ("/api/v1/trace/forward", {"start": 5}, ["between 0 and 4", "got 5"]),
    ("/api/v1/trace/forward", {"start": 10**30}, ["got 1000000000000000000000000000000"]),
    ("/api/v1/trace/forward", {"start": "1.5"}, ["'1.5'"]),
    ("/api/v1/trace/forward", {"start": "zero"}, ["'zero'"]),
    ("/api/v1/trace/forward", {"limit": 0}, ["got 0"]),
    ("/api/v1/trace/forward", {"limit": -3}, ["got -3"]),
    ("/api/v1/trace/forward", {"limit": 10**9}, ["got 1000000000"]),
    ("/api/v1/trace/forward", {"limit": "NaN"}, ["'NaN'"]),
    ("/api/v1/trace/grad_w/stream", {"start": -1}, ["got -1"]),
    ("/api/v1/trace/grad_w/stream", {"start": 99}, ["got 99"]),
    ("/api/v1/trace/grad_w/stream", {"limit": 0}, ["got 0"]),
    ("/api/v1/trace/grad_w/stream", {"limit": "Infinity"}, ["'Infinity'"]),
    ("/api/v1/conv", {"im2col": "maybe"}, ["'maybe'"]),
]


@pytest.mark.parametrize("path,params,expect", BAD_QUERIES)
def test_bad_queries(client, path, params, expect):
    # x is 2x2 and w 1x1: 4 forward steps, 1 grad_w step of 4 terms.
    err = assert_error(client.post(path, json={"x": [[1, 2], [3, 4]], "w": [[1]]}, params=params), *expect)
    assert err["loc"][0] == "query"


@pytest.mark.parametrize("path", [
    "/api/v1/trace/bogus", "/api/v1/trace/FORWARD", "/api/v1/trace/%2e%2e", "/api/v1/trace/forward%00",
    "/api/v1/trace/" + "a" * 5000, "/api/v1/trace/bogus/stream", "/api/v1/nothing", "/api/v2/conv",
])
def test_bad_paths(client, path):
    r = client.post(path, json=OK)
    assert_error(r)
    assert r.status_code in (404, 405, 422)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_methods(client, method):
    r = client.request(method, "/api/v1/conv")
    assert_error(r, method, status=405, code="method_not_allowed")


def raw_post(url: str, path: str, headers: dict, body_chunks, timeout: float = 20.0) -> tuple[int, bytes]:
    """POST over a bare socket; keep sending until the server stops reading, then read its answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as s:
        head = f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        s.sendall(head.encode())
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed without reading the rest: what we want
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1") else 0
    return status, data


def test_fifty_megabyte_bodies_are_refused(live_server):
    mb = b" " * (1 << 20)
    t0 = time.monotonic()
    status, data = raw_post(live_server.url, "/api/v1/conv", {"Content-Type": JSON, "Content-Length": str(50 << 20)},
                            (mb for _ in range(50)))
    assert status == 413 and b'"payload_too_large"' in data and b"52428800" in data
    # Without a Content-Length (chunked), counted while it arrives.
    chunked = (b"%x\r\n%s\r\n" % (len(mb), mb) for _ in range(50))
    status, data = raw_post(live_server.url, "/api/v1/trace/forward", {"Content-Type": JSON,
                                                                        "Transfer-Encoding": "chunked"}, chunked)
    assert status == 413 and b'"payload_too_large"' in data and b"max_body_bytes" in data
    print(f"\ntwo 50 MB bodies refused in {time.monotonic() - t0:.2f} s")


def test_work_bomb_is_refused_before_any_work(client, live_server):
    bomb = {"x_shape": [1, 1, 2000, 2000], "w_shape": [64, 1, 31, 31]}
    for path in ("/api/v1/conv", "/api/v1/trace/forward", "/api/v1/trace/grad_x/stream"):
        t0 = time.monotonic()
        err = assert_error(client.post(path, json=bomb, timeout=10), code="limit_exceeded")
        print(f"\nwork bomb on {path} refused in {(time.monotonic() - t0) * 1000:.0f} ms: {err['message']}")
        assert "(1, 64, 1970, 1970)" in err["message"] or "multiply-adds" in err["message"]
    # Explicit arrays just under the body limit, with the same kernel count: still refused on shapes.
    x = [[0] * 1000 for _ in range(1000)]
    err = assert_error(client.post("/api/v1/conv", json={"x": x, "w_shape": [64, 1, 31, 31]}), code="limit_exceeded")
    assert "max_" in err["message"]


def test_server_survived_everything(client, live_server):
    assert live_server.process.poll() is None
    assert client.get("/api/v1/limits").status_code == 200
    r = client.post("/api/v1/conv", json=OK)
    assert r.status_code == 200 and r.json()["out"] == [[[[-1.0, 4.0], [3.0, 0.0]]]]


# --- limits from flags and environment --------------------------------------------------------

@pytest.fixture(scope="module")
def small_server():
    srv = start_server("--max-tensor-elements", "400", "--max-page-steps", "3", "--max-body-bytes", "2000",
                       env={"CONVVIZ_MAX_MACS": "200", "CONVVIZ_MAX_STEP_TERMS": "20",
                            "CONVVIZ_MAX_PAGE_STEPS": "99",  # the flag wins
                            "CONVVIZ_MAX_PAGE_TERMS": "40"})
    yield srv
    stop_server(srv)


def test_limits_from_flags_and_environment_are_reported(small_server):
    limits = httpx.get(small_server.url + "/api/v1/limits", timeout=TIMEOUT).json()
    assert limits["max_tensor_elements"] == 400 and limits["max_page_steps"] == 3 and limits["max_body_bytes"] == 2000
    assert limits["max_macs"] == 200 and limits["max_step_terms"] == 20 and limits["max_page_terms"] == 40


def test_small_limits_refuse(small_server):
    with httpx.Client(base_url=small_server.url, timeout=TIMEOUT) as c:
        # x 6x6, w 3x3: cols 16x9, grad_out_pad's windows 36x9 = 324 elements: inside 400.
        assert c.post("/api/v1/conv", json={"x_shape": [6, 6], "w_shape": [3, 3]}, params={"im2col": False}).status_code == 200
        # x 1x4x6x6 (144), w 1x4x3x3: the engine's cols would be 16x36 = 576 elements, whether shown or not.
        for im2col in (True, False):
            assert_error(c.post("/api/v1/conv", json={"x_shape": [1, 4, 6, 6], "w_shape": [1, 4, 3, 3]},
                                params={"im2col": im2col}), "cols", "576", code="limit_exceeded")
        assert_error(c.post("/api/v1/conv", json={"x_shape": [21, 20], "w_shape": [3, 3]}, params={"im2col": False}),
                     "420", "max_tensor_elements", code="limit_exceeded")
        # 1x4x4x4 input, 2 kernels 4x2x2: 2*3*3*16 = 288 multiply-adds > 200, every tensor <= 64.
        assert_error(c.post("/api/v1/trace/forward", json={"x_shape": [1, 4, 4, 4], "w_shape": [2, 4, 2, 2]}),
                     "288", "max_macs", code="limit_exceeded")
        # forward steps of 3*3*3 = 27 terms > 20
        assert_error(c.post("/api/v1/trace/forward", json={"x_shape": [1, 3, 4, 4], "w_shape": [1, 3, 3, 3]}),
                     "27", "max_step_terms", code="limit_exceeded")
        # pages: at most 3 steps, and at most 40 terms: 9-term steps allow 4 by terms, 3 by steps
        small = {"x_shape": [1, 1, 6, 6], "w_shape": [1, 1, 3, 3]}
        assert len(c.post("/api/v1/trace/forward", json=small, params={"limit": 3}).json()["steps"]) == 3
        assert_error(c.post("/api/v1/trace/forward", json=small, params={"limit": 4}), "between 1 and 3", "got 4")
        assert_error(c.post("/api/v1/conv", content=b"[" + b"0," * 1500 + b"0]", headers={"content-type": JSON}),
                     "2,000", status=413, code="payload_too_large")
        # The stream is not a page: it may run past max_page_steps.
        with c.stream("POST", "/api/v1/trace/forward/stream", json=small) as r:
            assert r.status_code == 200 and sum(1 for _ in r.iter_lines()) == 16 + 2


def test_bad_limit_settings_stop_the_server_with_a_message():
    for args, env in ((["--max-macs", "0"], {}), ([], {"CONVVIZ_MAX_TENSOR_ELEMENTS": "lots"})):
        proc = subprocess.run([sys.executable, "-m", "convviz", "serve", "--port", "9", *args], capture_output=True,
                              text=True, timeout=30, env={**__import__("os").environ, **env})
        assert proc.returncode == 2, proc.stderr
        assert ("max_macs" in proc.stderr and "got 0" in proc.stderr) or "'lots'" in proc.stderr
