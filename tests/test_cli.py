"""Tests of the command line: ``convviz trace`` prints what the server streams, ``--start`` and
``--limit`` page like the API, bad problems fail cleanly, and ``serve`` keeps to loopback.

The truth for ``trace`` is the stream endpoint answering the same problem, over two transports
(the ``via`` fixture): in process (``convviz.cli.main`` called here, against
``TestClient(create_app())``; what ``make test-fast`` runs) and live (``python -m convviz`` in a
subprocess, against a real server, ``live_server``; marked ``server``). The paging truth is the
full trace cut here by hand. Usage errors, exit codes, help and a closed pipe are checked on the
real process (no server needed).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable
from unittest import mock

import httpx
import pytest
from fastapi.testclient import TestClient

from convviz.app import create_app
from convviz.cli import main
from convviz.problem import PRESETS

CONVVIZ = [sys.executable, "-m", "convviz"]


def run(*args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CONVVIZ, *args], input=stdin, capture_output=True, timeout=timeout)


def trace_cli(phase: str, problem: str, *extra: str, stdin: bytes | None = None) -> bytes:
    done = run("trace", phase, problem, *extra, stdin=stdin)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""
    return done.stdout


def trace_in_process(phase: str, problem: str, *extra: str, stdin: bytes | None = None) -> bytes:
    """``trace_cli`` without a process: ``convviz.cli.main`` here, its standard streams swapped for
    buffers (it writes the JSON Lines to ``sys.stdout.buffer``)."""
    out, err = io.BytesIO(), io.StringIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8")
    stdin_ = io.TextIOWrapper(io.BytesIO(stdin or b""), encoding="utf-8")
    with mock.patch.object(sys, "stdout", stdout), mock.patch.object(sys, "stderr", err), \
            mock.patch.object(sys, "stdin", stdin_):
        code = main(["trace", phase, problem, *extra])
        stdout.flush()
    assert code == 0, err.getvalue()
    assert err.getvalue() == ""
    return out.getvalue()


def stream(client: httpx.Client, phase: str, problem: dict, **query) -> bytes:
    r = client.post(f"/api/v1/trace/{phase}/stream", json=problem, params=query)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0] in ("application/jsonl", "application/x-ndjson")
    return r.content


def events(text: bytes) -> list[dict]:
    assert text.endswith(b"\n")
    return [json.loads(line) for line in text.decode().splitlines()]


@dataclass
class Via:
    """How ``convviz trace`` is run, and the stream endpoint its output is compared with."""
    trace_cli: Callable[..., bytes]
    stream: Callable[..., bytes]


@pytest.fixture(scope="module", params=["in_process", pytest.param("live", marks=pytest.mark.server)])
def via(request):
    if request.param == "in_process":
        with TestClient(create_app(), follow_redirects=False) as client:
            yield Via(trace_in_process, partial(stream, client))
    else:
        live_server = request.getfixturevalue("live_server")
        with httpx.Client(base_url=live_server.url, timeout=60) as client:
            yield Via(trace_cli, partial(stream, client))


EXPLICIT = {  # the conventions' worked example shape with explicit values, 2-D as the API allows
    "x": [[1, 2, 0], [0, 1, 3], [2, 1, 0]], "w": [[1, -1], [2, 0]], "b": [0.5], "grad_out": [[[[1, -2], [0.25, 3]]]],
}
RECT = {"x_shape": [2, 2, 5, 7], "w_shape": [3, 2, 2, 3], "stride": [2, 3], "padding": [1, 2], "dilation": [2, 1],
        "values": "normal", "seed": 9}


@pytest.mark.parametrize("phase, preset", [
    ("forward", "worked"), ("grad_x", "stride2_leftover"), ("grad_w", "channels"), ("grad_b", "rectangular"),
    ("grad_x", "dilation2"),
])
def test_trace_of_a_preset_is_the_servers_stream(via, phase, preset):
    cli = via.trace_cli(phase, preset)
    assert cli == via.stream(phase, PRESETS[preset]["problem"])
    ev = events(cli)
    assert ev[0]["event"] == "meta" and ev[-1] == {"event": "end", "count": len(ev) - 2}
    assert [e["index"] for e in ev[1:-1]] == list(range(ev[0]["total"]))


@pytest.mark.parametrize("phase", ["forward", "grad_x", "grad_w", "grad_b"])
def test_trace_of_a_file_and_of_stdin_is_the_servers_stream(via, tmp_path, phase):
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(RECT))
    from_file = via.trace_cli(phase, str(path))
    assert from_file == via.stream(phase, RECT)
    assert via.trace_cli(phase, "-", stdin=json.dumps(RECT).encode()) == from_file


def test_explicit_arrays_give_the_worked_numbers(via, tmp_path):
    """The explicit 3x3 problem, checked against values worked out by hand."""
    path = tmp_path / "worked.json"
    path.write_text(json.dumps(EXPLICIT))
    cli = via.trace_cli("forward", str(path))
    assert cli == via.stream("forward", EXPLICIT)
    # a11 = x11 w11 + x12 w12 + x21 w21 + x22 w22 + b = 1*1 + 2*(-1) + 0*2 + 1*0 + 0.5
    # a12 = 2*1 + 0*(-1) + 1*2 + 3*0 + 0.5 ; a21 = 0*1 + 1*(-1) + 2*2 + 1*0 + 0.5 ; a22 = 1*1 + 3*(-1) + 1*2 + 0*0 + 0.5
    values = [e["value"] for e in events(cli)[1:-1]]
    assert values == [-0.5, 4.5, 3.5, 0.5]


@pytest.mark.parametrize("start, limit", [(0, 1), (3, 4), (7, 100), (10, None), (0, None)])
def test_start_and_limit(via, tmp_path, start, limit):
    problem = {"x_shape": [1, 2, 3, 4], "w_shape": [1, 2, 2, 2], "padding": 1, "values": "integers", "seed": 3}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(problem))
    full = events(via.trace_cli("grad_x", str(path)))
    total = full[0]["total"]
    assert total == 1 * 2 * 3 * 4
    extra = ["--start", str(start)] + ([] if limit is None else ["--limit", str(limit)])
    out = via.trace_cli("grad_x", str(path), *extra)
    query = {"start": start} | ({} if limit is None else {"limit": limit})
    assert out == via.stream("grad_x", problem, **query)
    ev = events(out)
    stop = total if limit is None else min(total, start + limit)
    assert ev[0]["start"] == start and ev[0]["stop"] == stop and ev[0]["total"] == total
    assert ev[1:-1] == full[1 + start:1 + stop]
    assert ev[-1] == {"event": "end", "count": stop - start}


@pytest.mark.parametrize("args", [
    ("grad_x", "stride2_leftover"), ("forward", "worked", "--start", "1", "--limit", "2"),
])
def test_the_process_prints_what_main_prints(args):
    """The in-process variants above call ``main`` here; ``python -m convviz`` (stdout a pipe)
    prints the same bytes, so they stand for the real command (no server needed)."""
    assert trace_cli(*args) == trace_in_process(*args)


BAD_FILES = {
    "invalid JSON": (b'{"x": [[1, 2], ', "cannot read problem"),
    "not UTF-8": (b"\xff\xfe\x00{}", "cannot read problem"),
    "nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, "cannot read problem"),
    "a list, not an object": (b"[1, 2]", "invalid problem"),
    "ragged x": (b'{"x": [[1, 2], [3]], "w": [[1]]}', "x"),
    "NaN in x": (b'{"x": [[NaN, 1], [1, 1]], "w": [[1]]}', "finite"),
    "strings in w": (b'{"x": [[1, 1], [1, 1]], "w": [["a"]]}', "w"),
    "kernel larger than input": (b'{"x": [[1, 2], [3, 4]], "w": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}', "kernel"),
    "stride 0": (b'{"x": [[1, 2], [3, 4]], "w": [[1]], "stride": 0}', "stride"),
    "negative padding": (b'{"x": [[1, 2], [3, 4]], "w": [[1]], "padding": -1}', "padding"),
    "grad_out of the wrong shape": (b'{"x": [[1, 2], [3, 4]], "w": [[1]], "grad_out": [[[[1]]]]}', "grad_out"),
    "over the tensor limit": (b'{"x_shape": [100000, 1000, 100, 100], "w_shape": [1, 1000, 1, 1]}', "max_tensor_elements"),
    "overflowing values": (b'{"x": [[1e308, 1e308], [1e308, 1e308]], "w": [[1e308]]}', "overflow"),
    "unknown field": (b'{"x": [[1]], "w": [[1]], "strides": 2}', "strides"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_problem_file_exits_2_with_a_message(tmp_path, case):
    body, expect = BAD_FILES[case]
    path = tmp_path / "bad.json"
    path.write_bytes(body)
    done = run("trace", "forward", str(path))
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert done.stdout == b""
    assert err.startswith("convviz: ") and "Traceback" not in err
    assert expect.lower() in err.lower(), err


@pytest.mark.parametrize("args, expect", [
    (["trace", "forward", "/nonexistent/problem.json"], "cannot read problem"),
    (["trace", "forward", "."], "cannot read problem"),  # a directory
    (["trace", "forward", "worked", "--start", "5"], "start must be between 0 and 4"),
    (["trace", "forward", "worked", "--start", "-1"], "start"),
    (["trace", "forward", "worked", "--limit", "0"], "limit must be at least 1"),
])
def test_bad_arguments_exit_2_with_a_message(args, expect):
    done = run(*args)
    err = done.stderr.decode()
    assert done.returncode == 2 and done.stdout == b"", err
    assert err.startswith("convviz: ") and "Traceback" not in err and expect in err, err


def test_unknown_phase_is_a_usage_error():
    done = run("trace", "backward", "worked")
    err = done.stderr.decode()
    assert done.returncode == 2 and "invalid choice" in err and "grad_x" in err and "Traceback" not in err


def test_output_cut_short_by_a_closed_pipe_is_not_an_error():
    """``convviz trace ... | head`` must end quietly when head stops reading."""
    proc = subprocess.Popen([*CONVVIZ, "trace", "forward", "tutorial_layer"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert json.loads(first)["event"] == "meta"
    assert b"Traceback" not in err, err.decode()
    assert proc.returncode == 0


def test_python_dash_m_and_the_console_script_give_help():
    done = run("--help")
    out = done.stdout.decode()
    assert done.returncode == 0 and "serve" in out and "trace" in out
    script = Path(sys.executable).with_name("convviz")
    assert script.exists(), "the console script convviz is not installed next to this python"
    done = subprocess.run([str(script), "--help"], capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stdout.decode() == out


def test_serve_help_defaults_to_loopback():
    done = run("serve", "--help")
    out = " ".join(done.stdout.decode().split())  # argparse wraps lines
    assert done.returncode == 0
    assert "--host" in out and "default 127.0.0.1" in out
    assert "--port" in out and "--open" in out


def test_trace_help_lists_phases_and_presets():
    done = run("trace", "--help")
    out = " ".join(done.stdout.decode().split())
    assert done.returncode == 0
    for word in ["forward", "grad_x", "grad_w", "grad_b", "--start", "--limit", *PRESETS]:
        assert word in out, word
