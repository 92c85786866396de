"""Load, short form: >= 24 concurrent clients for a few seconds against a real ``convviz serve``,
mixing /api/v1/conv, trace pages and streams of the tutorial's layer. Zero errors allowed; the
p50/p95 latencies and the server's peak memory are printed (the long form, with figures, is
benchmarks/bench_load.py; speed is judged there, not here)."""

from __future__ import annotations

import httpx
import pytest
from conftest import start_server, stop_server
from loadgen import run_load

pytestmark = pytest.mark.server


def test_24_clients_mixing_conv_pages_and_streams_get_no_errors():
    server = start_server()  # its own server, so the memory figure is this test's alone
    try:
        result = run_load(server.url, server.pid, clients=24, seconds=4.0)
        print("\nload, 24 clients, tutorial layer:\n" + result.summary())
        assert result.errors == []
        assert all(len(v) >= 3 for v in result.latencies.values()), "every kind of request must have run"
        assert server.process.poll() is None
        assert httpx.get(server.url + "/api/v1/limits", timeout=10).status_code == 200
    finally:
        stop_server(server)
