"""Side-by-side latency of a study's models: the real round-robin timer on tiny models, and the
bookkeeping (cached, checked, retimed when damaged or when the set of models changes)."""

from __future__ import annotations

import statistics
from pathlib import Path

from mnist_models.studies import _cache_file
from mnist_models.study_latency import (
    side_by_side_key,
    time_side_by_side,
    with_side_by_side_latency,
)


def test_every_model_is_timed_once_per_round_and_summarised_by_the_median() -> None:
    timing = time_side_by_side([("mlp-8", None), ("mlp-16x2", "resize:14")], threads=1, rounds=3)
    assert set(timing) == {"mlp-8@28", "mlp-16x2@resize:14"}
    for t in timing.values():
        assert len(t["round_p50_us"]) == t["rounds"] == 3 and t["threads"] == 1
        assert t["p50_us"] == statistics.median(t["round_p50_us"]) > 0
        assert t["p50_us"] <= t["p90_us"] <= t["p99_us"]  # ordered in every round


def _rows() -> list[dict]:
    return [
        {"run_id": f"mlp-{w}@28", "model": f"mlp-{w}", "resolution": "28", "threads": 2,
         "latency_us_p50": 1000.0 + w, "latency_us_p90": 2000.0, "latency_us_p99": 3000.0}
        for w in (8, 16)
    ]  # fmt: skip


def _fake_timer(calls: list[list[tuple[str, str]]]):
    def timer(models, *, threads):
        calls.append(models)
        return {
            f"{m}@{r}": {
                "p50_us": 10.0 * i + threads,
                "p90_us": 20.0,
                "p99_us": 30.0,
                "round_p50_us": [10.0 * i + threads],
                "rounds": 1,
                "calls": 1,
                "threads": threads,
            }
            for i, (m, r) in enumerate(models, start=1)
        }

    return timer


def test_rows_take_the_side_by_side_figures_and_keep_their_own(tmp_path: Path) -> None:
    calls: list = []
    rows = with_side_by_side_latency(_rows(), tmp_path, timer=_fake_timer(calls))
    assert calls == [[("mlp-8", "28"), ("mlp-16", "28")]]
    assert [r["latency_us_p50"] for r in rows] == [12.0, 22.0]
    assert rows[0]["latency_after_training_us"] == {"p50": 1008.0, "p90": 2000.0, "p99": 3000.0}
    assert rows[1]["latency_side_by_side"]["threads"] == 2
    again = with_side_by_side_latency(_rows(), tmp_path, timer=_fake_timer(calls))
    assert len(calls) == 1, "a finished timing is read from the cache"
    assert again == rows


def test_damaged_timing_is_reported_and_retimed(tmp_path: Path) -> None:
    calls: list = []
    with_side_by_side_latency(_rows(), tmp_path, timer=_fake_timer(calls))
    path = _cache_file(tmp_path, side_by_side_key(_rows()))
    path.write_text(path.read_text().replace('"p50_us": 12.0', '"p50_us": 1.0'))
    warnings: list[str] = []
    rows = with_side_by_side_latency(
        _rows(), tmp_path, timer=_fake_timer(calls), warn=warnings.append
    )
    assert len(calls) == 2 and rows[0]["latency_us_p50"] == 12.0
    assert len(warnings) == 1 and "checksum" in warnings[0]


def test_another_set_of_models_is_timed_afresh(tmp_path: Path) -> None:
    calls: list = []
    with_side_by_side_latency(_rows(), tmp_path, timer=_fake_timer(calls))
    with_side_by_side_latency(_rows()[:1], tmp_path, timer=_fake_timer(calls))
    assert calls[1] == [("mlp-8", "28")]
    assert side_by_side_key(_rows()) != side_by_side_key(_rows()[:1])
