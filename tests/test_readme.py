"""The README says what is true: its Python blocks run (in order, as one reader's session), its
curl and ``convviz trace`` examples run against a live server and print what the comments under
them show, and the numbers its prose quotes (multiply-adds, steps and terms, limits, the stream's
meta size, the error example, presets, phases, the busy-port message) are what the server says.
The performance section is measured by ``make bench``, not here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
TUTORIAL = {"x_shape": [10, 32, 14, 14], "w_shape": [16, 32, 3, 3], "padding": 1, "values": "normal", "seed": 0}


def sections() -> dict[str, str]:
    """``## `` heading -> its text (subsections included)."""
    parts = re.split(r"^## (.+)$", README, flags=re.M)
    return {parts[k].strip(): parts[k + 1] for k in range(1, len(parts), 2)}


def blocks(lang: str) -> list[tuple[str, str]]:
    """(section, code) of every fenced block in ``lang``, outside the performance section."""
    found = []
    for title, text in sections().items():
        if title == "Performance":
            continue
        found += [(title, code) for code in re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.M | re.S)]
    return found


def commands(code: str) -> list[tuple[str, list[str]]]:
    """Each command of a shell block (continuation lines joined) with the comment lines under it."""
    out: list[tuple[str, list[str]]] = []
    pending = ""
    for line in code.splitlines():
        if line.startswith("#") and out and not pending:
            out[-1][1].append(line[1:].strip())
            continue
        pending += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            out.append((pending.strip(), []))
            pending = ""
    return out


def json_events(text: str) -> list:
    text = text.strip()
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def find(obj, key: str) -> list:
    """Every value under ``key`` anywhere in ``obj``."""
    if isinstance(obj, dict):
        return [v for k, v in obj.items() if k == key] + [x for v in obj.values() for x in find(v, key)]
    if isinstance(obj, list):
        return [x for v in obj for x in find(v, key)]
    return []


# "key": value pairs a comment shows, where the value is a number or an array of numbers
SHOWN = re.compile(r'"(\w+)":\s*(-?\d[\d.]*(?:e-?\d+)?|\[[-\d.,\se\[\]]*\d[-\d.,\se\[\]]*\])(?=[,}\s]|$)')


def check_shown(comments: list[str], events: list) -> int:
    checked = 0
    for comment in comments:
        for key, value in SHOWN.findall(comment):
            expected = json.loads(value)
            found = find(events, key)
            assert expected in found, (key, expected, str(found)[:300])
            checked += 1
    return checked


# Python ---------------------------------------------------------------------------------------------------
def test_python_blocks_run_as_one_session(tmp_path):
    code = blocks("python")
    assert len(code) >= 3
    script = "\n".join(f"print('--- block {k} ({title})')\n{text}" for k, (title, text) in enumerate(code))
    path = tmp_path / "readme_session.py"
    path.write_text(script)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # this checkout's convviz
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def test_the_python_api_shapes_in_the_comments():
    """The comments of the Python API block say the shapes the calls return."""
    import numpy as np

    import convviz

    x, w = np.random.randn(2, 3, 7, 8), np.random.randn(4, 3, 3, 3)
    out = convviz.conv2d(x, w, np.zeros(4), stride=2, padding=1, dilation=1)
    assert "out = convviz.conv2d(x, w, b, stride=2, padding=1, dilation=1)             # (2, 4, 4, 4)" in README
    assert out.shape == (2, 4, 4, 4)


# shell: curl and convviz trace ------------------------------------------------------------------------------
@pytest.mark.server
def test_curl_examples_print_what_their_comments_show(live_server):
    ran = checked = 0
    for title, code in blocks("sh"):
        for command, comments in commands(code):
            if not command.startswith("curl "):
                continue
            assert "'http://127.0.0.1:8000/" in command, f"quote the URL (zsh): {command[:80]}"
            done = subprocess.run(["bash", "-c", command.replace("http://127.0.0.1:8000", live_server.url)],
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            events = json_events(done.stdout)
            assert not find(events, "error"), done.stdout[:500]
            checked += check_shown(comments, events)
            ran += 1
    assert ran >= 2 and checked >= 8, (ran, checked)


def test_convviz_trace_examples_run():
    ran = 0
    for title, code in blocks("sh"):
        for command, _ in commands(code):
            words = shlex.split(command.split("#")[0])
            if words[:2] != ["convviz", "trace"] or any(w.isupper() or w.startswith("[") for w in words):
                continue  # a synopsis line (PHASE, [--start K]), not an example
            done = subprocess.run([sys.executable, "-m", "convviz", *words[1:]], capture_output=True, text=True,
                                  timeout=120, cwd=ROOT)
            assert done.returncode == 0, done.stderr
            events = [json.loads(line) for line in done.stdout.splitlines()]
            assert events[0]["event"] == "meta" and events[-1]["event"] == "end"
            ran += 1
    assert ran >= 1


# numbers in the prose ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from convviz.app import create_app

    return TestClient(create_app())


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_tutorial_layers_figures(client):
    meta = json.loads(client.post("/api/v1/trace/forward/stream", json=TUTORIAL,
                                  params={"limit": 1, "meta": "shapes"}).text.splitlines()[0])
    quoted = re.findall(r"pad 1: ([\d,]+) multiply-adds, (\d+) terms a\s+forward step", README)
    assert quoted, "the limits section quotes the tutorial layer's multiply-adds"
    for macs, terms in quoted:
        assert number(macs) == meta["geometry"]["macs"] == 10 * 16 * 14 * 14 * 32 * 3 * 3
        assert int(terms) == meta["terms_per_step"] == 32 * 3 * 3
    steps, terms = re.search(r"10x32x14x14 layer, ([\d,]+) steps of (\d+) terms", README).groups()
    assert number(steps) == meta["total"] and int(terms) == meta["terms_per_step"]


def test_the_stream_meta_sizes(client):
    sizes = re.search(r"it is ([\d.]+) MB by itself with the tensors \(for three steps of ([\d.]+) MB\), (\d+)\s+bytes "
                      r"with `meta=shapes`", README)
    assert sizes, "the README states the meta event's size"
    full = client.post("/api/v1/trace/forward/stream", json=TUTORIAL, params={"limit": 3}).content.split(b"\n")
    short = client.post("/api/v1/trace/forward/stream", json=TUTORIAL, params={"limit": 3, "meta": "shapes"}
                        ).content.split(b"\n")
    assert float(sizes.group(1)) == round(len(full[0]) / 1e6, 1)
    assert float(sizes.group(2)) == round(sum(len(line) for line in full[1:4]) / 1e6, 1)
    assert int(sizes.group(3)) == len(short[0])


def test_the_limits_table(client):
    table = sections()["REST API"].split("### Limits", 1)[1]
    rows = re.findall(r"^\| `--([\w-]+)` \| ([^|]+) \|", table, flags=re.M)
    limits = client.get("/api/v1/limits").json()
    assert {flag.replace("-", "_") for flag, _ in rows} == set(limits)
    for flag, value in rows:
        value = value.strip()
        expected = limits[flag.replace("-", "_")]
        if value.endswith("MiB"):
            assert int(value.split()[0]) * 2**20 == expected, flag
        else:
            assert number(value) == expected, flag


def test_the_error_example(client):
    body = re.search(r"\(this one answers `(\{.+?\})`\)", README).group(1)
    shown = json.loads(re.search(r"```json\n(.+?)\n```", README, flags=re.S).group(1))
    r = client.post("/api/v1/conv", content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == shown["error"]["status"] and r.json() == shown


def test_the_integer_note(client):
    n = re.search(r"beyond 2\*\*53, such as\s+(\d+)", README).group(1)
    assert int(n) > 2**53 and float(int(n)) != int(n)
    r = client.post("/api/v1/conv", content=('{"x": [[%s]], "w": [[1]]}' % n).encode(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and n in r.json()["error"]["message"]


def test_presets_and_phases_named_in_the_cli_section(client):
    cli = sections()["CLI"]
    listed = re.search(r"or a preset name: (.+?)\.\n", cli, flags=re.S).group(1)
    names = re.findall(r"`(\w+)`", listed)
    assert names == [p["name"] for p in client.get("/api/v1/presets").json()]
    phases = {p["name"] for p in client.get("/api/v1/phases").json()}
    named = re.findall(r"`(\w+)`", re.search(r"`trace` takes every phase of the\s+registry \((.+?), which prints", cli,
                                            flags=re.S).group(1))
    assert named and set(named) <= phases, set(named) - phases


def test_the_busy_port_message():
    quoted = re.search(r"\(`convviz: port (\d+) is in use; try --port (\d+)`\)", README)
    assert quoted
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "convviz", "serve", "--port", str(port)], capture_output=True,
                              text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 1
    assert re.fullmatch(rf"convviz: port {port} is in use; try --port \d+\n", done.stderr), done.stderr


def test_the_endpoints_table_names_real_routes(client):
    spec = client.get("/openapi.json").json()["paths"]
    table = sections()["REST API"]
    for method, path in re.findall(r"^\| `(GET|POST) (/api/v1/[^`\[?]+)", table, flags=re.M):
        path = path.strip()
        assert path in spec and method.lower() in spec[path], (method, path)
    assert {"/api/v1/export/problem.npz", "/api/v1/export/view/{phase}.svg"} <= set(spec)
