"""The one baseline writer (gates/store.record): locked, validated, atomic."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from mnist_models.fields import FORMAT
from mnist_models.gates import store
from mnist_models.gates.rules import exact, lower
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
    assert (done.recorded, done.total) == (1, 1) and data["mnist_bench"] == {"format": FORMAT}
    (entry,) = data["benchmarks"]
    assert entry["extra_info"]["params"] == 2 and "data" not in entry["stats"]


AMD = {"cpu": {}, "cpu_model": "AMD EPYC", "cpu_count": 2, "system": "Linux"}
INTEL = {**AMD, "cpu_model": "Intel(R) Xeon(R) Processor"}


def run_on(machine: dict, metric, *names: str) -> dict:
    return {
        "machine_info": machine,
        "benchmarks": [
            {"fullname": n, "stats": {"median": 1.0},
             "extra_info": {metric.name: 1, "gates": {metric.name: metric.to_dict()}}}
            for n in names
        ],
    }  # fmt: skip


COUNT = exact("instructions", key="instructions")
TIME = lower("latency_cpu_rel", rel_tol=1.0, timed=True)


def test_counts_from_another_machine_keep_the_baselines_machine(tmp_path: Path) -> None:
    target = tmp_path / store.BASELINE_NAME
    store.record(target, [run_on(AMD, TIME, "t::latency")])
    store.record(target, [run_on(INTEL, COUNT, "t::instructions")])
    data = json.loads(target.read_text())
    assert data["machine_info"]["cpu_model"] == "AMD EPYC"  # the latency entry is still AMD's
    assert [b["fullname"] for b in data["benchmarks"]] == ["t::instructions", "t::latency"]


def test_times_from_another_machine_beside_the_old_ones_are_refused(tmp_path: Path) -> None:
    target = tmp_path / store.BASELINE_NAME
    store.record(target, [run_on(AMD, TIME, "t::a", "t::b")])
    before = target.read_text()
    with pytest.raises(
        SchemaError,
        match=r"recorded on AMD EPYC x2 and this run on Intel.*"
        r"t::a: latency_cpu_rel.*t::b.*`make baseline`",
    ):
        store.record(target, [run_on(INTEL, TIME, "t::a")])
    assert target.read_text() == before
    # every machine-bound entry recorded again: the file moves to the new machine as a whole
    store.record(target, [run_on(INTEL, TIME, "t::a", "t::b")])
    assert json.loads(target.read_text())["machine_info"]["cpu_model"].startswith("Intel")


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
