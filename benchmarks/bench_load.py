"""Load, long form (issue 4): starts ``convviz serve`` and runs >= 24 concurrent clients for >= 20 s,
mixing /api/v1/conv, trace pages and streams of the tutorial's layer (x 10x32x14x14, w 16x32x3x3,
pad 1). Prints p50/p95 latencies per kind of request, the error count and the server's peak memory.

    .venv/bin/python benchmarks/bench_load.py [--clients 24] [--seconds 20] [--url http://...]

With ``--url`` it loads a server you started yourself (e.g. several uvicorn workers behind a
proxy); memory is then not measured unless ``--pid`` is given too.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from conftest import start_server, stop_server  # noqa: E402
from loadgen import run_load  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--url", default=None, help="load this server instead of starting one")
    parser.add_argument("--pid", type=int, default=None, help="server process to measure with --url")
    args = parser.parse_args()
    server = None
    if args.url is None:
        server = start_server()
        url, pid = server.url, server.pid
    else:
        url, pid = args.url.rstrip("/"), args.pid or os.getpid()
    try:
        print(f"convviz load: {args.clients} clients for {args.seconds:.0f} s against {url} "
              f"({os.cpu_count()} CPUs), tutorial layer: /conv (im2col=false), 100-step pages, 200-step streams")
        result = run_load(url, pid, args.clients, args.seconds)
        print(result.summary())
        if args.url is not None and args.pid is None:
            print("  (memory figures above are this client's, not the server's: pass --pid)")
        return 1 if result.errors else 0
    finally:
        if server is not None:
            stop_server(server)


if __name__ == "__main__":
    sys.exit(main())
