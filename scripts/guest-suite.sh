#!/usr/bin/env bash
# The gates plugin is a guest in every pytest session of the environment it is installed in.
# This runs a real suite nobody here wrote, pytest-benchmark's own (its sdist ships tests/), as
# its tox.ini does, twice in one fresh virtualenv: first without this project, then with it
# installed (its pytest11 entry point loads the plugin in every session, the suite's own
# `py.test-benchmark` subprocesses included). The outcome of every test must be the same.
#
#   scripts/guest-suite.sh [WORKDIR]        # default: a new temporary folder
#
# Needs pip access to PyPI (pytest-benchmark's sdist and its test dependencies). About 2 min.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
version=5.3.1
python=${PYTHON:-python3}
mkdir -p "$work" && cd "$work"
echo "guest suite: pytest-benchmark $version's tests in $work"
$python -m venv venv
pip=(venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip
[ -d "pytest_benchmark-$version" ] || {
  venv/bin/python -m pip download --quiet --no-binary :all: --no-deps "pytest-benchmark==$version"
  tar xzf "pytest_benchmark-$version.tar.gz"
}
src="pytest_benchmark-$version"
# as its tox.ini: the aspect, elasticsearch and histogram extras, its dev group, pygal pins,
# pytest 9.2 and xdist. Our project without its torch dependencies: the plugin needs none.
"${pip[@]}" "./$src[aspect,elasticsearch,histogram]" "pytest==9.2.0" "pytest-xdist==3.8.0" \
  "pygal==3.1.3" "pygaljs==1.0.2" "freezegun>=1.5.5" "nbmake>=1.5.5" "setuptools>=80"
venv/bin/python -m pytest --version
run() {  # $1: label; the rest: extra pytest arguments
  local label=$1; shift
  # the suite starts `py.test-benchmark` itself: this venv's, first on PATH
  (cd "$src" && PATH="$work/venv/bin:$PATH" COLUMNS=80 PYTHONPATH=tests PYTHONUNBUFFERED=yes \
     ../venv/bin/python -m pytest -q -p no:cacheprovider --ignore=src -rA "$@" \
       >"../$label.log" 2>&1) && status=0 || status=$?
  # the outcomes from the closing summary only (the suite prints its inner runs' output too)
  sed -n '/short test summary info/,$p' "$label.log" |
    grep -E '^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) ' | sed 's/ - .*//' | sort >"$label.outcomes"
  echo "$label: exit $status, $(tail -n 1 "$label.log")"
  return 0
}
plugins() {  # the pytest11 entry points installed in the venv
  venv/bin/python -c "from importlib.metadata import entry_points as e
print(' '.join(sorted(p.name for p in e(group='pytest11'))))"
}
venv/bin/python -m pip uninstall --quiet --yes mnist-bench 2>/dev/null || true
echo "plugins: $(plugins)"
run without-plugin
"${pip[@]}" --no-deps "$repo"
echo "plugins: $(plugins)"
plugins | grep -qw mnist_bench_gates || { echo "the plugin did not install"; exit 1; }
run with-plugin
if diff -u without-plugin.outcomes with-plugin.outcomes; then
  echo "same outcome for all $(wc -l <with-plugin.outcomes) tests with and without the plugin"
else
  echo "outcomes differ with the plugin installed (above: - without, + with)"; exit 1
fi
tail -n 1 with-plugin.log | grep -qE 'failed|error' && { echo "the suite failed"; exit 1; }
exit 0
