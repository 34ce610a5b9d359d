"""The one baseline writer (gates/store.record): locked, validated, atomic."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from mnist_models.gates import store
from mnist_models.gates.rules import exact
from mnist_models.gates.schema import SchemaError


def run_of(*names: str, params: int = 1) -> dict:
    gate = {"params": exact("params").to_dict()}
    return {
        "machine_info": {"cpu": {}},
        "benchmarks": [
            {"fullname": n, "stats": {"median": 1.0, "data": [1.0]},
             "extra_info": {"params": params, "gates": gate}}
            for n in names
        ],
    }  # fmt: skip


def test_two_writers_at_once_lose_no_update(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "m" / store.BASELINE_NAME
    store.record(target, [run_of("t::base")])
    merge = store.merge

    def slow_merge(*args, **kwargs):  # both writers read the file before either writes
        time.sleep(0.3)
        return merge(*args, **kwargs)

    monkeypatch.setattr(store, "merge", slow_merge)
    writers = [
        threading.Thread(target=store.record, args=(target, [run_of(name)]))
        for name in ("t::a", "t::b")
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    names = [b["fullname"] for b in json.loads(target.read_text())["benchmarks"]]
    assert names == ["t::a", "t::b", "t::base"]


def test_a_record_keeps_statistics_drops_samples_and_stale_entries(tmp_path: Path) -> None:
    target = tmp_path / store.BASELINE_NAME
    store.record(target, [run_of("m.py::x", "m.py::gone")])
    done = store.record(target, [run_of("m.py::x", params=2)], lambda n: n.endswith("gone"))
    data = json.loads(target.read_text())
    assert (done.recorded, done.total) == (1, 1) and data["mnist_bench"] == {"format": 1}
    (entry,) = data["benchmarks"]
    assert entry["extra_info"]["params"] == 2 and "data" not in entry["stats"]


def test_an_unsound_existing_baseline_is_refused_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / store.BASELINE_NAME
    target.write_text('{"benchmarks": [')  # truncated
    with pytest.raises(SchemaError, match="is not valid JSON"):
        store.record(target, [run_of("t::a")])
    assert target.read_text() == '{"benchmarks": ['


def test_the_median_run_refuses_runs_whose_exact_figures_differ() -> None:
    with pytest.raises(SchemaError, match="params differs between the runs"):
        store.median_run([run_of("t::a", params=1), run_of("t::a", params=2)])


@pytest.mark.parametrize(
    "compare, expected",
    [(True, "M/0002_b.json"), ("0001", "M/0001_a.json"), ("M/0001", "M/0001_a.json"),
     ("Other/0001", "Other/0001_c.json"), ("nothing", None)],
)  # fmt: skip
def test_find_baseline_reads_compare_as_pytest_benchmark_does(
    tmp_path: Path, compare: str | bool, expected: str | None
) -> None:
    for name in ("M/0001_a.json", "M/0002_b.json", "Other/0001_c.json"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("{}")
    found = store.find_baseline(tmp_path, "M", compare)
    assert (found.relative_to(tmp_path).as_posix() if found else None) == expected
