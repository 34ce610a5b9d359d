"""Side-by-side latency of a study's models: the real round-robin timer on tiny models, and the
bookkeeping (cached, checked, retimed when damaged or when what is timed changes)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from fakes import run_row

from mnist_models.measure.record import RunRecord
from mnist_models.studies.latency import (
    calls_at,
    side_by_side_key,
    time_side_by_side,
    with_side_by_side_latency,
)
from mnist_models.studies.records import StudyRow
from mnist_models.studies.run_store import _cache_file


def test_every_entry_is_timed_once_per_round_and_summarised_by_the_median() -> None:
    timing = time_side_by_side(
        [("mlp-8", None, 1), ("mlp-16x2", "resize:14", 1), ("mlp-8", None, 32)],
        threads=1,
        rounds=3,
    )
    assert set(timing) == {"mlp-8@28 bs1", "mlp-16x2@resize:14 bs1", "mlp-8@28 bs32"}
    for t in timing.values():
        assert len(t["round_p50_us"]) == t["rounds"] == 3 and t["threads"] == 1
        assert t["p50_us"] == statistics.median(t["round_p50_us"]) > 0
        assert t["p50_us"] <= t["p90_us"] <= t["p99_us"]  # ordered in every round
        assert t["per_sample_us"] == t["p50_us"] / t["batch_size"]
        assert t["calls"] == calls_at(t["batch_size"])
    assert calls_at(1) == 100 and calls_at(64) == 31 and calls_at(4096) == 10


def _rows(batches: tuple[int, ...] = (64,), **fields) -> list[StudyRow]:
    return [
        StudyRow(
            RunRecord.from_dict(
                run_row(
                    model=f"mlp-{w}",
                    run_id=f"mlp-{w}@28",
                    threads=2,
                    batch_size=b,
                    latency_batched={"per_sample_us": 999.0},
                    latency_us_p50=1000.0 + w,
                    latency_us_p90=2000.0,
                    latency_us_p99=3000.0,
                    **fields,
                )
            ),
            series="MLP",
        )
        for w in (8, 16)
        for b in batches
    ]


def _fake_timer(calls: list):
    def timer(entries, *, threads, device="cpu", mode="eager"):
        calls.append(entries)
        return {
            f"{m}@{r} bs{b}": {
                "p50_us": 10.0 * i + threads,
                "p90_us": 20.0,
                "p99_us": 30.0,
                "per_sample_us": (10.0 * i + threads) / b,
                "round_p50_us": [10.0 * i + threads],
                "batch_size": b,
                "rounds": 1,
                "calls": 1,
                "threads": threads,
            }
            for i, (m, r, b) in enumerate(entries, start=1)
        }

    return timer


def test_the_side_by_side_figures_are_their_own_field(tmp_path: Path) -> None:
    calls: list = []
    rows = with_side_by_side_latency(_rows(), tmp_path, timer=_fake_timer(calls))
    assert calls == [[("mlp-8", "28", 1), ("mlp-16", "28", 1)]], "one batch size: batch 1 only"
    assert [r.batch1.p50_us for r in rows] == [12.0, 22.0]
    assert rows[1].batch1.threads == 2
    assert all(r.batched is None for r in rows), "batch 64 was not retimed"
    # what each run measured after its training is left as it was
    assert [r.record for r in rows] == [r.record for r in _rows()]
    # a table reports the side-by-side figures
    assert [r.table_row()["latency_us_p50"] for r in rows] == [12.0, 22.0]
    assert rows[0].table_row()["latency_batched"] == {"per_sample_us": 999.0}
    again = with_side_by_side_latency(_rows(), tmp_path, timer=_fake_timer(calls))
    assert len(calls) == 1, "a finished timing is read from the cache"
    assert again == rows


def test_where_batch_size_varies_each_batch_is_timed_too(tmp_path: Path) -> None:
    calls: list = []
    rows = with_side_by_side_latency(_rows((1, 16)), tmp_path, timer=_fake_timer(calls))
    assert sorted(calls[0]) == sorted(
        [("mlp-8", "28", 1), ("mlp-16", "28", 1), ("mlp-8", "28", 16), ("mlp-16", "28", 16)]
    )
    by = {(r.record.run_id, r.record.batch_size): r for r in rows}
    assert by[("mlp-8@28", 16)].batched.per_sample_us == 32.0 / 16
    assert by[("mlp-8@28", 16)].record.latency_batched == {"per_sample_us": 999.0}
    assert by[("mlp-8@28", 16)].table_row()["latency_batched"]["per_sample_us"] == 32.0 / 16
    assert by[("mlp-16@28", 1)].batched.per_sample_us == 22.0


def test_damaged_timing_is_reported_and_retimed(tmp_path: Path) -> None:
    calls: list = []
    with_side_by_side_latency(_rows(), tmp_path, timer=_fake_timer(calls))
    path = _cache_file(tmp_path, side_by_side_key(_rows()))
    path.write_text(path.read_text().replace('"p50_us": 12.0', '"p50_us": 1.0'))
    warnings: list[str] = []
    rows = with_side_by_side_latency(
        _rows(), tmp_path, timer=_fake_timer(calls), warn=warnings.append
    )
    assert len(calls) == 2 and rows[0].batch1.p50_us == 12.0
    assert len(warnings) == 1 and "checksum" in warnings[0]


def test_a_timing_cached_without_some_figures_is_retimed(tmp_path: Path) -> None:
    from mnist_models.studies.run_store import write_cached

    calls: list = []
    key = side_by_side_key(_rows())
    write_cached(tmp_path, key, {"mlp-8@28 bs1": {"p50_us": 1.0}, "mlp-16@28 bs1": {}})
    warnings: list[str] = []
    rows = with_side_by_side_latency(
        _rows(), tmp_path, timer=_fake_timer(calls), warn=warnings.append
    )
    assert len(calls) == 1 and rows[0].batch1.p50_us == 12.0
    assert len(warnings) == 1 and "lacks some of its figures" in warnings[0]


def test_another_set_of_models_is_timed_afresh(tmp_path: Path) -> None:
    calls: list = []
    with_side_by_side_latency(_rows(), tmp_path, timer=_fake_timer(calls))
    with_side_by_side_latency(_rows()[:1], tmp_path, timer=_fake_timer(calls))
    assert calls[1] == [("mlp-8", "28", 1)]
    assert side_by_side_key(_rows()) != side_by_side_key(_rows()[:1])


def test_seeds_sharing_one_timing_show_no_latency_spread(tmp_path: Path) -> None:
    from mnist_models.reporting.tables import study_table, summarise

    rows = [r for seed in (0, 1) for r in _rows(seed=seed, accuracy=0.9 + seed / 100)]
    timed = with_side_by_side_latency(rows, tmp_path, timer=_fake_timer([]))
    (entry, _) = summarise([r.table_row() for r in timed])
    assert entry["n"] == 2 and entry["latency_us_p50_std"] is None
    assert math.isclose(entry["accuracy_std"], 0.00707, rel_tol=1e-3)
    assert "12.0 |" in study_table([entry]) and "12.0 ±" not in study_table([entry])
