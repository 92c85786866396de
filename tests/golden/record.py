"""Record the golden answers of convviz's v1 API and CLI (replayed by tests/test_golden.py).

The files next to this script (``*.json`` here) hold, for each case, the request and the exact
answer that the REFERENCE commit gave. tests/test_golden.py replays every case against the
working ``convviz`` and requires the same status, content-type and body bytes, so a refactor can
prove it changes no answer. Run this script only against the commit whose answers are the
reference (never against code being changed): a re-recording replaces the truth.

How to re-record (from the repository root, e.g. /work/main):

    git worktree add /tmp/golden-src <REFERENCE-COMMIT>          # a pristine copy of that commit
    cd /tmp && PYTHONPATH=/tmp/golden-src /work/main/.venv/bin/python /work/main/tests/golden/record.py
    git -C /work/main worktree remove /tmp/golden-src --force
    cd /work/main && .venv/bin/python -m pytest tests/test_golden.py -q

Run it from outside the repository (``cd /tmp``) so ``import convviz`` finds the worktree given
by PYTHONPATH; the script prints where convviz came from and refuses to record from this
repository's own ``convviz/`` (the code that may be changing) unless ``--from-working-tree`` is
given. ``--out DIR`` writes elsewhere (default: this script's directory).

What is recorded: everything in-process through ``fastapi.testclient.TestClient(create_app())``
with default limits (``CONVVIZ_*`` environment variables are ignored), one fresh app per case so
no case depends on another's cache; each request is then sent a second time to the same app
(answered from its cache) and must give the same bytes, or recording stops. /openapi.json and
/docs are deliberately not recorded (they are expected to change). The CLI cases run
``python -m convviz ...`` in a subprocess with the same convviz and store argv and stdout.

File format: ``{"about": ..., "cases": [{"id", "request", "response"}]}`` where request is
``{"method", "path" (with the query), "json" (the body, or null), "raw_body" (only for bodies
that are not JSON)}`` and response is ``{"status", "content_type", "body"}`` (the body as text:
every answer is UTF-8). CLI cases: ``{"id", "argv", "returncode", "stdout"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# The tutorial's worked example (README): explicit 3x3 x, 2x2 w and grad_out.
WORKED = {"x": [[1, 2, 0], [0, 1, 3], [2, 1, 0]], "w": [[1, -1], [2, 0]], "grad_out": [[1, 2], [-1, 1]]}
# Generated, with long floats: stride [2,1], padding 1, dilation [1,2], N=2, C=2, F=3.
GENERATED = {"x_shape": [2, 2, 5, 6], "w_shape": [3, 2, 2, 2], "stride": [2, 1], "padding": 1, "dilation": [1, 2],
             "values": "normal", "seed": 3}
PHASES = ["forward", "grad_x", "grad_w", "grad_b"]


def presets() -> dict:
    try:
        from convviz.problem.presets import PRESETS  # where the presets live since the architecture issue
    except ImportError:
        from convviz.presets import PRESETS

    return {name: p["problem"] for name, p in PRESETS.items()}


def api_cases() -> dict[str, list[tuple[str, str, str, object]]]:
    """{file stem: [(id, method, path with query, json body)]}; a ``bytes`` body is sent raw."""
    P = presets()
    s2, ch = P["stride2_leftover"], P["channels"]
    cases: dict[str, list] = {}
    cases["meta"] = [
        ("presets", "GET", "/api/v1/presets", None),
        ("limits", "GET", "/api/v1/limits", None),
    ]
    cases["conv"] = [
        ("worked", "POST", "/api/v1/conv", WORKED),
        ("worked-no-im2col", "POST", "/api/v1/conv?im2col=false", WORKED),
        ("generated-normal", "POST", "/api/v1/conv", GENERATED),
        ("generated-normal-no-im2col", "POST", "/api/v1/conv?im2col=false", GENERATED),
        ("preset-stride2_leftover", "POST", "/api/v1/conv", s2),
    ]
    trace = []
    for phase in PHASES:
        trace.append((f"worked-{phase}", "POST", f"/api/v1/trace/{phase}?start=0&limit=100", WORKED))
        trace.append((f"stride2_leftover-{phase}", "POST", f"/api/v1/trace/{phase}?start=0&limit=100", s2))
    trace += [
        ("stride2_leftover-forward-start2", "POST", "/api/v1/trace/forward?start=2&limit=3", s2),
        ("stride2_leftover-grad_x-start7", "POST", "/api/v1/trace/grad_x?start=7&limit=5", s2),
        ("worked-grad_w-default-page", "POST", "/api/v1/trace/grad_w", WORKED),
        ("dilation2-grad_x-start10", "POST", "/api/v1/trace/grad_x?start=10&limit=4", P["dilation2"]),
        ("channels-forward-start30", "POST", "/api/v1/trace/forward?start=30&limit=4", ch),
        ("generated-normal-grad_w", "POST", "/api/v1/trace/grad_w?start=3&limit=4", GENERATED),
        ("generated-normal-forward-last5", "POST", "/api/v1/trace/forward?start=103&limit=10", GENERATED),
    ]
    cases["trace"] = trace
    stream = []
    for phase in PHASES:
        stream.append((f"worked-{phase}-all", "POST", f"/api/v1/trace/{phase}/stream?start=0", WORKED))
        stream.append((f"stride2_leftover-{phase}-start1-limit3", "POST",
                       f"/api/v1/trace/{phase}/stream?start=1&limit=3", s2))
    stream.append(("generated-normal-grad_x-start5-limit2", "POST", "/api/v1/trace/grad_x/stream?start=5&limit=2",
                   GENERATED))
    cases["stream"] = stream
    view = []
    for label, body, query in (("worked", WORKED, ""), ("channels-n1-f2-c1", ch, "?n=1&f=2&c=1"),
                               ("stride2_leftover", s2, "")):
        for phase in ["forward", "grad_x", "grad_w", "grad_b", "im2col"]:
            view.append((f"{label}-{phase}", "POST", f"/api/v1/page/view/{phase}{query}", body))
        view.append((f"{label}-grad_x-scatter", "POST",
                     f"/api/v1/page/view/grad_x{query}{'&' if query else '?'}scatter=true", body))
    view.append(("generated-normal-forward-n1-f2-c1", "POST", "/api/v1/page/view/forward?n=1&f=2&c=1", GENERATED))
    cases["page_view"] = view
    cases["page_scatter"] = [
        ("worked", "POST", "/api/v1/page/scatter", WORKED),
        ("channels-n1-c1-start3-limit5", "POST", "/api/v1/page/scatter?n=1&c=1&start=3&limit=5", ch),
        ("stride2_leftover", "POST", "/api/v1/page/scatter", s2),
    ]
    cases["errors"] = [
        ("stride-0", "POST", "/api/v1/conv", {**WORKED, "stride": 0}),
        ("x_shape-too-big", "POST", "/api/v1/conv", {"x_shape": [100, 100, 100, 100], "w_shape": [1, 100, 3, 3]}),
        ("unknown-phase", "POST", "/api/v1/trace/backward", WORKED),
        ("unknown-phase-stream", "POST", "/api/v1/trace/backward/stream", WORKED),
        ("unknown-view-phase", "POST", "/api/v1/page/view/grad_q", WORKED),
        ("malformed-json", "POST", "/api/v1/conv", b'{"x": [1,'),
        ("limit-too-large", "POST", "/api/v1/trace/forward?limit=1001", WORKED),
        ("start-past-end", "POST", "/api/v1/trace/forward?start=50", WORKED),
        ("view-n-out-of-range", "POST", "/api/v1/page/view/forward?n=3", WORKED),
        ("view-f-out-of-range", "POST", "/api/v1/page/view/grad_w?f=3", ch),
        ("scatter-limit-too-large", "POST", "/api/v1/page/scatter?limit=501", WORKED),
        ("unknown-field", "POST", "/api/v1/conv", {**WORKED, "bias": [1]}),
        ("kernel-larger-than-input", "POST", "/api/v1/conv", {"x": [[1, 2], [3, 4]], "w": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}),
    ]
    return cases


CLI_CASES = [
    ("trace-grad_x-worked", ["trace", "grad_x", "worked"]),
    ("trace-forward-stride2_leftover-start2-limit3", ["trace", "forward", "stride2_leftover", "--start", "2", "--limit", "3"]),
]


def new_client():
    from fastapi.testclient import TestClient

    from convviz.app import create_app

    return TestClient(create_app())


def send(client, method: str, path: str, body):
    if isinstance(body, bytes):
        return client.request(method, path, content=body, headers={"content-type": "application/json"})
    return client.request(method, path, json=body)


def answer(r) -> dict:
    text = r.content.decode("utf-8")
    assert text.encode("utf-8") == r.content
    return {"status": r.status_code, "content_type": r.headers.get("content-type"), "body": text}


def record_api(out: Path) -> int:
    count = 0
    for stem, cases in api_cases().items():
        recorded = []
        for case_id, method, path, body in cases:
            with new_client() as client:
                first = send(client, method, path, body)
                again = send(client, method, path, body)  # from the app's cache this time
            if (first.status_code, first.headers.get("content-type"), first.content) != (
                    again.status_code, again.headers.get("content-type"), again.content):
                sys.exit(f"record.py: {stem}/{case_id}: the second (cached) answer differs from the first")
            request = {"method": method, "path": path, "json": None if isinstance(body, bytes) else body}
            if isinstance(body, bytes):
                request["raw_body"] = body.decode("utf-8")
            recorded.append({"id": case_id, "request": request, "response": answer(first)})
            count += 1
        write(out / f"{stem}.json", f"convviz v1 API answers: {stem}", recorded)
    return count


def record_cli(out: Path, source: Path) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVVIZ_")}
    env["PYTHONPATH"] = str(source)
    recorded = []
    for case_id, argv in CLI_CASES:
        done = subprocess.run([sys.executable, "-m", "convviz", *argv], capture_output=True, env=env, cwd="/")
        if done.returncode != 0 or done.stderr:
            sys.exit(f"record.py: cli {case_id}: exit {done.returncode}: {done.stderr.decode(errors='replace')}")
        recorded.append({"id": case_id, "argv": argv, "returncode": done.returncode,
                         "stdout": done.stdout.decode("utf-8")})
    write(out / "cli.json", "convviz CLI: argv and stdout of `python -m convviz ARGV`", recorded)
    return len(recorded)


def write(path: Path, about: str, cases: list) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"about": about, "cases": cases}, fh, indent=1)
        fh.write("\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="directory for the JSON files (default: here)")
    parser.add_argument("--from-working-tree", action="store_true",
                        help="allow recording from this repository's own convviz/ (normally refused)")
    args = parser.parse_args(argv)
    for name in [k for k in os.environ if k.startswith("CONVVIZ_")]:
        del os.environ[name]  # default limits, no CORS
    import convviz

    source = Path(convviz.__file__).resolve().parent.parent
    print(f"record.py: recording from convviz at {convviz.__file__}", file=sys.stderr)
    if source == REPO.resolve() and not args.from_working_tree:
        sys.exit("record.py: convviz comes from this repository's working tree; record from a pristine worktree of the "
                 "reference commit (see the top of this file), or pass --from-working-tree")
    args.out.mkdir(parents=True, exist_ok=True)
    n_api = record_api(args.out)
    n_cli = record_cli(args.out, source)
    print(f"record.py: {n_api} API cases and {n_cli} CLI cases written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
