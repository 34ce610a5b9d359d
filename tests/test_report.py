"""`mnist-models report`: rows from the suite's saved runs, and two runs compared metric by
metric with each metric's own gate (exit status 1 when one got worse beyond it)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from mnist_models.errors import MnistBenchError
from mnist_models.gates.engine import compare_runs
from mnist_models.reporting.run_rows import load_run, rows_from_run

BASELINE = (
    Path(__file__).parents[1] / "benchmarks/baselines/Linux-CPython-3.11-64bit/0001_baseline.json"
)

CUDA_BASELINE = BASELINE.parents[1] / "cuda/Linux-CPython-3.12-64bit/0001_baseline.json"


@pytest.fixture(scope="module")
def run() -> dict:
    return load_run(BASELINE)


def _find(run: dict, fragment: str) -> dict:
    return next(b for b in run["benchmarks"] if fragment in b["fullname"])


def test_rows_join_training_counts_and_latency(run: dict) -> None:
    rows = rows_from_run(run)
    lenet = next(r for r in rows if r["run_id"] == "lenet5@28" and r.get("accuracy"))
    counts = _find(run, "test_counts[lenet5@28]")["extra_info"]
    latency = _find(run, "test_latency[lenet5@28-bs1]")["extra_info"]
    assert lenet["params"] == counts["params"] == 44_426
    assert lenet["size_bytes"] == counts["size_bytes"]
    assert lenet["latency_us_p50"] == latency["latency_us_p50"]
    assert lenet["epochs"] == 2 and lenet["batch_size"] == 64
    assert 0.9 < lenet["accuracy"] <= 1
    trained = [r for r in rows if r.get("accuracy") is not None]
    assert len(trained) == 5  # the gate tier's representative set
    assert len({r["run_id"] for r in rows}) == 75  # every config of the grid has a row


def test_rows_of_the_cuda_baseline_use_eager_latency_and_the_gated_epoch_time() -> None:
    run = load_run(CUDA_BASELINE)
    rows = {r["run_id"]: r for r in rows_from_run(run) if r.get("accuracy") is not None}
    eager = _find(run, "test_latency[lenet5@28-bs1]")["extra_info"]
    graph = _find(run, "test_latency[lenet5@28-bs1-cuda-graph]")["extra_info"]
    assert eager["latency_us_p50"] != graph["latency_us_p50"]
    lenet = rows["lenet5@28"]
    assert lenet["latency_us_p50"] == eager["latency_us_p50"]  # not another mode's figure
    assert lenet["gpu_ops_per_call"] == eager["gpu_ops_per_call"] >= 1
    assert lenet["epoch_seconds"] == _find(run, "test_training[lenet5@28")["extra_info"]["epoch_s"]
    assert len(rows) == 5


def test_unchanged_run_compares_same(run: dict) -> None:
    changes, info = compare_runs(run, run)
    assert changes and all(c.verdict == "same" for c in changes)
    assert info["same_machine"] and not info["only_in_new"]


def test_each_direction_is_judged_by_its_gate(run: dict) -> None:
    new = copy.deepcopy(run)
    _find(new, "test_counts[lenet5@28]")["extra_info"]["params"] += 1  # exact: any change
    acc = _find(new, "test_seeded_training[lenet5@28")["extra_info"]
    acc["accuracy"] -= 0.003  # within the 1.3 pp seed-spread tolerance, above the 98% floor
    lat = _find(new, "test_latency[mlp-1024@28-bs1]")["extra_info"]
    lat["latency_cpu_rel"] *= 0.5  # faster
    changes, _ = compare_runs(run, new)
    verdicts = {(c.nodeid.split("::")[-1], c.metric.name): c.verdict for c in changes}
    assert verdicts[("test_counts[lenet5@28]", "params")] == "FAIL"
    # the same pinned key (whatever the CPU model): seeded training repeats exactly, so any
    # drop is beyond the gate
    assert verdicts[("test_seeded_training[lenet5@28-bs64-e2]", "accuracy")] == "FAIL"
    assert verdicts[("test_latency[mlp-1024@28-bs1]", "latency_cpu_rel")] == "better"
    # another torch version: the seed-spread tolerance applies instead
    new["machine_info"]["torch"] = "9.9.9"
    for bench in new["benchmarks"]:  # a fresh run's entries take their key facts from its machine
        bench["extra_info"].pop("key_facts", None)
    changes, _ = compare_runs(run, new)
    verdicts = {(c.nodeid.split("::")[-1], c.metric.name): c.verdict for c in changes}
    assert verdicts[("test_seeded_training[lenet5@28-bs64-e2]", "accuracy")] == "worse (allowed)"


def test_cli_compare_exits_1_on_a_gated_regression(cli, run: dict, tmp_path: Path) -> None:
    new = copy.deepcopy(run)
    _find(new, "test_training[lenet5@28")["extra_info"]["accuracy"] = 0.5
    path = tmp_path / "new.json"
    path.write_text(json.dumps(new))
    out_dir = tmp_path / "report"
    code, out, _ = cli("report", str(path), "--against", str(BASELINE), "--out", str(out_dir))
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith("test_training[lenet5@28"))
    assert "50.00%" in line and line.endswith("FAIL")
    assert "1 worse beyond their gate" in out
    assert (out_dir / "comparison.txt").exists() and (out_dir / "index.md").exists()
    code, out, _ = cli("report", str(BASELINE), "--against", str(BASELINE))
    assert code == 0 and "0 worse beyond their gate" in out


def test_time_metrics_across_machines_are_not_applied(run: dict) -> None:
    other = copy.deepcopy(run)
    other["machine_info"]["cpu_model"] = "Some Other CPU"
    _find(other, "test_latency[mlp-1024@28-bs1]")["extra_info"]["latency_cpu_rel"] *= 5
    changes, info = compare_runs(run, other)
    assert not info["same_machine"]
    timed = [c for c in changes if c.metric.timed]
    assert timed and all(c.verdict == "not applied" for c in timed)


def test_report_without_comparison_prints_the_table(cli) -> None:
    code, out, _ = cli("report", str(BASELINE))
    assert code == 0
    header = out.splitlines()[0]
    assert "accuracy (%)" in header and "latency p50, batch 1 (us)" in header
    assert "| lenet5@28 bs64 |" in out or "| lenet5@28 |" in out


GATED = '"gates": {"accuracy": {"name": "accuracy", "direction": "higher"}}'


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("{", "is not valid JSON"),
        ('{"benchmarks": 3}', "'benchmarks' must be a list"),
        ('{"benchmarks": []}', "'benchmarks' is empty"),
        ('{"benchmarks": [{"name": "x"}]}', "'fullname' must be a non-empty string"),
        ('{"benchmarks": [{"fullname": "t", "stats": "x"}]}', "t: 'stats' must be an object"),
        ('{"machine_info": [], "benchmarks": []}', "'benchmarks' is empty"),
        ('{"machine_info": [1], "benchmarks": [{"fullname": "t", "stats": {}}]}', "machine_info"),
        (
            '{"benchmarks": [{"fullname": "t", "stats": {}, "extra_info": {"accuracy": 1e999, '
            + GATED
            + "}}]}",
            "extra_info.accuracy must be a finite number, got float inf",
        ),
        (
            '{"benchmarks": [{"fullname": "t", "stats": {}, "extra_info": {"accuracy": "0.9", '
            + GATED
            + "}}]}",
            "extra_info.accuracy must be a finite number, got str",
        ),
        ('{"benchmarks": [{"fullname": "t", "stats": {"median": Infinity}}]}', "Infinity"),
    ],
)
def test_bad_run_files_are_one_line(cli, tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(MnistBenchError, match=message):
        load_run(path)
    for argv in (["report", str(path)], ["report", str(BASELINE), "--against", str(path)]):
        code, out, err = cli(*argv)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def _write(tmp_path: Path, name: str, data: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_gates_come_from_the_baseline_not_the_new_run(cli, run: dict, tmp_path: Path) -> None:
    new = copy.deepcopy(run)
    bench = _find(new, "test_training[lenet5@28")
    bench["extra_info"]["accuracy"] -= 0.10  # ten points worse
    bench["extra_info"].pop("gates")  # and the new run declares no gate at all
    code, out, _ = cli("report", _write(tmp_path, "new.json", new), "--against", str(BASELINE))
    assert code == 1 and "accuracy" in out and "FAIL" in out


def test_a_metric_the_baseline_gates_is_missing_fails(cli, run: dict, tmp_path: Path) -> None:
    new = copy.deepcopy(run)
    extra = _find(new, "test_counts[lenet5@28]")["extra_info"]
    extra.pop("params")
    extra["gates"].pop("params")
    code, out, _ = cli("report", _write(tmp_path, "new.json", new), "--against", str(BASELINE))
    assert code == 1 and "MISSING" in out and "1 missing from the new run" in out


def test_comparing_nothing_is_an_error(cli, run: dict, tmp_path: Path) -> None:
    other = {
        "machine_info": {},
        "benchmarks": [{"fullname": "benchmarks/x.py::test_other", "stats": {}}],
    }
    code, _, err = cli("report", _write(tmp_path, "other.json", other), "--against", str(BASELINE))
    assert code == 2 and "nothing to compare" in err


def test_benchmarks_that_vanished_from_what_the_run_selected_are_missing(run: dict) -> None:
    new = copy.deepcopy(run)
    kept = new["benchmarks"][:1]
    new["benchmarks"] = kept
    # a run of the plugin records what it selected: everything it selected must be there
    new["mnist_bench"] = {"format": 1, "selected": [b["fullname"] for b in run["benchmarks"]]}
    changes, info = compare_runs(run, new)
    missing = {c.nodeid for c in changes if c.verdict == "MISSING"}
    assert len(missing) == len(run["benchmarks"]) - 1 and not info["only_in_baseline"]
    # a run that selected only what it kept: the rest was left out, not lost
    new["mnist_bench"]["selected"] = [kept[0]["fullname"]]
    changes, info = compare_runs(run, new)
    assert not any(c.failed for c in changes)
    assert len(info["only_in_baseline"]) == len(run["benchmarks"]) - 1
