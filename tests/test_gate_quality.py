"""benchmarks/gate_quality.py's bookkeeping: the plain rule's needed threshold, the counts per
condition, and the docs tables it writes (the timing itself is what the script measures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.gate_quality import TABLE_FILE, TRAINING_TABLE_FILE, summarise, write_table

ROOT = Path(__file__).parents[1]


def _row(p50: float, plain: float, failed: bool) -> dict:
    return {"p50": [p50, p50 - 0.01, p50 + 0.01], "plain_ratio": plain, "failed": failed}


def test_summary_counts_and_the_plain_threshold_that_avoids_false_alarms() -> None:
    conditions = {
        "unchanged, idle": {
            "fraction": 0.0,
            "rows": [_row(1.0, 1.03, False), _row(1.01, 0.9, False)],
        },
        "unchanged, one core busy": {"fraction": 0.0, "rows": [_row(0.99, 1.124, True)]},
        "+20% work": {"fraction": 0.2, "rows": [_row(1.2, 1.3, True), _row(1.19, 1.1, True)]},
    }
    summary = summarise(conditions)
    json.dumps(summary)  # numpy scalars must not reach the JSON writer
    assert summary["plain_threshold_needed"] == pytest.approx(0.13)  # above the worst 12.4%
    rows = summary["conditions"]
    assert rows["unchanged, one core busy"]["ab_failed"] == 1
    assert rows["unchanged, idle"]["plain_failed_at_needed"] == 0
    assert rows["unchanged, idle"]["plain_failed_at_5pct"] == 0
    assert rows["unchanged, one core busy"]["plain_failed_at_5pct"] == 1
    assert rows["+20% work"]["ab_failed"] == 2 and rows["+20% work"]["plain_failed_at_needed"] == 1
    assert rows["+20% work"]["ab_median_change"] == pytest.approx(0.195)


def test_tables_are_whole_files_the_readme_links(tmp_path: Path) -> None:
    path = write_table(tmp_path, TABLE_FILE, "The gate, measured", "| new |")
    assert path.read_text().endswith("# The gate, measured\n\n| new |\n")
    assert path.read_text().startswith("<!-- Written by `python -m benchmarks.gate_quality")
    write_table(tmp_path, TABLE_FILE, "The gate, measured", "| newer |")
    assert "| new |" not in path.read_text()  # replaced whole, never edited in place


def test_the_docs_hold_the_generated_tables_and_are_linked() -> None:
    for name in (TABLE_FILE, TRAINING_TABLE_FILE):
        text = (ROOT / "docs" / name).read_text()
        assert (
            text.startswith("<!-- Written by `python -m benchmarks.gate_quality")
            and "|---|" in text
        )
    assert "gate-quality:start" not in (ROOT / "README.md").read_text()
    assert "gate-quality.md" in (ROOT / "docs" / "ab-compare.md").read_text()


def test_timing_noise_uses_the_tools_one_percentile_convention() -> None:
    """p5/p95 of the run-to-run ratios by linear interpolation (measure/timing.py), like every
    other percentile here: of the ratios 0.9, 1.1, 1.2 the 5th percentile is 0.92."""
    from benchmarks.timing_noise import noise_table
    from mnist_models.suite.bench_inference import LATENCY

    def run(value: float) -> dict:
        extra = {"latency_cpu_rel": value, "gates": {"latency_cpu_rel": LATENCY.to_dict()}}
        return {"benchmarks": [{"fullname": "test_latency[x]", "extra_info": extra}]}

    table = noise_table([run(1.0), run(1.1), run(0.9), run(1.2)])["latency_cpu_rel"]
    assert table["pairs"] == 3
    assert table["p5_ratio"] == pytest.approx(0.92) and table["p95_ratio"] == pytest.approx(1.19)
