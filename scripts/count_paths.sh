#!/usr/bin/env bash
# The batch-1 counts of two packages (BEFORE and AFTER: folders holding mnist_models/), 20 runs
# each, paired: the same clone folder (5 names, 1 to 78 characters), temporary folder (2), load
# (every other run beside a spinning process), selection (2) and virtual environment (PYTHONS:
# one interpreter per environment; default .venv/bin/python) for both.
#   PYTHONS="a/.venv/bin/python b/.venv/bin/python" scripts/count_paths.sh BEFORE AFTER OUT.jsonl
# BEFORE "-": the AFTER side alone.
set -u
before=$1 after=$2 out=$3
read -r -a pythons <<<"${PYTHONS:-.venv/bin/python}"
scratch=$(mktemp -d)
names=(c cl0ne a-considerably-longer-folder-name-for-a-clone-of-the-repo a/b/c/d/e/f/g/h
  repository-checked-out-by-the-ci-runner-in-its-workspace-folder-for-this-job)
tmps=(t pytest-of-root/pytest-1234/test_forward_instructions_mlp_0)
: >"$out"
for i in $(seq 0 19); do
  extra=""; [ $((i % 4)) -ge 2 ] && extra=extra
  # the environment varies apart from the load (i % 2) and the selection ((i % 4) / 2)
  python=${pythons[$(((i % 2 + (i % 4) / 2) % ${#pythons[@]}))]}
  spin=""; if [ $((i % 2)) = 1 ]; then python3 -c 'while True: pass' & spin=$!; fi
  tags="before after"; [ "$before" = - ] && tags=after
  for tag in $tags; do
    package=$before; [ $tag = after ] && package=$after
    src=$scratch/$tag/${names[$((i % 5))]}; mkdir -p "$src"; rm -rf "$src/mnist_models"
    cp -r "$package/mnist_models" "$src/"; find "$src" -name __pycache__ -prune -exec rm -rf {} +
    work=$scratch/w-$tag-$i/${tmps[$(((i / 5) % 2))]}
    "$python" scripts/count_paths.py "$src" "$work" $extra |
      sed "s|^{|{\"i\": $i, \"tag\": \"$tag\", \"load\": \"${spin:+busy}\", \"python\": \"$python\", |" >>"$out"
  done
  [ -n "$spin" ] && kill "$spin"
done
rm -rf "$scratch"
