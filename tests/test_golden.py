"""Golden answers: the v1 API and the CLI must answer byte for byte as the reference commit did.

Each case in tests/golden/*.json (written by tests/golden/record.py from a pristine checkout of
the reference commit; see that file to re-record) is replayed in-process against the working
``convviz``: a fresh ``create_app()`` with default limits per case, the request sent twice (the
second answer comes from the app's cache) and both answers must match the recorded status,
content-type and body bytes. CLI cases run ``convviz.cli.main(argv)`` and compare stdout bytes.
Where the bytes differ, a JSON (or JSON Lines) answer still passes when it parses to the same
keys, order, lengths, strings and ints, with floats within 1e-12 relative of the recorded ones:
the engine's summation order moves last digits, not answers.
/openapi.json and /docs are not covered on purpose (they are expected to change).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from convviz.app import create_app
from convviz.cli import main as cli_main

GOLDEN = Path(__file__).parent / "golden"


def _load(kind: str) -> list:
    params = []
    for path in sorted(GOLDEN.glob("*.json")):
        is_cli = path.stem == "cli"
        if is_cli != (kind == "cli"):
            continue
        for case in json.loads(path.read_text(encoding="utf-8"))["cases"]:
            params.append(pytest.param(case, id=f"{path.stem}/{case['id']}"))
    return params


API_CASES = _load("api")
CLI_CASES = _load("cli")


@pytest.fixture(autouse=True)
def _default_environment(monkeypatch, tmp_path):
    """Default limits and no CORS whatever the environment says; a cwd where no file is named like a preset."""

    for name in [k for k in os.environ if k.startswith("CONVVIZ_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def first_difference(got: bytes, want: bytes, what: str = "body") -> str | None:
    """None when equal, else a short message: sizes, first differing offset, snippets around it."""
    if got == want:
        return None
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    lo = max(0, at - 60)
    return (f"{what} differs at byte {at} (got {len(got)} bytes, expected {len(want)})\n"
            f"  expected: ...{want[lo:at + 60]!r}...\n"
            f"  got:      ...{got[lo:at + 60]!r}...")


FLOAT_RTOL = 1e-12  # a new summation order in the engine moves last digits, not answers


def _close(got, want, path: str = "$") -> str | None:
    """None when ``got`` equals ``want`` (parsed JSON) with floats allowed ``FLOAT_RTOL`` apart and
    everything else (keys and their order, ints, strings, nulls, lengths) exactly equal."""
    if isinstance(want, float) and isinstance(got, float):
        if got == want or abs(got - want) <= FLOAT_RTOL * max(abs(got), abs(want)):
            return None
        return f"{path}: {got!r} != {want!r}"
    if type(got) is not type(want):
        return f"{path}: {type(got).__name__} {got!r:.60} != {type(want).__name__} {want!r:.60}"
    if isinstance(want, dict):
        if list(got) != list(want):
            return f"{path}: keys {list(got)} != {list(want)}"
        return next((d for k in want if (d := _close(got[k], want[k], f"{path}.{k}"))), None)
    if isinstance(want, list):
        if len(got) != len(want):
            return f"{path}: {len(got)} items != {len(want)}"
        return next((d for i, (g, w) in enumerate(zip(got, want)) if (d := _close(g, w, f"{path}[{i}]"))), None)
    return None if got == want else f"{path}: {got!r:.60} != {want!r:.60}"


def json_difference(got: bytes, want: bytes, what: str = "body") -> str | None:
    """None when equal byte for byte, or as JSON (or JSON Lines) up to the last digits of floats."""
    if got == want:
        return None
    try:
        lines_got, lines_want = got.decode().splitlines(), want.decode().splitlines()
        if len(lines_got) != len(lines_want):
            return first_difference(got, want, what)
        for k, (g, w) in enumerate(zip(lines_got, lines_want)):
            d = _close(json.loads(g), json.loads(w), f"line {k + 1}" if len(lines_want) > 1 else "$")
            if d:
                return f"{what} differs: {d}"
        return None
    except ValueError:  # not JSON: only bytes count
        return first_difference(got, want, what)


def send(client: TestClient, request: dict):
    if request.get("raw_body") is not None:
        return client.request(request["method"], request["path"], content=request["raw_body"].encode("utf-8"),
                              headers={"content-type": "application/json"})
    return client.request(request["method"], request["path"], json=request["json"])


@pytest.mark.parametrize("case", API_CASES)
def test_api_answer_is_unchanged(case):
    request, want = case["request"], case["response"]
    want_body = want["body"].encode("utf-8")
    with TestClient(create_app()) as client:
        for attempt in ("first", "second (cached)"):
            r = send(client, request)
            where = f"{request['method']} {request['path']}, {attempt} answer"
            if r.status_code != want["status"]:
                pytest.fail(f"{where}: status {r.status_code}, expected {want['status']}; body {r.content[:300]!r}",
                            pytrace=False)
            if r.headers.get("content-type") != want["content_type"]:
                pytest.fail(f"{where}: content-type {r.headers.get('content-type')!r}, "
                            f"expected {want['content_type']!r}", pytrace=False)
            diff = json_difference(r.content, want_body)
            if diff:
                pytest.fail(f"{where}: {diff}", pytrace=False)


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_output_is_unchanged(case, capsysbinary):
    code = cli_main(list(case["argv"]))
    out, err = capsysbinary.readouterr()
    command = "convviz " + " ".join(case["argv"])
    if code != case["returncode"]:
        pytest.fail(f"{command}: exit {code}, expected {case['returncode']}; stderr {err[:300]!r}", pytrace=False)
    diff = json_difference(out, case["stdout"].encode("utf-8"), "stdout")
    if diff:
        pytest.fail(f"{command}: {diff}", pytrace=False)
