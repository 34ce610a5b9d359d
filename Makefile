# Two commands on a fresh machine: `make bench` (the benchmark suite against the stored baselines)
# and `make test` (the tests). Each bootstraps the virtual environment and the dataset first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: test bench bench-full compare baseline accept data env lint clean

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

env: $(BIN)/.installed

data: env
	$(BIN)/mnist-models data

test: data
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

bench: data
	$(BIN)/python -m pytest benchmarks --benchmark-compare $(PYTEST_ARGS)

bench-full: data
	$(BIN)/python -m pytest benchmarks -m full --benchmark-compare $(PYTEST_ARGS)

# Latency of the working tree against a revision, timed alternately (mnist-models compare).
BASE ?= main
compare: env
	$(BIN)/mnist-models compare --baseline $(BASE) $(ARGS)

# After an intended change: re-record the gate tier's baseline (or TESTS=... only), then commit.
baseline: data
	$(BIN)/python benchmarks/baseline.py $(PYTEST_ARGS)

accept: data
	$(BIN)/python benchmarks/baseline.py $(TESTS)

lint: env
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
