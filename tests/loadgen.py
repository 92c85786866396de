"""Concurrent clients against a running server, mixing /api/v1/conv, trace pages and streams
of the tutorial's layer. Shared by tests/test_load.py (short form) and benchmarks/bench_load.py.

Each client checks what it gets (status, step counts, the stream's end event); anything else is
an error. Latency is measured per request, from sending it to having read all of its body.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field

import httpx

from procstat import cpu_seconds, memory_kib

TUTORIAL = {"x_shape": [10, 32, 14, 14], "w_shape": [16, 32, 3, 3], "padding": 1, "values": "normal", "seed": 0}
TOTALS = {"forward": 31_360, "grad_x": 62_720, "grad_w": 4_608, "grad_b": 16}


@dataclass
class Result:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"conv": [], "page": [], "stream": []})
    errors: list[str] = field(default_factory=list)
    peak_rss_kib: int = 0
    start_rss_kib: int = 0
    seconds: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    def summary(self) -> str:
        lines = []
        every = sorted(v for vs in self.latencies.values() for v in vs)
        for name, values in [*self.latencies.items(), ("all", every)]:
            values = sorted(values)
            if values:
                lines.append(f"  {name:6s} n={len(values):5d}  p50 {pct(values, 50) * 1000:7.0f} ms  "
                             f"p95 {pct(values, 95) * 1000:7.0f} ms  max {values[-1] * 1000:7.0f} ms")
        lines.append(f"  errors {len(self.errors)}; {len(every) / self.seconds:.1f} requests/s over {self.seconds:.1f} s")
        lines.append(f"  server RSS: {self.start_rss_kib / 1024:.0f} MiB at start, peak {self.peak_rss_kib / 1024:.0f} MiB")
        # Clients and server share the machine's cores: this says who used them.
        lines.append(f"  CPU: server {self.server_cpu_s:.1f} s ({self.server_cpu_s / max(len(every), 1) * 1000:.0f} ms a request), "
                     f"clients (parsing and checking answers) {self.client_cpu_s:.1f} s, over {self.seconds:.1f} s wall")
        return "\n".join(lines + [f"  error: {e}" for e in self.errors[:5]])


def pct(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))]


def one_request(client: httpx.Client, kind: str, rng: random.Random) -> None:
    """One request of ``kind``; raises AssertionError on anything but a correct answer."""
    if kind == "conv":
        r = client.post("/api/v1/conv", json=TUTORIAL, params={"im2col": "false"})
        assert r.status_code == 200, f"conv {r.status_code} {r.text[:200]}"
        assert len(r.json()["out"]) == 10
    elif kind == "page":
        phase = rng.choice(["forward", "grad_x", "grad_w"])
        limit = {"forward": 100, "grad_x": 100, "grad_w": 20}[phase]
        start = rng.randrange(TOTALS[phase] - limit)
        r = client.post(f"/api/v1/trace/{phase}", json=TUTORIAL, params={"start": start, "limit": limit})
        assert r.status_code == 200, f"page {r.status_code} {r.text[:200]}"
        page = r.json()
        assert page["total"] == TOTALS[phase] and len(page["steps"]) == limit
        assert page["steps"][0]["index"] == start
    else:
        start = rng.randrange(TOTALS["forward"] - 200)
        with client.stream("POST", "/api/v1/trace/forward/stream", json=TUTORIAL,
                           params={"start": start, "limit": 200}) as r:
            assert r.status_code == 200, f"stream {r.status_code}"
            lines = list(r.iter_lines())
        assert json.loads(lines[0])["event"] == "meta"
        assert json.loads(lines[1])["index"] == start
        assert json.loads(lines[-1]) == {"event": "end", "count": 200}, lines[-1][:200]


def run_load(url: str, pid: int | list[int], clients: int, seconds: float, seed: int = 0) -> Result:
    """``pid``: the server process, or all of its processes (a master and its workers: their
    memory and CPU are summed; peak memory is then the largest sum seen while sampling)."""
    pids = list(pid) if isinstance(pid, (list, tuple)) else [pid]

    def rss(key: str) -> int:
        return sum(memory_kib(p)[key] for p in pids)

    def cpu() -> float:
        return sum(cpu_seconds(p) for p in pids)

    result = Result(start_rss_kib=rss("VmRSS"))
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    kinds = ["conv", "page", "stream"]

    def client_loop(k: int):
        rng = random.Random(seed * 1000 + k)
        with httpx.Client(base_url=url, timeout=httpx.Timeout(120.0)) as client:
            n = k
            while time.monotonic() < deadline:
                kind = kinds[n % 3]
                n += 1
                t0 = time.perf_counter()
                try:
                    one_request(client, kind, rng)
                except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                    with lock:
                        result.errors.append(f"{kind}: {type(exc).__name__}: {exc}"[:300])
                    continue
                with lock:
                    result.latencies[kind].append(time.perf_counter() - t0)

    stop_sampling = threading.Event()

    def sample_memory():
        while not stop_sampling.wait(0.2):
            result.peak_rss_kib = max(result.peak_rss_kib, rss("VmRSS"))

    sampler = threading.Thread(target=sample_memory)
    sampler.start()
    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(clients)]
    t0 = time.monotonic()
    cpu0, client0 = cpu(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.monotonic() - t0
    result.server_cpu_s, result.client_cpu_s = cpu() - cpu0, time.process_time() - client0
    stop_sampling.set()
    sampler.join()
    if len(pids) == 1:  # the kernel's own peak; with several processes, the sum of their peaks would overstate it
        result.peak_rss_kib = max(result.peak_rss_kib, memory_kib(pids[0])["VmHWM"])
    return result
