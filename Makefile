# The README's two commands: `make run` serves the app, `make test` runs every test.
# Both create (or reuse) .venv. `make run` installs only what serving needs (numpy, fastapi,
# uvicorn, jinja2: seconds on a fresh clone); `make test` adds the test extras and PyTorch (the
# reference the tests compare against), and Debian's chromium for the browser tests when it is
# missing and we are root.
# `make test-fast` is the inner loop: every test that needs neither a browser nor a live server
# (the API and the CLI in process), same venv, no chromium.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-test
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1

.PHONY: run test test-fast bench chromium

$(PY):
	$(PYTHON) -m venv $(VENV)

# --no-compile: Python compiles the modules serving imports when it first imports them; compiling
# every module of NumPy and pydantic up front took about as long as the rest of the install.
$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --no-compile -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(PY) -m pip install --quiet -e '.[test]'
	# PyTorch is the reference the tests compare against when present (CPU build; skipped if unavailable).
	-$(PY) -m pip install --quiet 'torch==2.13.0'
	touch $(STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/convviz serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

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
