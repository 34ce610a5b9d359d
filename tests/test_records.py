"""Gate declarations as records: written with Metric.to_dict, read back with Metric.from_dict
(the one reader, rules.gated_metrics); the committed baselines and older declarations load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mnist_models.gates.rules import Direction, Metric, gated_metrics, lower

BASELINES = sorted((Path(__file__).resolve().parents[1] / "benchmarks/baselines").rglob("*.json"))


def test_a_declaration_round_trips_as_plain_json() -> None:
    metric = lower("instructions", rel_tol=0.003, scope="instructions", two_sided=True)
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
