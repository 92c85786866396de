"""Command line: ``convviz serve`` (the page and the API), ``convviz trace`` (JSON Lines to stdout) and
``convviz check`` (a learner's own forward/backward against the battery)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import webbrowser

from .problem import Limits

LIMIT_FLAGS = {f.name: f.name.replace("_", "-") for f in dataclasses.fields(Limits)}


def _add_limit_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits and threads (also CONVVIZ_... environment variables, e.g. CONVVIZ_MAX_MACS)")
    defaults = Limits()
    for field, flag in LIMIT_FLAGS.items():
        group.add_argument(f"--{flag}", type=int, default=None, metavar="N",
                           help=f"default {getattr(defaults, field):,}")


def _limits(args) -> Limits:
    return Limits.from_env(**{field: getattr(args, field) for field in LIMIT_FLAGS})


def serve(args) -> int:
    import uvicorn

    from .app import create_app

    try:
        limits = _limits(args)
    except ValueError as exc:
        print(f"convviz: {exc}", file=sys.stderr)
        return 2
    if args.host in ("0.0.0.0", "::", ""):
        print(f"convviz: warning: binding to all interfaces ({args.host!r}); anyone who can reach this machine "
              "can use the server. Use --host 127.0.0.1 to keep it local.", file=sys.stderr)
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::', '') else args.host}:{args.port}/"
    if args.open:
        threading.Timer(1.0, webbrowser.open, [url]).start()
    print(f"convviz: serving on {url} (API docs: {url}docs)", file=sys.stderr)
    cors = args.cors_origin  # None: CONVVIZ_CORS_ORIGINS or no CORS
    if cors:
        print(f"convviz: CORS allowed for {', '.join(cors)}", file=sys.stderr)
    uvicorn.run(create_app(limits, cors_origins=cors), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def trace(args) -> int:
    """The same JSON Lines as ``POST /api/v1/trace/{phase}/stream``, without a server."""
    from pydantic import ValidationError

    from .problem import PRESETS, ProblemIn, Solved, check_page, jsonl_chunks, resolve

    try:
        if args.problem in PRESETS and not _exists(args.problem):
            raw = PRESETS[args.problem]["problem"]
        else:
            with (sys.stdin if args.problem == "-" else open(args.problem)) as fh:
                raw = json.load(fh)
        limits = _limits(args)
        entry = Solved(resolve(ProblemIn.model_validate(raw), limits))
        stop = check_page(entry.trace(args.phase), args.start, args.limit, limits, paged=False)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: json.load gives up on arrays nested about a thousand deep
        print(f"convviz: cannot read problem {args.problem!r}: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"convviz: invalid problem: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a ProblemError or the engine's own check: both say what was wrong
        print(f"convviz: {exc}", file=sys.stderr)
        return 2
    out = sys.stdout.buffer
    try:
        for chunk in jsonl_chunks(entry, args.phase, args.start, stop):
            out.write(chunk)
        out.flush()
    except BrokenPipeError:  # e.g. `convviz trace ... | head`
        return 0
    return 0


def _exists(path: str) -> bool:
    import os

    return os.path.exists(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convviz", description="See how a 2-D convolution computes its output and gradients.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the page and the REST API")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--open", action="store_true", help="open the page in a browser once the server is up")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--cors-origin", action="append", default=None, metavar="ORIGIN",
                   help="let pages from ORIGIN (e.g. https://course.example.org) call the API; repeatable; "
                   "default none (also CONVVIZ_CORS_ORIGINS, comma-separated)")
    _add_limit_flags(p)
    p.set_defaults(func=serve)

    from .problem import PRESETS
    from .trace import TRACE_PHASES

    p = sub.add_parser("trace", help="print a phase's steps as JSON Lines (same as the stream endpoint)")
    p.add_argument("phase", choices=TRACE_PHASES)
    p.add_argument("problem", help=f"problem JSON file, '-' for stdin, or a preset name ({', '.join(PRESETS)})")
    p.add_argument("--start", type=int, default=0, help="first step (default 0)")
    p.add_argument("--limit", type=int, default=None, help="number of steps (default: all that remain)")
    _add_limit_flags(p)
    p.set_defaults(func=trace)

    from .checking.command import add_parser as add_check_parser

    add_check_parser(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
