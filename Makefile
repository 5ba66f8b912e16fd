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
	$(PY) -m mypy sidecar triggers tests chaos conftest.py
	$(VENV)/bin/lint-imports

# TRACELOOP_REQUIRE_BPF=1 (like CI=true) makes any skipped test a failure,
# unless conftest.py's ALLOWED_SKIPS lists it with its reason.
test: lint
	TRACELOOP_REQUIRE_BPF=1 $(PY) -m pytest -q -ra tests chaos/quick

bench: setup
	$(PY) bench/run.py

# chaos/quick runs in `make test` too; chaos/ adds the long runs (minutes).
chaos: setup
	TRACELOOP_REQUIRE_BPF=1 $(PY) -m pytest -q -ra chaos

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
