"""The gate rules in-process (direction, tolerance, floor, budget, keys), and two behaviours of
the plugin that need a real pytest run of the suite: valgrind missing, and a storage outside the
working directory recorded on another machine. Real regressions end to end, one harness for all
of them: tests/test_lanes.py; the gate semantics on stored runs: tests/test_golden.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pytest_benchmark.utils import get_machine_id

from mnist_models.gates.record import GateRecord, render_table
from mnist_models.gates.rules import Metric, budget, exact, higher, lower

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
COUNTS = "benchmarks/bench_counts.py::test_counts[mlp-32@28]"
COMMON = ["-p", "no:cacheprovider", f"--rootdir={REPO}"]


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A storage holding a baseline of one benchmark, recorded from the unchanged code."""
    root = tmp_path_factory.mktemp("storage")
    target = root / get_machine_id() / "0001_base.json"
    target.parent.mkdir(parents=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", COUNTS, "-m", "full", *COMMON,
         f"--benchmark-json={target}", "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root


def run_suite(pytester: pytest.Pytester, storage: Path, *args: str):
    return pytester.runpytest_subprocess(
        *args, "-m", "full", *COMMON, f"--benchmark-storage=file://{storage}", timeout=600
    )


def nodeids(*ids: str) -> list[str]:
    return [str(REPO / i) for i in ids]


# --- the rules themselves, without a subprocess ---------------------------------------------


def test_higher_with_floor_and_tolerance() -> None:
    acc = higher("accuracy", abs_tol=0.005, floor=0.96, unit="%")
    assert acc.limit(0.98) == pytest.approx(0.975) and acc.limit(0.962) == 0.96
    assert acc.passes(0.976, 0.98) and not acc.passes(0.974, 0.98)
    assert not acc.passes(0.95, None) and acc.passes(0.97, None)
    assert acc.change_text(0.97, 0.98) == "-1.00pp" and acc.format(0.9712) == "97.12%"


def test_lower_relative_and_absolute_tolerance() -> None:
    mem = lower("peak", rel_tol=0.25, abs_tol=16.0, unit="MiB")
    assert mem.limit(10.0) == 26.0 and mem.limit(100.0) == 125.0
    assert mem.passes(25.9, 10.0) and not mem.passes(126.0, 100.0)


def test_exact_fails_on_any_change_and_table_renders() -> None:
    params = exact("params")
    assert params.passes(5, 5) and not params.passes(6, 5) and params.passes(6, None)
    table = render_table([GateRecord("n", params, 815_130, 814_090, "FAIL")])
    assert table.splitlines()[0].split() == ["metric", "baseline", "now", "change", "allowed"]
    assert table.splitlines()[1].split() == ["params", "814,090", "815,130", "+0.1%", "exact"]


def test_metric_rejects_unknown_direction() -> None:
    with pytest.raises(ValueError, match="direction"):
        Metric("x", "sideways")


def test_two_sided_gate_fails_an_unexplained_improvement_too() -> None:
    instr = lower("instructions", rel_tol=0.01, key="instructions", two_sided=True)
    assert instr.passes(1_009_000, 1_000_000) and instr.passes(991_000, 1_000_000)
    assert not instr.passes(1_030_000, 1_000_000)  # +3%: more work
    assert not instr.passes(970_000, 1_000_000)  # -3%: the stored figure is stale
    assert instr.allowed_text(1_000_000) == "990,000 .. 1,010,000"
    assert instr.passes(5, None)  # no baseline: nothing to compare with


def test_exact_key_an_environment_keeps_the_floor() -> None:
    acc = higher("accuracy", abs_tol=0.013, floor=0.96, unit="%", exact_key="numerics")
    same = acc.as_exact()
    assert same.passes(0.9774, 0.9774) and not same.passes(0.9773, 0.9774)
    assert not same.passes(0.9775, 0.9774)  # better is a change too where training repeats
    assert same.allowed_text(0.9774) == "exact, >= 96.00%"
    assert acc.passes(0.9700, 0.9774)  # elsewhere: the seed-spread tolerance


def test_budget_ignores_the_baseline_and_holds_its_ceiling() -> None:
    p99 = budget("p99_us", 1000.0, unit="us")
    assert p99.passes(999.0, 10.0) and not p99.passes(1001.0, 5000.0)
    assert p99.allowed_text(10.0) == "<= 1,000 us"


def test_metric_rejects_unknown_key() -> None:
    with pytest.raises(ValueError, match="key must be one of"):
        Metric("x", "lower", key="galaxy")


@pytest.mark.slow
def test_missing_valgrind_is_reported_not_passed(
    pytester: pytest.Pytester, storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(pytester.path))  # no valgrind (nor anything else) on PATH
    instr = "benchmarks/bench_instructions.py::test_forward_instructions[mlp-32@28-bs1]"
    result = run_suite(pytester, storage, *nodeids(instr))
    out = result.stdout.str()
    assert result.ret == 0, out[-3000:]
    assert "1 skipped" in out and "1 not measured" in out
    assert "instructions: not measured for 1 benchmarks (valgrind is not installed" in out
    assert "apt-get install valgrind" in out


@pytest.mark.slow
def test_a_storage_outside_the_working_directory_from_another_machine(
    pytester: pytest.Pytester, storage: Path, tmp_path: Path
) -> None:
    # pytest-benchmark names the storage relative to the working directory when machine info
    # differs, and crashed (INTERNALERROR) for one outside it
    import json

    data = json.loads(next(storage.glob("*/*.json")).read_text())
    data["machine_info"]["cpu_model"] = "Some Other CPU 9000"
    outside = tmp_path / "elsewhere"
    target = outside / get_machine_id() / "0001_base.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(data))
    result = run_suite(pytester, outside, *nodeids(COUNTS), "--benchmark-compare")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == 0 and "INTERNALERROR" not in out, out[-3000:]
    assert "another kind: time gates not applied" in out
