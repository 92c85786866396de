"""The command line's edges (issue 11): ``convviz serve`` on a busy port says so in one line and
exits 1; ``--workers N`` serves from N processes that all honour the flags; ``convviz trace``
names the presets when given neither a file nor a preset, serves every phase of the registry
(im2col: forward's steps with cols and w_mat), and ``--meta shapes`` / ``?meta=shapes`` leave the
tensors out of the meta event; ``/docs`` links back to the page.

The truth for trace output is the API (the stream of the phase whose steps are played, and
``/api/v1/conv`` for the tensors), in process."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import httpx
import pytest
from fastapi.testclient import TestClient

from convviz.app import create_app
from convviz.problem import PRESETS
from convviz.trace import PHASES

CONVVIZ = [sys.executable, "-m", "convviz"]
WORKED = PRESETS["worked"]["problem"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CONVVIZ, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app())


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


# serve ----------------------------------------------------------------------------------------------
def test_a_busy_port_is_one_clear_line_and_exit_1():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run("serve", "--port", str(port))
    assert done.returncode == 1
    assert done.stdout == ""
    err = done.stderr.strip().splitlines()
    assert len(err) == 1, done.stderr
    assert err[0].startswith(f"convviz: port {port} is in use; try --port ")
    suggested = int(err[0].rsplit(" ", 1)[1])
    assert suggested > port
    assert "serving on" not in done.stderr and "Traceback" not in done.stderr and "ERROR" not in done.stderr


def test_workers_below_one_are_refused():
    done = run("serve", "--port", "9", "--workers", "0")
    assert done.returncode == 2 and "--workers must be at least 1, got 0" in done.stderr


@pytest.mark.server
def test_two_worker_processes_serve_with_the_flags():
    from conftest import start_server, stop_server

    server = start_server("--workers", "2", "--max-macs", "4321", "--max-page-steps", "7")
    try:
        children = subprocess.run(["ps", "--ppid", str(server.pid), "-o", "pid=,args="], capture_output=True,
                                  text=True).stdout.splitlines()
        workers = [line for line in children if "multiprocessing.spawn" in line]
        assert len(workers) == 2, children
        with httpx.Client(base_url=server.url, timeout=30) as c:
            # many connections, so both workers answer some: every one of them has the flags' limits
            for _ in range(12):
                with httpx.Client(base_url=server.url, timeout=30) as fresh:
                    limits = fresh.get("/api/v1/limits").json()
                    assert limits["max_macs"] == 4321 and limits["max_page_steps"] == 7
            r = c.post("/api/v1/trace/forward", json=WORKED, params={"limit": 8})
            assert r.status_code == 422 and "between 1 and 7" in r.json()["error"]["message"]
            assert c.post("/api/v1/trace/forward", json=WORKED, params={"limit": 4}).status_code == 200
    finally:
        stop_server(server)
    assert server.process.returncode is not None


# trace ----------------------------------------------------------------------------------------------
def test_an_unknown_problem_names_the_presets():
    done = run("trace", "forward", "nosuchpreset")
    assert done.returncode == 2 and done.stdout == ""
    assert "'nosuchpreset'" in done.stderr and "not a preset name" in done.stderr
    for name in PRESETS:
        assert name in done.stderr
    assert "Traceback" not in done.stderr


# the phases of a convolution with a zero border; the others (issue 9) in tests/test_configs_trace.py
@pytest.mark.parametrize("phase", [p for p in PHASES if "conv" in PHASES[p].kinds])
def test_trace_serves_every_phase_of_the_registry(client, phase):
    done = run("trace", phase, "channels")
    assert done.returncode == 0, done.stderr
    events = lines(done.stdout)
    meta, steps, end = events[0], events[1:-1], events[-1]
    plays = PHASES[phase].plays
    assert meta["phase"] == phase and meta.get("steps_of", phase) == plays
    # the steps are those the API streams for the phase played
    body = PRESETS["channels"]["problem"]
    streamed = lines(client.post(f"/api/v1/trace/{plays}/stream", json=body).text)
    assert steps == streamed[1:-1] and end == streamed[-1]
    # the meta event carries the phase's own tensors, equal to /conv's
    solved = client.post("/api/v1/conv", json=body).json()
    assert set(meta["tensors"]) == set(PHASES[phase].tensors)
    compared = [name for name in meta["tensors"] if name in solved]
    assert compared, meta["tensors"].keys()
    for name in compared:
        assert meta["tensors"][name] == solved[name], name


def test_im2col_trace_carries_cols_and_w_mat(client):
    events = lines(run("trace", "im2col", "worked", "--limit", "2").stdout)
    assert events[0]["steps_of"] == "forward" and {"cols", "w_mat"} <= set(events[0]["tensors"])
    cols = events[0]["tensors"]["cols"]
    assert len(cols) == 4 and len(cols[0]) == 4  # N*Ho*Wo x C*KH*KW of the worked example
    # out unrolled = cols @ w_mat + b: row r of cols times w_mat is step r's value minus the bias
    w_mat = events[0]["tensors"]["w_mat"]
    for step in events[1:-1]:
        row = cols[step["index"]]
        assert sum(a * b[0] for a, b in zip(row, w_mat)) + step["bias"] == step["value"]


def test_meta_shapes_leaves_the_tensors_out(client):
    full = lines(run("trace", "forward", "channels", "--limit", "1").stdout)[0]
    short = lines(run("trace", "forward", "channels", "--limit", "1", "--meta", "shapes").stdout)[0]
    assert set(short["tensors"]) == set(full["tensors"])
    for name, value in full["tensors"].items():
        shape, v = [], value
        while isinstance(v, list):
            shape.append(len(v))
            v = v[0] if v else None
        assert short["tensors"][name] == shape, name
    api = lines(client.post("/api/v1/trace/forward/stream", json=PRESETS["channels"]["problem"],
                            params={"limit": 1, "meta": "shapes"}).text)[0]
    assert api == short
    # the tutorial's layer: the whole tensors are megabytes, the shapes a few hundred bytes
    big = client.post("/api/v1/trace/forward/stream", json=PRESETS["tutorial_layer"]["problem"],
                      params={"limit": 3}).text
    small = client.post("/api/v1/trace/forward/stream", json=PRESETS["tutorial_layer"]["problem"],
                        params={"limit": 3, "meta": "shapes"}).text
    assert len(big.splitlines()[0]) > 2_000_000 and len(small.splitlines()[0]) < 2_000
    assert big.splitlines()[1:] == small.splitlines()[1:]
    err = client.post("/api/v1/trace/forward/stream", json=WORKED, params={"meta": "all"})
    assert err.status_code == 422 and "'all'" in err.json()["error"]["message"]


def test_docs_link_back_to_the_page(client):
    page = client.get("/docs").text
    assert 'href="/"' in page and "convviz" in page


def test_the_busy_port_check_does_not_hold_the_port():
    """The check binds and releases: the port is free for the server right after."""
    from convviz.cli import _cannot_listen

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert _cannot_listen("127.0.0.1", port) is None
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()
        assert "in use" in _cannot_listen("127.0.0.1", port)
