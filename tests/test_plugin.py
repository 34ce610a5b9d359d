"""The gates plugin tested as pytest-benchmark tests itself: small synthetic test files run
in-process (pytester), no torch, no model. Each run records a baseline with `--gate-accept` (the
one writer) and compares against it, so the whole cycle a user goes through is exercised.

The real suite with real edits is run end to end in test_lanes.py.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from pytest_benchmark.utils import get_machine_id

from mnist_models.fields import FORMAT

pytest_plugins = ["pytester"]
# pytest-benchmark's own warnings of the inner runs ("can't compare", "machine_info differs")
pytestmark = pytest.mark.filterwarnings("ignore::pytest_benchmark.logger.PytestBenchmarkWarning")

# A synthetic suite: each test records the figures of values.json under its id, through the
# gate fixture; `extra` goes into extra_info after the figures are recorded (scope facts).
SUITE = """
import json, pathlib
import pytest
from mnist_models.fields import FORMAT
from mnist_models.gates.rules import budget, exact, higher, lower

def values():
    return json.loads(pathlib.Path(__file__).with_name("values.json").read_text())

RULES = {
    "params": exact("params"),
    "accuracy": higher("accuracy", abs_tol=0.01, floor=0.5, unit="%"),
    "seconds": lower("seconds", rel_tol=1.0, timed=True),
    "instructions": lower("instructions", rel_tol=0.01, key="instructions", two_sided=True),
    "ceiling": budget("ceiling", 10.0),
}

@pytest.mark.benchmark(group="widgets")
@pytest.mark.parametrize("name", ["a", "b"])
def test_widget(name, benchmark, gate):
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    mine = values().get(name, {})
    for metric, value in mine.get("figures", {}).items():
        gate.record(RULES[metric], value)
    benchmark.extra_info.update(mine.get("extra", {}))

# A seeded training: figures exact within the environment, and what training again gives
TRAINED = {
    "accuracy": higher("accuracy", abs_tol=0.01, floor=0.5, unit="%", exact_key="numerics"),
    "loss": lower("loss", key="numerics", exact_key="numerics"),
}

@pytest.mark.benchmark(group="training")
def test_training(benchmark, gate):
    mine = values().get("training")
    if mine is None:
        pytest.skip("no training figures")
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    again = mine.get("again", {})
    for metric, value in mine.get("figures", {}).items():
        gate.record(TRAINED[metric], value, repeat=lambda m=metric, v=value: again.get(m, v))
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(
        "[pytest]\ngate_storage = baselines\n"
        "gate_baseline_command = record-all\ngate_accept_command = accept '{nodeid}'\n"
    )
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def set_values(pytester: pytest.Pytester, **by_name: dict) -> None:
    (pytester.path / "values.json").write_text(json.dumps(by_name))


def baseline_path(pytester: pytest.Pytester) -> Path:
    return pytester.path / "baselines" / get_machine_id() / "0001_baseline.json"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", *args)


A = {"figures": {"params": 100, "accuracy": 0.9, "seconds": 1.0}}
B = {"figures": {"params": 200, "accuracy": 0.8}}


def accepted(pytester: pytest.Pytester, recorded: int = 2, **by_name: dict) -> dict:
    set_values(pytester, **by_name)
    result = run(pytester, "--gate-accept")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [f"*baseline *0001_baseline.json: {recorded} results recorded, {recorded} in all*"]
    )
    return json.loads(baseline_path(pytester).read_text())


def test_unchanged_passes_and_a_change_fails_with_the_table(suite: pytest.Pytester) -> None:
    accepted(suite, a=A, b=B)
    assert run(suite, "--benchmark-compare").ret == 0
    set_values(suite, a={"figures": {**A["figures"], "params": 101}}, b=B)
    result = run(suite, "--benchmark-compare")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*test_suite.py::test_widget?a? regressed against *0001_baseline.json:",
            "metric*baseline*now*change*allowed",
            "params*100*101*+1.0%*exact",
            "If the change is intended, accept it: accept 'test_suite.py::test_widget[[]a[]]'",
        ]
    )
    result.stdout.fnmatch_lines(["widgets  5 metrics: 1 failed, 4 ok"])  # the declared group


def test_a_gated_metric_the_run_stops_recording_is_missing_and_fails(
    suite: pytest.Pytester,
) -> None:
    accepted(suite, a=A, b=B)
    set_values(suite, a={"figures": {"accuracy": 0.9, "seconds": 1.0}}, b={})
    result = run(suite, "--benchmark-compare")
    assert result.ret == 1, result.stdout.str()
    out = result.stdout.str()
    assert "test_widget[a] regressed" in out and "missing" in out
    # b records nothing at all: its two gated metrics are MISSING in the summary
    assert "5 metrics: 2 ok, 3 failed (3 missing)" in out


def test_a_deselected_benchmark_is_not_missing(suite: pytest.Pytester) -> None:
    accepted(suite, a=A, b=B)
    result = run(suite, "--benchmark-compare", "--deselect", "test_suite.py::test_widget[b]")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["3 metrics: 3 ok, 0 failed*"])


def test_accept_merges_one_test_and_drops_only_tests_that_no_longer_exist(
    suite: pytest.Pytester,
) -> None:
    accepted(suite, a=A, b=B)
    set_values(suite, a={"figures": {**A["figures"], "params": 150}}, b=B)
    result = run(suite, "test_suite.py::test_widget[a]", "--gate-accept")
    assert result.ret == 0
    data = json.loads(baseline_path(suite).read_text())
    by_name = {b["fullname"]: b["extra_info"] for b in data["benchmarks"]}
    assert by_name["test_suite.py::test_widget[a]"]["params"] == 150
    assert by_name["test_suite.py::test_widget[b]"]["params"] == 200  # kept
    assert data["mnist_bench"]["format"] == FORMAT and "data" not in data["benchmarks"][0]["stats"]
    assert [p.name for p in baseline_path(suite).parent.iterdir()] == ["0001_baseline.json"]
    suite.makepyfile(test_suite=SUITE.replace('["a", "b"]', '["a"]'))  # b is removed
    assert run(suite, "--gate-accept").ret == 0
    data = json.loads(baseline_path(suite).read_text())
    assert [b["fullname"] for b in data["benchmarks"]] == ["test_suite.py::test_widget[a]"]


def test_a_failing_run_writes_no_baseline(
    suite: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where accept puts the run's JSON
    before = accepted(suite, a=A, b=B)
    set_values(suite, a={"figures": {**A["figures"], "accuracy": 0.4}}, b=B)  # below the floor
    result = run(suite, "--gate-accept")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*baseline not saved: the run failed*"])
    assert json.loads(baseline_path(suite).read_text()) == before
    assert not list(tmp_path.glob("gate-accept-*"))  # nothing left behind, either way


def test_accept_that_collects_nothing_says_so_and_leaves_no_folder(
    pytester: pytest.Pytester,
) -> None:
    """A user's bench_*.py that pytest does not collect: named as such, not as a failure."""
    pytester.makeini("[pytest]\ngate_storage = baselines\n")
    pytester.makepyfile(bench_widget="def test_x(gate):\n    pass\n")
    result = run(pytester, "--gate-accept")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(
        ["baseline not saved: no tests were collected (exit 5), nothing failed; *python_files*"]
    )
    assert not (pytester.path / "baselines").exists()


@pytest.mark.parametrize(
    ("ini", "hint"),
    [
        ("", "pytest --gate-accept 'test_suite.py::test_widget[a]'"),
        ("gate_accept_command = accept {nodeid}", "accept 'test_suite.py::test_widget[a]'"),
        ("gate_accept_command = accept '{nodeid}'", "accept 'test_suite.py::test_widget[a]'"),
    ],
)
def test_the_accept_command_printed_is_quoted_for_any_posix_shell(
    pytester: pytest.Pytester, ini: str, hint: str
) -> None:
    pytester.makeini(f"[pytest]\ngate_storage = baselines\n{ini}\n")
    pytester.makepyfile(test_suite=SUITE)
    accepted(pytester, a=A, b=B)
    set_values(pytester, a={"figures": {**A["figures"], "params": 101}}, b=B)
    result = run(pytester, "--benchmark-compare")
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"If the change is intended, accept it: {hint}"])


def test_key_facts_recorded_after_the_figure_still_apply(suite: pytest.Pytester) -> None:
    key = {"instruction_key": "torch=1"}
    accepted(suite, a={"figures": {"instructions": 1000}, "extra": key}, b=B)
    set_values(suite, a={"figures": {"instructions": 1100}, "extra": key}, b=B)
    result = run(suite, "--benchmark-compare")
    assert result.ret == 1, result.stdout.str()  # +10%: judged, not `not applied`
    result.stdout.fnmatch_lines(["instructions*1,000*1,100*+10.0%*990 .. 1,010"])
    set_values(suite, a={"figures": {"instructions": 1100}, "extra": {"instruction_key": "x"}}, b=B)
    result = run(suite, "--benchmark-compare")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["instructions: not applied for 1 benchmarks (instruction key*"])


@pytest.mark.parametrize(
    ("stored", "recount"),
    [("torch=1", True), ("torch=1 left_out=nothing", True), ("torch=2 left_out=type-cache", False)],
)
def test_a_count_made_the_old_way_names_the_command_that_records_it_again(
    suite: pytest.Pytester, stored: str, recount: bool
) -> None:
    now = {"instruction_key": "torch=1 left_out=type-cache"}
    accepted(suite, a={"figures": {"instructions": 1000}, "extra": {"instruction_key": stored}})
    set_values(suite, a={"figures": {"instructions": 900}, "extra": now})
    result = run(suite, "--benchmark-compare")
    assert result.ret == 0, result.stdout.str()  # -10%: not judged against another way of counting
    lines = result.stdout.lines
    assert any("instructions: not applied for 1 benchmarks (instruction key" in s for s in lines)
    assert any("record it again once" in s for s in lines) == recount
    assert ("1 counts not applied until the baseline is recorded again: record-all" in lines) == (
        recount
    )


def test_another_machine_kind_skips_time_gates_only(suite: pytest.Pytester) -> None:
    data = accepted(suite, a=A, b=B)
    data["machine_info"]["cpu_model"] = "Some Other CPU 9000"
    baseline_path(suite).write_text(json.dumps(data))
    set_values(suite, a={"figures": {**A["figures"], "seconds": 9.0}}, b={"figures": {"params": 1}})
    result = run(suite, "--benchmark-compare")
    out = result.stdout.str()
    assert result.ret == 1
    assert "time gates not applied" in out and "Some Other CPU 9000" in out
    assert "test_widget[b] regressed" in out and "test_widget[a] regressed" not in out
    assert "1 not applied" in out


def test_a_baseline_of_another_device_is_never_compared(suite: pytest.Pytester) -> None:
    data = accepted(suite, a=A, b=B)
    data["machine_info"].update(device="cuda", gpu_name="NVIDIA H100 80GB HBM3")
    baseline_path(suite).write_text(json.dumps(data))
    result = run(suite, "--benchmark-compare")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "recorded with --device cuda and this run is --device cpu" in err
    assert "never compared" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "--benchmark-compare found no baseline"),
        ('{"benchmarks": [{"fullname": "x"', "is not valid JSON"),
        ('{"benchmarks": [{"name": "x"}]}', "benchmarks[0]: 'fullname' must be a non-empty"),
        ('{"benchmarks": []}', "'benchmarks' is empty"),
        ('{"benchmarks": [{"fullname": "t", "stats": "x"}]}', "t: 'stats' must be an object"),
        ('{"machine_info": [], "benchmarks": [{"fullname": "t", "stats": {}}]}', "machine_info"),
        (
            '{"benchmarks": [{"fullname": "t", "stats": {}, "extra_info": {"params": null, '
            '"gates": {"params": {"name": "params", "direction": "exact"}}}}]}',
            "t: extra_info.params must be a finite number, got null",
        ),
        (
            '{"benchmarks": [{"fullname": "t", "stats": {"median": NaN}}]}',
            "NaN is not a number JSON allows",
        ),
        ("[" * 100_000 + "]" * 100_000, "is not valid JSON (RecursionError"),
        (
            '{"benchmarks": [{"fullname": "t", "stats": {}, "extra_info": {"params": 1, "gates": '
            '{"params": {"name": "params", "direction": "lower", "rel_tol": "abc"}}}}]}',
            "rel_tol must be a finite number >= 0, got 'abc'",
        ),
        (
            '{"benchmarks": [{"fullname": "t", "stats": {"median": 1' + "0" * 4000 + "}}]}",
            "t: stats.median must be a finite number",
        ),
        ('{"benchmarks": [{"fullname": "t", "stats": {}}]}', "'machine_info' (with 'cpu' an"),
        (
            '{"machine_info": {"cpu": "x"}, "benchmarks": [{"fullname": "t", "stats": {}}]}',
            "'machine_info' (with 'cpu' an object) is missing or malformed",
        ),
    ],
    ids=["missing", "truncated", "malformed", "empty", "stats", "machine_info", "null", "nan",
         "deep", "rel_tol", "huge", "no-machine-info", "cpu-not-an-object"],
)  # fmt: skip
def test_a_bad_baseline_is_a_clear_usage_error(
    suite: pytest.Pytester, content: str | None, message: str
) -> None:
    if content is not None:
        baseline_path(suite).parent.mkdir(parents=True)
        baseline_path(suite).write_text(content)
    set_values(suite, a=A, b=B)
    result = run(suite, "--benchmark-compare")
    err = result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert message in err and "record-all" in err
    assert "Traceback" not in err + result.stdout.str()


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "abc"])
def test_a_time_tolerance_that_is_not_a_finite_fraction_is_refused(
    suite: pytest.Pytester, value: str
) -> None:
    result = run(suite, "--gate-time-tolerance", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--gate-time-tolerance" in result.stderr.str()


def test_an_unwritable_gate_report_is_refused_before_any_work(suite: pytest.Pytester) -> None:
    set_values(suite, a=A, b=B)
    result = run(suite, f"--gate-report={suite.path / 'no' / 'such' / 'folder' / 'r.json'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "passed" not in result.stdout.str()


def test_an_unwritable_benchmark_json_is_refused_before_any_work(suite: pytest.Pytester) -> None:
    set_values(suite, a=A, b=B)
    result = run(suite, f"--benchmark-json={suite.path / 'no' / 'such' / 'run.json'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "passed" not in result.stdout.str() and "cannot" in result.stderr.str()


TRAINING = {"figures": {"accuracy": 0.9, "loss": 0.3}}


def test_an_exact_figure_that_repeats_changed_fails(suite: pytest.Pytester) -> None:
    accepted(suite, a=A, b=B, training=TRAINING, recorded=3)
    assert run(suite, "--benchmark-compare").ret == 0  # unchanged: exact, not trained again
    # changed within the tolerance, and training again gives the same: a real change, exact
    set_values(suite, a=A, b=B, training={"figures": {"accuracy": 0.905, "loss": 0.3}})
    result = run(suite, "--benchmark-compare")
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*test_training regressed*",
            "accuracy*90.00%*90.50%*exact*",
            # what else the seeded run knows: the direction, the confirming run, the loss
            "test_training accuracy: better than the baseline: an intended improvement is "
            "accepted, not waved through",
            "  trained again to confirm: accuracy 90.50% (the same: the change is real)",
            "  the same run's loss: unchanged (0.3)",
        ]
    )
    assert "not repeatable" not in result.stdout.str()


def test_unchanged_code_that_does_not_repeat_says_so_instead_of_failing(
    suite: pytest.Pytester,
) -> None:
    accepted(suite, a=A, b=B, training=TRAINING, recorded=3)
    noisy = {"figures": {"accuracy": 0.905, "loss": 0.31}, "again": {"accuracy": 0.903}}
    set_values(suite, a=A, b=B, training=noisy)
    report = suite.path / "report.json"
    result = run(suite, "--benchmark-compare", f"--gate-report={report}")
    assert result.ret == 0, result.stdout.str()
    rows = {r["metric"]: r for r in json.loads(report.read_text())["rows"]}
    # accuracy: the tolerance (0.5 pp of 1 pp) instead of exact, with the two values named
    assert rows["accuracy"]["verdict"] == "better"
    assert rows["accuracy"]["note"] == (
        "not repeatable: the same seeded run gave accuracy 0.905, then 0.903; tolerance"
    )
    # the loss means something only exactly: not applied, never a silent pass or a false alarm
    assert rows["loss"]["verdict"] == "not applied"
    assert rows["loss"]["note"].startswith("not repeatable: ")
    # beyond the tolerance it still fails, not repeatable or not
    worse = {"figures": {"accuracy": 0.85, "loss": 0.3}, "again": {"accuracy": 0.86}}
    set_values(suite, a=A, b=B, training=worse)
    result = run(suite, "--benchmark-compare")
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["accuracy*90.00%*85.00%*not repeatable: *"])


def test_the_gate_report_holds_every_row_with_a_format(suite: pytest.Pytester) -> None:
    accepted(suite, a=A, b=B)
    report = suite.path / "report.json"
    assert run(suite, "--benchmark-compare", f"--gate-report={report}").ret == 0
    data = json.loads(report.read_text())
    assert data["format"] == FORMAT and len(data["rows"]) == 5
    assert {r["verdict"] for r in data["rows"]} == {"same"} and {
        r["lane"] for r in data["rows"]
    } == {"widgets"}


def test_an_unknown_marker_is_refused_where_our_gates_are_used(suite: pytest.Pytester) -> None:
    result = run(suite, "-m", "fulll")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown marker 'fulll'" in result.stderr.str()


def test_another_fixture_named_gate_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import pytest\n@pytest.fixture\ndef gate():\n    return 1\n")
    pytester.makepyfile("def test_x(gate):\n    assert gate == 1\n")
    result = run(pytester, "-m", "not_registered_here")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED  # pytest's own answer, not ours


def test_accept_without_a_storage_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(benchmark):\n    benchmark(lambda: None)\n")
    result = run(pytester, "--gate-accept")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "set the ini key gate_storage" in result.stderr.str()


def test_a_session_that_did_not_opt_in_keeps_pytest_benchmarks_behaviour(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_x(benchmark):\n    benchmark(lambda: None)\n")
    result = run(pytester, "--benchmark-compare", "-W", "ignore::pytest.PytestUnknownMarkWarning")
    assert result.ret == 0, result.stderr.str()  # pytest-benchmark warns and runs on
    assert "mnist-bench gates" not in result.stdout.str()
    assert not (pytester.path / "baselines").exists()


def test_a_session_that_did_not_opt_in_keeps_pytest_benchmarks_machine_warning(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_x(benchmark):\n    benchmark(lambda: None)\n")
    assert run(pytester, "--benchmark-autosave").ret == 0
    (saved,) = (pytester.path / ".benchmarks").glob("*/*.json")
    data = json.loads(saved.read_text())
    data["machine_info"]["cpu"]["brand_raw"] = "Some Other CPU 9000"
    saved.write_text(json.dumps(data))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--benchmark-compare")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == 0, out
    assert "Benchmark machine_info is different" in out and "machine:" not in out, out


def test_baseline_entries_of_removed_tests_are_reported(suite: pytest.Pytester) -> None:
    data = accepted(suite, a=A, b=B)
    ghost = dict(data["benchmarks"][0], fullname="test_suite.py::test_widget[gone]")
    data["benchmarks"].append(ghost)
    baseline_path(suite).write_text(json.dumps(data))
    result = run(suite, "--benchmark-compare")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*1 entries for tests that no longer exist*gone*record-all*"])


def test_a_figure_that_repeats_by_chance_is_judged_with_the_one_that_did_not(
    suite: pytest.Pytester,
) -> None:
    """Accuracy is judged first and happens to repeat; the loss, judged after it, does not:
    the entry is not repeatable, so accuracy too gets its tolerance (seen once in
    tests/test_lanes.py, where noise gave the same accuracy twice and a different loss)."""
    accepted(suite, a=A, b=B, training=TRAINING, recorded=3)
    chance = {"figures": {"accuracy": 0.905, "loss": 0.31}, "again": {"loss": 0.32}}
    set_values(suite, a=A, b=B, training=chance)
    report = suite.path / "report.json"
    result = run(suite, "--benchmark-compare", f"--gate-report={report}")
    assert result.ret == 0, result.stdout.str()
    rows = {r["metric"]: r for r in json.loads(report.read_text())["rows"]}
    assert rows["accuracy"]["verdict"] == "better"
    assert rows["accuracy"]["note"].startswith("not repeatable: ")
    assert rows["loss"]["verdict"] == "not applied"


TIMED = """
import json, pathlib, time
import pytest

def pause():
    return json.loads(pathlib.Path(__file__).with_name("values.json").read_text())["pause"]

@pytest.mark.benchmark(group="timed", min_rounds=3, max_time=0.05)
def test_timed(benchmark, gate):
    benchmark(time.sleep, pause())

@pytest.mark.not_a_timing("a counting pass")
@pytest.mark.benchmark(group="counted")
def test_counted(benchmark, gate):
    benchmark.pedantic(time.sleep, args=(pause(),), rounds=1, iterations=1)
"""


def test_benchmark_compare_fail_judges_timings_only_and_fails_without_a_traceback(
    pytester: pytest.Pytester,
) -> None:
    """pytest-benchmark's --benchmark-compare-fail keeps its meaning where the statistics are
    a timing of this kind of machine; a lane whose timed call is no figure is not judged by it."""
    pytester.makeini("[pytest]\ngate_storage = baselines\n")
    pytester.makepyfile(test_timed=TIMED)
    set_values(pytester, pause=0.002)
    assert run(pytester, "--gate-accept").ret == 0
    result = run(pytester, "--benchmark-compare", "--benchmark-compare-fail=min:400%")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "--benchmark-compare-fail: 1 benchmarks judged, 0 failed",
            "  not judged: 1 benchmarks (its timed call is a counting pass, not a figure)",
        ]
    )
    set_values(pytester, pause=0.05)  # 25 times slower, both of them
    result = run(pytester, "--benchmark-compare", "--benchmark-compare-fail=min:400%")
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "--benchmark-compare-fail: 1 benchmarks judged, 1 failed",
            "  FAILED test_timed.py::test_timed: Field 'min' has failed *",
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "test_counted: Field" not in result.stdout.str()
    # the baseline timed on another kind of machine: its times judge nothing here
    data = json.loads(baseline_path(pytester).read_text())
    data["machine_info"]["cpu_model"] = "A CPU that does not exist"
    baseline_path(pytester).write_text(json.dumps(data))
    result = run(pytester, "--benchmark-compare", "--benchmark-compare-fail=min:400%")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["  not judged: 1 benchmarks (timed on another kind of machine: *A CPU that does not*)"]
    )


def test_a_usage_error_judges_nothing(suite: pytest.Pytester) -> None:
    accepted(suite, a=A, b=B)
    result = run(suite, "--benchmark-compare", "-k", "widget@a")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "this run did not record it" not in result.stdout.str()  # no MISSING row
    assert "mnist-bench gates" not in result.stdout.str()  # nothing ran, nothing to judge
