"""benchmarks/gate_quality.py's bookkeeping: the plain rule's needed threshold, the counts per
condition, and the README table it rewrites (the timing itself is what the script measures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.gate_quality import README_END, README_START, summarise, update_readme
from mnist_models.errors import ConfigError

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


def test_readme_table_is_replaced_between_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold\n{README_END}\noutro\n")
    update_readme(readme, "| new |")
    assert readme.read_text() == f"intro\n{README_START}\n| new |\n{README_END}\noutro\n"
    readme.write_text("no markers")
    with pytest.raises(ConfigError, match="no <!-- gate-quality:start -->"):
        update_readme(readme, "x")


def test_the_project_readme_has_the_markers() -> None:
    text = (ROOT / "README.md").read_text()
    assert text.index(README_START) < text.index(README_END)
