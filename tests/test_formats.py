"""File formats: every file the tool writes carries its version, older versions are read as
the current one (gates/formats.py), newer ones are refused, and the committed baselines'
migration leaves every gated value as it was."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_models import fields
from mnist_models.gates import formats, store
from mnist_models.gates.rules import exact, lower
from mnist_models.gates.schema import SchemaError

REPO = Path(__file__).resolve().parents[1]


def old_run(fmt: int | None) -> dict:
    """A run as format `fmt` wrote it: a count entry and an instruction entry whose stats are
    the time of a lookup (0.3 us), not its count."""
    count = lower("instructions", rel_tol=0.01, key="instructions").to_dict()
    run = {
        "machine_info": {"cpu": {}},
        "benchmarks": [
            {"fullname": "b.py::test_params", "group": "counts", "stats": {"median": 0.5},
             "extra_info": {"params": 7, "gates": {"params": exact("params").to_dict()}}},
            {"fullname": "b.py::test_instructions", "group": "instructions",
             "stats": {"median": 3e-7, "min": 3e-7}, "options": {"timer": "perf_counter"},
             "extra_info": {"instructions": 260_000.0, "instruction_key": "k",
                            "gates": {"instructions": count}}},
        ],
    }  # fmt: skip
    if fmt is not None:
        run["mnist_bench"] = {"format": fmt}
    return run


@pytest.mark.parametrize("fmt", [None, 0, 1])
def test_an_older_run_reads_as_the_current_format_with_its_gated_values(
    tmp_path: Path, fmt: int | None
) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(old_run(fmt)))
    data = store.load_run_file(path)
    assert data["mnist_bench"]["format"] == fields.FORMAT
    counts, instructions = data["benchmarks"]
    assert counts == old_run(fmt)["benchmarks"][0]  # nothing else changes
    assert instructions["extra_info"] == old_run(fmt)["benchmarks"][1]["extra_info"]
    assert instructions["stats"]["median"] == instructions["stats"]["min"] == 260_000.0
    assert instructions["options"]["timer"] == formats.COUNTED_TIMER


@pytest.mark.parametrize(
    "fmt, message",
    [
        (fields.FORMAT + 1, "newer mnist-bench"),
        (-1, "whole number >= 0"),
        ("2", "whole number >= 0"),
        (True, "whole number >= 0"),
    ],
)
def test_a_newer_or_malformed_format_is_refused_with_the_fix(
    tmp_path: Path, fmt: object, message: str
) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({**old_run(None), "mnist_bench": {"format": fmt}}))
    with pytest.raises(SchemaError, match=message) as err:
        store.load_run_file(path)
    assert str(path) in str(err.value)


def test_migrating_a_baseline_keeps_every_gated_value_and_runs_once(tmp_path: Path) -> None:
    path = tmp_path / store.BASELINE_NAME
    path.write_text(json.dumps(old_run(1)))
    done = store.migrate(path)
    assert (done.before, done.entries, done.gated) == (1, 2, 2)
    data = json.loads(path.read_text())
    assert data["mnist_bench"]["format"] == fields.FORMAT
    for then, now in zip(old_run(1)["benchmarks"], data["benchmarks"], strict=True):
        assert then["extra_info"] == now["extra_info"]
    text = path.read_text()
    assert store.migrate(path).before == fields.FORMAT and path.read_text() == text


def test_the_migration_script_leaves_the_committed_baselines_as_they_are(tmp_path: Path) -> None:
    """The committed files are at the current format already: the script says so and writes
    nothing (run on copies, so a failure cannot touch the repository)."""
    copies = []
    for path in sorted((REPO / "benchmarks" / "baselines").rglob("*.json")):
        copy = tmp_path / path.parent.name / path.name
        copy.parent.mkdir(exist_ok=True)
        shutil.copy(path, copy)
        copies.append(copy)
    before = [c.read_bytes() for c in copies]
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "migrate_baselines.py"), *map(str, copies)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("already current") == len(copies) >= 2
    assert [c.read_bytes() for c in copies] == before


def test_every_json_file_the_tool_writes_carries_its_format(tmp_path: Path) -> None:
    from mnist_models.reporting.history import append, load
    from mnist_models.studies.run_store import _cache_file, read_cached, write_cached

    write_cached(tmp_path / "runs", "k|v1", {"a": 1})
    entry = json.loads(_cache_file(tmp_path / "runs", "k|v1").read_text())
    assert entry["format"] == fields.FORMAT and read_cached(tmp_path / "runs", "k|v1")[0]
    # a run store entry from a newer version is recomputed, not read
    entry["format"] = fields.FORMAT + 1
    _cache_file(tmp_path / "runs", "k|v1").write_text(json.dumps(entry))
    row, problem = read_cached(tmp_path / "runs", "k|v1")
    assert row is None and "newer" in problem

    history = tmp_path / "history.jsonl"
    run = store.load_run_file(_written(tmp_path, old_run(1)))
    assert append(history, run, "abc1234", "2026-12-01T00:00:00+00:00") == 2
    points = [json.loads(line) for line in history.read_text().splitlines()]
    assert {p["format"] for p in points} == {fields.FORMAT}
    history.write_text(json.dumps({**points[0], "format": fields.FORMAT + 1}) + "\n")
    with pytest.raises(SchemaError, match="newer mnist-bench"):
        load(history)


def _written(folder: Path, data: dict) -> Path:
    path = folder / "written.json"
    path.write_text(json.dumps(data))
    return path


def test_compare_json_of_a_newer_format_is_refused(tmp_path: Path) -> None:
    path = _written(tmp_path, {"format": fields.FORMAT + 1, "results": []})
    with pytest.raises(SchemaError, match="newer mnist-bench"):
        store.load_ab_file(path)
    assert store.load_ab_file(_written(tmp_path, {"results": []}))["results"] == []
