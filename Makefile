# Two entry points: `make demo` (set up, run the demo campaign, build its HTML report)
# and `make test` (set up, run the test suite). Everything lands in .venv at the repo root.
SHELL := /bin/bash
PYTHON ?= $(shell scripts/find-python.sh)
VENV := .venv
BIN := $(VENV)/bin
KERNEL := sbc
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-quick docs system-deps lock clean-outputs

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml Makefile
	@test -n "$(PYTHON)" || { echo "error: no Python >= 3.12 found" >&2; exit 1; }
	$(MAKE) system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv==0.13.9
	# bytecode compiled once here: every worker, kernel and command then imports PyMC and friends in
	# ~2 s instead of ~6 s where .pyc files are not written (PYTHONDONTWRITEBYTECODE, read-only installs)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (sbc)" >/dev/null
	touch $(STAMP)

# graphviz's `dot` renders the model graph; Chromium drives the report's browser test; SLURM and
# munge run the one-node cluster of the SLURM tests (scripts/slurm-local.sh starts it).
system-deps:
	@if ! command -v dot >/dev/null || ! command -v chromium >/dev/null || ! command -v sbatch >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq graphviz chromium >/dev/null \
	  || echo "warning: could not install graphviz/chromium; model graphs or the browser test will be skipped" >&2; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    munge slurmctld slurmd slurm-client procps >/dev/null \
	  || echo "warning: could not install SLURM; the SLURM tests will be skipped" >&2; \
	fi

demo: setup
	$(BIN)/sbc run params/demo.yaml

# Two pytest-xdist workers, a test file each at a time (module fixtures run once); the 25 slowest
# tests are listed at the end.
PYTEST := $(BIN)/python -m pytest -n 2 --dist loadfile

test: setup
	$(PYTEST) --durations=25

# The inner loop: everything but whole campaigns and other slow tests.
test-quick: setup
	$(PYTEST) -m "not slow" --durations=10

# This documentation site, offline, warnings as errors; the example notebook is executed once and
# cached (docs/_build/.jupyter_cache).
docs: setup
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# Re-resolve the pinned versions (needs network); commit the result.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra test --extra kubernetes --extra docs --python-version 3.12 -o requirements.lock

clean-outputs:
	rm -rf outputs/*/
