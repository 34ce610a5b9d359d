"""Gate declarations as records: written with Metric.to_dict, read back with Metric.from_dict
(the one reader, rules.gated_metrics); the committed baselines and older declarations load."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from fakes import run_row

from mnist_models.gates.record import GateRecord
from mnist_models.gates.rules import Direction, Metric, gated_metrics, lower
from mnist_models.measure.record import RunRecord
from mnist_models.verdicts import FAILING, Verdict

BASELINES = sorted((Path(__file__).resolve().parents[1] / "benchmarks/baselines").rglob("*.json"))


def test_a_declaration_round_trips_as_plain_json() -> None:
    metric = lower("instructions", rel_tol=0.003, key="instructions", two_sided=True)
    stored = json.loads(json.dumps(metric.to_dict()))
    assert stored["direction"] == "lower" and type(stored["direction"]) is str
    assert Metric.from_dict(stored) == metric
    assert Metric.from_dict(stored).direction is Direction.LOWER


def test_older_and_newer_declarations_load() -> None:
    older = {"name": "accuracy", "direction": "higher", "unit": "%", "abs_tol": 0.013}
    assert Metric.from_dict(older).two_sided is False  # fields added later take defaults
    newer = {**older, "a_field_from_a_later_version": 1}
    assert Metric.from_dict(newer) == Metric.from_dict(older)
    with pytest.raises(ValueError, match="direction must be exact, higher or lower"):
        Metric.from_dict({"name": "x", "direction": "sideways"})
    with pytest.raises(TypeError):
        Metric.from_dict(["not", "a", "declaration"])


@pytest.mark.parametrize("path", BASELINES, ids=lambda p: p.parent.name)
def test_every_committed_declaration_loads_and_writes_back_unchanged(path: Path) -> None:
    run = json.loads(path.read_text())
    checked = 0
    for bench in run["benchmarks"]:
        extra = bench.get("extra_info") or {}
        for name, metric in gated_metrics(extra).items():
            assert metric.to_dict() == {**metric.to_dict(), **extra["gates"][name]}, name
            checked += 1
    assert checked > 0


def test_a_run_record_round_trips_and_older_rows_load() -> None:
    from mnist_models.measure.record import RunRecord

    older = run_row()  # from before the device axis: no device, device_info, mode, setup_s
    record = RunRecord.from_dict(older)
    assert record.device == "cpu" and record.mode == "eager"
    assert RunRecord.from_dict(record.to_dict()) == record
    newer = {**older, "a_later_field": [1, 2]}
    assert RunRecord.from_dict(newer).to_dict()["a_later_field"] == [1, 2]  # kept, not lost
    with pytest.raises(ValueError, match="a run record needs accuracy"):
        RunRecord.from_dict({k: v for k, v in older.items() if k != "accuracy"})


def test_one_verdict_vocabulary_and_the_older_words_still_load() -> None:
    assert Verdict("WORSE") is Verdict("slower") is Verdict("SLOWER") is Verdict.FAIL
    assert Verdict("faster") is Verdict.BETTER
    assert FAILING == {Verdict.FAIL, Verdict.MISSING}
    assert str(Verdict.WORSE_ALLOWED) == "worse (allowed)"
    with pytest.raises(ValueError):
        Verdict("worse")


def test_a_gate_record_round_trips_and_older_gate_reports_load() -> None:
    metric = lower("latency_cpu_rel", rel_tol=1.0, unit="x ref", timed=True)
    record = GateRecord("b.py::t[x]", metric, 2.5, 1.0, Verdict.FAIL, "re-measured", "latency")
    entry = json.loads(json.dumps(record.to_dict()))
    assert entry["status"] == "FAIL" and entry["allowed"] == record.metric.allowed_text(1.0)
    assert GateRecord.from_dict(entry) == record
    # a report of an earlier version: no rule, no note (this one from a CUDA run)
    old = {
        "nodeid": "benchmarks/bench_training.py::test_training[lenet5@28-bs64-e2]",
        "metric": "accuracy", "direction": "higher", "baseline": 0.9849, "now": 0.9841,
        "status": "ok", "allowed": ">= 98.00%",
    }  # fmt: skip
    back = GateRecord.from_dict(old)
    assert (back.metric.name, back.metric.direction, back.status) == ("accuracy", "higher", "ok")
    assert (back.now, back.baseline, back.note) == (0.9841, 0.9849, "")


def test_a_study_row_round_trips_and_rows_without_side_by_side_latency_load() -> None:
    from mnist_models.studies.records import LatencyRecord, StudyRow

    older = {**run_row(), "key": "mlp-16@28|bs64", "series": "MLP"}  # no study_latency yet
    row = StudyRow.from_dict(older)
    assert row.batch1 is None and row.key == "mlp-16@28|bs64" and row.record.accuracy == 0.9
    assert row.table_row()["latency_us_p50"] == 10.0 and "latency_shared" not in row.table_row()
    timed = LatencyRecord(7.0, 8.0, 9.0, 7.0, 1, 5, 100, 1, [7.0] * 5)
    again = StudyRow.from_dict(json.loads(json.dumps(replace(row, batch1=timed).to_dict())))
    assert again == replace(row, batch1=timed)
    assert again.table_row()["latency_us_p50"] == 7.0 and again.record.latency_us_p50 == 10.0


@pytest.mark.parametrize(
    "field, value",
    [("accuracy", "0.9"), ("params", 1.5), ("threads", True), ("history", {}), ("model", 3),
     ("train_seconds", float("nan"))],
)  # fmt: skip
def test_a_run_record_refuses_a_field_of_the_wrong_type(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"a run record's {field} must be"):
        RunRecord.from_dict({**run_row(), field: value})
