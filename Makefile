# The README's two commands: `make run` serves the app, `make test` runs every test.
# Both create (or reuse) .venv and install what they need; `make test` also installs
# Debian's chromium for the browser tests when it is missing and we are root.
# `make test-fast` is the inner loop: every test that needs neither a browser nor a live server
# (the API and the CLI in process), same venv, no chromium.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast bench chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	# PyTorch is the reference the tests compare against when present (CPU build; skipped if unavailable).
	-$(PY) -m pip install --quiet 'torch==2.13.0'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/convviz serve --host $(HOST) --port $(PORT)

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: install Debian's chromium package for the browser tests" >&2; fi; }

test: $(STAMP) chromium
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not browser and not server" -q

bench: $(STAMP) chromium
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_stream.py
	$(PY) benchmarks/bench_page.py
	$(PY) benchmarks/bench_load.py
