"""Runs of the real benchmark suite in subprocesses for the lane proofs (test_lanes.py,
test_user_model_gates.py): a baseline recorded from unchanged code, then every job compared
against it, two at a time (each run with instruction counts keeps one valgrind worker busy)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pytest_benchmark.utils import get_machine_id

Run = Callable[[Any, str], subprocess.CompletedProcess]


def record_then_compare(
    storage: Path, run: Run, unchanged: Any, jobs: dict[str, Any]
) -> tuple[Path, dict[str, subprocess.CompletedProcess]]:
    """`run(unchanged, "--benchmark-json=BASELINE")` records the baseline into storage (this
    machine's folder; `run` passes storage to pytest itself); then `run(job,
    "--benchmark-compare")` for every job. (the baseline file, {job name: its result})."""
    target = storage / get_machine_id() / "0001_base.json"
    target.parent.mkdir(parents=True)
    recorded = run(unchanged, f"--benchmark-json={target}")
    assert recorded.returncode == 0, recorded.stdout[-4000:] + recorded.stderr[-2000:]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run, job, "--benchmark-compare") for name, job in jobs.items()}
        return target, {name: future.result() for name, future in futures.items()}
