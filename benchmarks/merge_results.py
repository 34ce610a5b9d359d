"""Merge pytest-benchmark JSON files (the full tier's shards) into one results file.

python benchmarks/merge_results.py results-*.json --output full-results.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mnist_models.atomic import check_writable, write_text_atomic


def merge_runs(runs: list[dict]) -> dict:
    """One run holding every benchmark; machine and commit info from the first shard."""
    if not runs:
        raise ValueError("nothing to merge")
    benchmarks: dict[str, dict] = {}
    for run in runs:
        for bench in run["benchmarks"]:
            if bench["fullname"] in benchmarks:
                raise ValueError(f"{bench['fullname']} appears in two shards")
            benchmarks[bench["fullname"]] = bench
    return {**runs[0], "benchmarks": sorted(benchmarks.values(), key=lambda b: b["fullname"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    check_writable(args.output)
    try:
        runs = [json.loads(f.read_text()) for f in args.files]
        merged = merge_runs(runs)
    except (OSError, ValueError, KeyError) as err:
        print(f"merge_results: error: {err}", file=sys.stderr)
        return 2
    write_text_atomic(args.output, json.dumps(merged, indent=1) + "\n")
    print(f"{args.output}: {len(merged['benchmarks'])} benchmarks from {len(runs)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
