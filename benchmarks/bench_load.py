"""Load, long form: starts ``convviz serve`` with 1 and then 2 worker processes (``--workers``)
and runs >= 24 concurrent clients for >= 20 s against each, mixing /api/v1/conv, trace pages and
streams of the tutorial's layer (x 10x32x14x14, w 16x32x3x3, pad 1). Prints, per run, p50/p95
latencies per kind of request, requests/s, errors, the server's CPU and peak memory (all its
processes), then the two runs side by side.

    .venv/bin/python benchmarks/bench_load.py [--clients 24] [--seconds 20] [--workers 1,2] [--url http://...]

The clients run in this process and share the machine's cores with the server, as a class's
browsers would not: the figures say what one machine does when it is both.
With ``--url`` it loads a server you started yourself (e.g. behind a proxy); memory is then not
measured unless ``--pid`` is given too.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from conftest import start_server, stop_server  # noqa: E402
from loadgen import Result, pct, run_load  # noqa: E402
from procstat import cpu_seconds, memory_kib  # noqa: E402


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (uvicorn's workers), from /proc."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as fh:
            found += [int(c) for c in fh.read().split()]
    return found


def _client_process(job) -> tuple[dict, list, float]:
    url, pid, clients, seconds, seed = job
    result = run_load(url, pid, clients, seconds, seed=seed)
    return result.latencies, result.errors, result.client_cpu_s


def load_from_processes(url: str, pids: list[int], clients: int, seconds: float, processes: int) -> Result:
    """``clients`` client threads spread over ``processes`` processes (one Python process's GIL
    would make the clients, not the server, the bottleneck); the server's CPU and memory (every
    one of its processes) measured here."""
    result = Result()
    rss = lambda: sum(memory_kib(p)["VmRSS"] for p in pids)  # noqa: E731
    result.start_rss_kib = rss()
    stop = threading.Event()

    def sample():
        while not stop.wait(0.2):
            result.peak_rss_kib = max(result.peak_rss_kib, rss())

    sampler = threading.Thread(target=sample)
    sampler.start()
    cpu0, t0 = sum(cpu_seconds(p) for p in pids), time.monotonic()
    shares = [clients // processes + (k < clients % processes) for k in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        answers = pool.map(_client_process, [(url, pids[0], n, seconds, k) for k, n in enumerate(shares)])
    result.seconds = time.monotonic() - t0
    result.server_cpu_s = sum(cpu_seconds(p) for p in pids) - cpu0
    stop.set()
    sampler.join()
    for latencies, errors, client_cpu in answers:
        for kind, values in latencies.items():
            result.latencies[kind] += values
        result.errors += errors
        result.client_cpu_s += client_cpu
    return result


def serve_and_load(workers: int, clients: int, seconds: float, processes: int):
    server = start_server("--workers", str(workers)) if workers > 1 else start_server()
    try:
        pids = [server.pid]
        if workers > 1:
            deadline = time.monotonic() + 10
            while len(spawned := [c for c in children(server.pid) if _is_worker(c)]) < workers:
                assert time.monotonic() < deadline, "the worker processes did not start"
                time.sleep(0.1)
            pids += spawned
        if processes > 1:
            result = load_from_processes(server.url, pids, clients, seconds, processes)
        else:
            result = run_load(server.url, pids, clients, seconds)
    finally:
        stop_server(server)
    return result


def _is_worker(pid: int) -> bool:
    """uvicorn's workers are multiprocessing's spawned children (not its resource tracker)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"spawn_main" in fh.read()
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, comma-separated (default 1,2)")
    parser.add_argument("--client-processes", type=int, default=4,
                        help="processes the clients are spread over (default 4; 1: threads of this process)")
    parser.add_argument("--url", default=None, help="load this server instead of starting one")
    parser.add_argument("--pid", type=int, default=None, help="server process to measure with --url")
    args = parser.parse_args()
    print(f"convviz load: {args.clients} clients in {args.client_processes} processes for {args.seconds:.0f} s per run "
          f"({os.cpu_count()} CPUs), tutorial layer: /conv (im2col=false), 100-step pages, 200-step streams")
    if args.url is not None:
        result = run_load(args.url.rstrip("/"), args.pid or os.getpid(), args.clients, args.seconds)
        print(result.summary())
        if args.pid is None:
            print("  (memory figures above are this client's, not the server's: pass --pid)")
        return 1 if result.errors else 0
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        print(f"\n--workers {workers}:")
        result = serve_and_load(workers, args.clients, args.seconds, args.client_processes)
        print(result.summary())
        every = sorted(v for vs in result.latencies.values() for v in vs)
        rows.append((workers, len(every) / result.seconds, pct(every, 50), pct(every, 95), len(result.errors),
                     result.server_cpu_s, result.peak_rss_kib / 1024))
    print("\nside by side:")
    print(f"  {'workers':>7}  {'requests/s':>10}  {'p50':>8}  {'p95':>8}  {'errors':>6}  {'server CPU':>10}  {'peak RSS':>9}")
    for workers, rate, p50, p95, errors, cpu, rss in rows:
        print(f"  {workers:>7}  {rate:>10.1f}  {p50 * 1000:>6.0f}ms  {p95 * 1000:>6.0f}ms  {errors:>6}  {cpu:>9.1f}s  "
              f"{rss:>6.0f}MiB")
    if len(rows) > 1:
        base = rows[0]
        for row in rows[1:]:
            print(f"  {row[0]} vs {base[0]} workers: requests/s x{row[1] / base[1]:.2f}, p95 x{row[3] / base[3]:.2f}")
    return 1 if any(r[4] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
