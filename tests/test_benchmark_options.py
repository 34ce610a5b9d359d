"""pytest-benchmark's own options on the real suite, as its users type them: each does what its
help says, or the run says plainly why not. One counts benchmark per run (a few seconds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SELECT = ["benchmarks", "-m", "gate and counts", "-k", "mlp-32 and 28", "-p", "no:cacheprovider"]


def suite(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *SELECT, "--benchmark-compare", *args],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.slow
def test_histogram_is_drawn(tmp_path: Path) -> None:
    done = suite(f"--benchmark-histogram={tmp_path / 'h'}")
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "h-counts.svg").is_file(), done.stdout[-3000:]


@pytest.mark.slow
def test_skip_leaves_every_gated_figure_not_measured_with_the_reason() -> None:
    done = suite("--benchmark-skip")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "5 metrics: 0 ok, 0 failed, 0 without baseline, 0 not applied, 5 not measured" in (
        done.stdout
    )
    assert "--benchmark-skip active" in done.stdout


@pytest.mark.slow
def test_disable_still_judges_the_deterministic_figures() -> None:
    done = suite("--benchmark-disable")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "5 metrics: 5 ok" in done.stdout


@pytest.mark.slow
def test_compare_fail_leaves_out_a_lane_whose_timing_is_no_figure() -> None:
    done = suite("--benchmark-compare-fail=mean:1%")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "--benchmark-compare-fail: 0 benchmarks judged, 0 failed" in done.stdout
    assert "not judged: 1 benchmarks (its timed call is a counting pass, not a figure)" in (
        done.stdout
    )
    assert "Traceback" not in done.stdout + done.stderr
