"""Packaging and the first run (issue 11): ``make run`` installs only the runtime dependencies;
``pip install .`` into a fresh virtual environment gives a ``convviz`` that serves the page, its
static files, /docs and the API from the installed package (not from this checkout), with PEP 639
license metadata and no setuptools license warning."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def make_dry_run(target: str, tmp_path: Path) -> str:
    """What ``make TARGET`` would run in a fresh clone (no .venv yet): ``make -n`` there."""
    for name in ("Makefile", "pyproject.toml"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    done = subprocess.run(["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_run_installs_only_the_runtime_dependencies(tmp_path):
    run = make_dry_run("run", tmp_path)
    assert "pip install --quiet --no-compile -e ." in run
    assert "[test]" not in run and "torch" not in run and "chromium" not in run
    assert "convviz serve --host 127.0.0.1 --port 8000" in run
    test = make_dry_run("test", tmp_path)
    assert "[test]" in test and "torch==" in test and "pytest" in test


def test_make_run_takes_a_port(tmp_path):
    (tmp_path / "Makefile").write_bytes((ROOT / "Makefile").read_bytes())
    (tmp_path / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    done = subprocess.run(["make", "-n", "run", "PORT=8001"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert "--port 8001" in done.stdout


def test_the_license_is_an_spdx_expression():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^license = "MIT"$', text, re.M)
    assert "license = {" not in text
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


@pytest.mark.server
def test_pip_install_then_convviz_serve(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", str(ROOT)], capture_output=True,
                         text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    assert "License classifiers are deprecated" not in pip.stderr and "project.license` as a TOML table" not in pip.stderr
    metadata = subprocess.run([str(venv / "bin/python"), "-c",
                               "import importlib.metadata as m; d = m.distribution('convviz');"
                               "print(d.metadata['License-Expression']); print(d.locate_file('convviz'))"],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path).stdout.split()
    assert metadata[0] == "MIT"
    assert str(venv) in metadata[1]  # the installed copy, not this checkout
    port = free_port()
    server = subprocess.Popen([str(venv / "bin/convviz"), "serve", "--port", str(port), "--log-level", "warning"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/api/v1/limits", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, server.stdout.read().decode()
            time.sleep(0.2)
        assert "convviz" in httpx.get(url + "/").text
        assert httpx.get(url + "/static/js/main.js").status_code == 200
        assert httpx.get(url + "/static/css/convviz.css").status_code == 200
        assert "swagger-ui" in httpx.get(url + "/docs").text
        assert httpx.get(url + "/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
        r = httpx.post(url + "/api/v1/conv", json={"x": [[1, 2, 0], [0, 1, 3], [2, 1, 0]], "w": [[1, -1], [2, 0]]})
        assert r.json()["out"] == [[[[-1.0, 4.0], [3.0, 0.0]]]]
    finally:
        server.terminate()
        server.wait(timeout=10)
