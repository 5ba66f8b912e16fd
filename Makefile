# The two commands a new machine needs: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
DUMPS ?= ./traceloop-dumps

.PHONY: setup run test lint unit bench chaos clean

setup:
	./deploy/host-setup.sh

run: setup
	$(VENV)/bin/traceloop daemon --sink $(DUMPS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy sidecar triggers
	$(VENV)/bin/lint-imports

# TRACELOOP_REQUIRE_BPF makes a skipped BPF test a failure (always set in CI).
test: lint
	TRACELOOP_REQUIRE_BPF=1 $(PY) -m pytest -q -ra tests chaos/quick

bench: setup
	$(PY) bench/run.py

chaos: setup
	$(PY) -m pytest -q -ra chaos

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
