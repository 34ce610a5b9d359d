"""Record or update the stored baseline after an intended change (`make baseline`/`make accept`).

    python benchmarks/baseline.py                      # the gate tier
    python benchmarks/baseline.py -m full              # the whole grid
    python benchmarks/baseline.py 'benchmarks/bench_counts.py::test_counts[mlp-32@28]'
    python benchmarks/baseline.py --from-json a.json b.json c.json   # finished runs
    python benchmarks/baseline.py --storage DIR --from-json run.json   # into another storage
    python benchmarks/baseline.py --device cuda        # the CUDA baseline (baselines/cuda/)

Several runs of the same code make a steadier baseline than one: for each benchmark the run
whose timed metric is the median is kept (one run alone can be a lucky fast one); metrics that
are exact (counts) must agree between the runs.

Runs the selected benchmarks without comparing (declared bounds such as accuracy floors still
apply), then merges their results into benchmarks/baselines/<machine id>/0001_baseline.json:
entries of the tests that ran are replaced, entries of tests that no longer exist are dropped,
the rest are kept. Nothing is written if the run fails; the file is replaced atomically.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from pytest_benchmark.utils import get_machine_id

from mnist_models.atomic import check_writable, write_text_atomic
from mnist_models.errors import OutputError
from mnist_models.gates.schema import SchemaError, load_run_file

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ROOT / "benchmarks" / "baselines"
BASELINE_NAME = "0001_baseline.json"


def baseline_storage(device: str = "cpu") -> Path:
    """Where a device's baselines live: CUDA's apart from the CPU's, so that the two are never
    compared (the gates also refuse a baseline of another device, gates.py)."""
    return BASELINES if device == "cpu" else BASELINES / device


def _has_path(args: list[str]) -> bool:
    return any(a.startswith("benchmarks") or "::" in a or a.endswith(".py") for a in args)


def existing_nodeids(device: str = "cpu") -> set[str]:
    """Every benchmark test that exists now (whole grid), to drop entries of removed ones."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "benchmarks",
            "-m",
            "full",
            "--device",
            device,
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return {line for line in proc.stdout.splitlines() if "::" in line}


def strip_samples(bench: dict) -> dict:
    """Keep the statistics, drop the raw per-round timings (megabytes, not needed to compare)."""
    return {**bench, "stats": {k: v for k, v in bench["stats"].items() if k != "data"}}


def _device_argument(argv: list[str]) -> str:
    """The device type a pytest argument list runs on (the suite's --device; default cpu)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--device", default="cpu")
    known, _ = parser.parse_known_args(argv)
    return known.device.partition(":")[0]


def merge(old: dict | None, new: dict, alive: set[str]) -> dict:
    kept = {b["fullname"]: b for b in (old or {}).get("benchmarks", []) if b["fullname"] in alive}
    kept.update({b["fullname"]: strip_samples(b) for b in new["benchmarks"]})
    return {**new, "benchmarks": sorted(kept.values(), key=lambda b: b["fullname"])}


def run_benchmarks(argv: list[str]) -> dict | None:
    """Run pytest on the selection; its JSON results, or None if the run failed."""
    args = argv if _has_path(argv) else ["benchmarks", *argv]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        code = subprocess.call(
            [
                sys.executable,
                "-m",
                "pytest",
                *args,
                f"--benchmark-json={out}",
                "-p",
                "no:cacheprovider",
            ],
            cwd=ROOT,
        )
        if code != 0:
            print(
                f"baseline not saved: the run failed (exit {code}); fix the failures above "
                "first (formulas and accuracy floors hold with or without a baseline)",
                file=sys.stderr,
            )
            return None
        return json.loads(out.read_text())


def median_run(runs: list[dict]) -> dict:
    """One run: per benchmark, the entry at the median of its first measured (non-exact) metric,
    timed metrics first; exact metrics must agree between the runs."""
    by_name = [{b["fullname"]: b for b in run["benchmarks"]} for run in runs]
    chosen = []
    for name, first in by_name[0].items():
        entries = [run[name] for run in by_name if name in run]
        gates = first.get("extra_info", {}).get("gates", {})
        exact = [m for m, spec in gates.items() if spec.get("direction") == "exact"]
        measured = sorted(
            (m for m in gates if m not in exact), key=lambda m: not gates[m].get("timed")
        )
        for metric in exact:
            values = {json.dumps(e["extra_info"].get(metric)) for e in entries}
            if len(values) > 1:
                raise ValueError(
                    f"{name}: {metric} differs between the runs ({values}); "
                    "were they made from the same code?"
                )
        if measured:
            entries.sort(key=lambda e: e["extra_info"][measured[0]])
        chosen.append(entries[(len(entries) - 1) // 2])
    return {**runs[-1], "benchmarks": chosen}


def main(argv: list[str]) -> int:
    storage = None
    if argv[:1] == ["--storage"]:  # another storage, e.g. a CI runner's own baseline
        if len(argv) < 2:
            print(
                "usage: baseline.py --storage DIR [--from-json RESULTS.json ...]", file=sys.stderr
            )
            return 2
        storage, argv = Path(argv[1]), argv[2:]
    if argv[:1] == ["--from-json"]:
        if len(argv) < 2:
            print("usage: baseline.py --from-json RESULTS.json [MORE.json ...]", file=sys.stderr)
            return 2
        hint = "give files written by `pytest benchmarks --benchmark-json=FILE`"
        try:
            new = median_run([load_run_file(f, hint) for f in argv[1:]])
        except (SchemaError, ValueError) as err:
            print(f"baseline not saved: {err}", file=sys.stderr)
            return 2
    else:
        # minutes of benchmarks must not end in a file that cannot be written
        device = _device_argument(argv)
        target = (storage or baseline_storage(device)) / get_machine_id() / BASELINE_NAME
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            check_writable(target)
        except (OSError, OutputError) as err:
            print(f"baseline not recorded: {err}", file=sys.stderr)
            return 2
        new = run_benchmarks(argv)
        if new is None:
            return 1
    device = new.get("machine_info", {}).get("device", "cpu")  # where the run was made
    target = (storage or baseline_storage(device)) / get_machine_id() / BASELINE_NAME
    old = json.loads(target.read_text()) if target.exists() else None
    merged = merge(old, new, existing_nodeids(device))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(target, json.dumps(merged, indent=1, sort_keys=True) + "\n")
    except (OSError, OutputError) as err:
        print(f"baseline not saved: {err}", file=sys.stderr)
        return 2
    shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
    print(
        f"baseline {shown}: {len(new['benchmarks'])} results recorded, "
        f"{len(merged['benchmarks'])} in all; review with `git diff --stat` and commit it"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
