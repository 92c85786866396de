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


def _cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (the port in use, ...), or None.

    Bound and released here, with the SO_REUSEADDR uvicorn sets, so the one clear line is
    printed before "serving on" instead of uvicorn's error after it."""
    import errno
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return f"port {port} is in use; try --port {_free_port_after(host, port)}"
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _free_port_after(host: str, port: int) -> int:
    """The first port after ``port`` that is free (``port + 1`` if none of the next 20 is)."""
    import socket

    for candidate in range(port + 1, min(port + 21, 65536)):
        try:
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host if host not in ("", "::") else "0.0.0.0", candidate))
            return candidate
        except OSError:
            continue
    return port + 1


def serve(args) -> int:
    import uvicorn

    from .app import create_app

    try:
        limits = _limits(args)
    except ValueError as exc:
        print(f"convviz: {exc}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f"convviz: --workers must be at least 1, got {args.workers}", file=sys.stderr)
        return 2
    problem = _cannot_listen(args.host, args.port)
    if problem:
        print(f"convviz: {problem}", file=sys.stderr)
        return 1
    if args.host in ("0.0.0.0", "::", ""):
        print(f"convviz: warning: binding to all interfaces ({args.host!r}); anyone who can reach this machine "
              "can use the server. Use --host 127.0.0.1 to keep it local.", file=sys.stderr)
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::', '') else args.host}:{args.port}/"
    if args.open:
        threading.Timer(1.0, webbrowser.open, [url]).start()
    workers = f" with {args.workers} worker processes" if args.workers > 1 else ""
    print(f"convviz: serving on {url}{workers} (API docs: {url}docs)", file=sys.stderr)
    cors = args.cors_origin  # None: CONVVIZ_CORS_ORIGINS or no CORS
    if cors:
        print(f"convviz: CORS allowed for {', '.join(cors)}", file=sys.stderr)
    if args.workers == 1:
        uvicorn.run(create_app(limits, cors_origins=cors), host=args.host, port=args.port, log_level=args.log_level)
        return 0
    # Worker processes each build their own app (and cache) from the environment: the server is
    # stateless, so any worker can answer any request. The flags reach them as CONVVIZ_...
    import os

    os.environ.update({Limits.env_name(name): str(value) for name, value in limits.as_dict().items()})
    if cors:
        os.environ["CONVVIZ_CORS_ORIGINS"] = ",".join(cors)
    # uvicorn kills a worker that does not answer its health check within the timeout (5 s by
    # default): a worker busy writing a large answer under the GIL on a loaded machine can miss
    # that, and its clients' connections were reset (benchmarks/bench_load.py). A minute still
    # restarts a worker that is truly stuck.
    uvicorn.run("convviz.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level=args.log_level, timeout_worker_healthcheck=60)
    return 0


def trace(args) -> int:
    """The same JSON Lines as ``POST /api/v1/trace/{phase}/stream``, without a server."""
    from pydantic import ValidationError

    from .problem import PRESETS, ProblemIn, Solved, check_page, jsonl_chunks, resolve
    from .trace import PHASES

    try:
        if args.problem in PRESETS and not _exists(args.problem):
            raw = PRESETS[args.problem]["problem"]
        elif args.problem != "-" and not _exists(args.problem):
            print(f"convviz: cannot read problem {args.problem!r}: there is no such file, and it is not a preset "
                  f"name (presets: {', '.join(PRESETS)})", file=sys.stderr)
            return 2
        else:
            with (sys.stdin if args.problem == "-" else open(args.problem)) as fh:
                raw = json.load(fh)
        limits = _limits(args)
        entry = Solved(resolve(ProblemIn.model_validate(raw), limits))
        # a view of another phase's steps (im2col: forward's) prints those steps
        stop = check_page(entry.trace(PHASES[args.phase].plays), args.start, args.limit, limits, paged=False)
        entry.writer(PHASES[args.phase].plays, args.fields)  # unknown fields: the message lists the allowed ones
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
        for chunk in jsonl_chunks(entry, args.phase, args.start, stop, meta=args.meta, fields=args.fields):
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
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes (default 1); each keeps its own cache, any of them answers any request")
    _add_limit_flags(p)
    p.set_defaults(func=serve)

    from .problem import PRESETS
    from .trace import PHASES

    p = sub.add_parser("trace", help="print a phase's steps as JSON Lines (same as the stream endpoint)")
    p.add_argument("phase", choices=list(PHASES),
                   help="a phase of the registry; one that plays another's steps (im2col: forward's) prints those, "
                   "with its own tensors (cols, w_mat) in the meta event")
    p.add_argument("problem", help=f"problem JSON file, '-' for stdin, or a preset name ({', '.join(PRESETS)})")
    p.add_argument("--start", type=int, default=0, help="first step (default 0)")
    p.add_argument("--limit", type=int, default=None, help="number of steps (default: all that remain)")
    p.add_argument("--meta", choices=["tensors", "shapes"], default="tensors",
                   help="what the meta event carries: the phase's tensors (default) or only their shapes")
    p.add_argument("--fields", default=None, metavar="LIST",
                   help="only these step fields, comma-separated, as the API's fields= (e.g. at,value,terms.x,terms.w; "
                   "index, at, value, bias, terms or terms.<field>); default all")
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
