"""pytest plugin: gate every metric a benchmark records against the stored baseline.

pytest-benchmark compares only times and ignores `extra_info`. Here each benchmark records its
metrics through the `gate` fixture, each with the direction and tolerance declared beside the
test (`exact`, `higher`, `lower`); they are stored in `extra_info` and checked against the same
baseline file that `--benchmark-compare` selects. A failure prints a table (metric, baseline,
now, change, allowed) and the command that accepts the change. Time metrics are not applied
against a baseline recorded on another kind of machine, and say so.

Loaded through the `pytest11` entry point; inert unless a test uses the `gate` fixture.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ..verdicts import Verdict
from .session import (
    DEFAULT_BASELINE_COMMAND,
    Baseline,
    BaselineError,
    Gate,
    GateSession,
    find_baseline,
    render_table,
    storage_path,
    summary_lines,
)

_SESSION = pytest.StashKey[GateSession]()


_GATE = pytest.StashKey[Gate]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mnist-bench gates", "metric gates against the stored baseline")
    group.addoption(
        "--gate-time-tolerance",
        type=float,
        default=None,
        metavar="FRACTION",
        help="override the relative tolerance of every time metric, e.g. 0.5 for +50%% "
        "(default: each metric's own, declared beside its test)",
    )
    group.addoption(
        "--gate-report",
        metavar="PATH",
        default=None,
        help="write every gated metric (metric, baseline, now, status) as JSON to PATH",
    )
    parser.addini(
        "gate_baseline_command",
        "the command that records a new baseline, named in messages",
        default=DEFAULT_BASELINE_COMMAND,
    )
    parser.addini(
        "gate_accept_command",
        "the command that accepts one test's change, named in messages ({nodeid} is replaced)",
        default="",
    )


def _check_markexpr(config: pytest.Config) -> None:
    """An unknown word in -m selects nothing silently in pytest; in a gated run it is a typo."""
    expr = config.getoption("markexpr", "") or ""
    known = {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}
    for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expr):
        if word not in ("and", "or", "not", "True", "False") and word not in known:
            raise pytest.UsageError(
                f"unknown marker {word!r} in -m {expr!r}; registered markers: "
                f"{', '.join(sorted(known))} (see `pytest --markers`)"
            )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Pick the baseline before pytest-benchmark loads it (so both use one file)."""
    session = GateSession(
        time_tolerance=config.getoption("gate_time_tolerance"),
        baseline_command=config.getini("gate_baseline_command"),
        accept_command=config.getini("gate_accept_command"),
    )
    config.stash[_SESSION] = session
    compare = config.getoption("benchmark_compare", None)
    if not compare:
        return
    storage = storage_path(config.getoption("benchmark_storage"))
    if storage is None:
        session.not_applied_reason = "metric gates need a file:// benchmark storage"
        return
    from pytest_benchmark.utils import get_machine_id

    path = find_baseline(storage, get_machine_id(), compare)
    if path is None:
        what = "baseline" if compare is True else f"baseline matching {compare!r}"
        raise pytest.UsageError(
            f"--benchmark-compare found no {what} in {storage}; record one with "
            f"`{session.baseline_command}` (or pass --benchmark-storage)"
        )
    try:
        session.baseline = Baseline.load(path, session.baseline_command)
    except BaselineError as err:
        raise pytest.UsageError(str(err)) from None
    config.option.benchmark_compare = str(path)  # pytest-benchmark compares the same file
    # until this run's machine info is known (below), time gates do not apply
    session.same_machine = False
    session.not_applied_reason = (
        "time gates not applied: this run's machine info was never gathered "
        "(pytest-benchmark's update_machine_info hook did not run)"
    )


@pytest.hookimpl(optionalhook=True, trylast=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """This run's machine info as pytest-benchmark stores it (after every other plugin and
    conftest added to it): compared with the baseline's, it decides whether time gates apply."""
    session = config.stash.get(_SESSION, None)
    if session is None or session.baseline is None or session.machine_info:
        return
    recorded = session.baseline.machine_info.get("device", "cpu")
    device = machine_info.get("device", "cpu")
    if recorded != device:
        raise pytest.UsageError(
            f"the baseline {session.baseline.path} was recorded with --device {recorded} and "
            f"this run is --device {device}: CPU and CUDA baselines are never compared; run "
            f"with --device {recorded}, or record a {device} baseline"
        )
    session.machine_info = dict(machine_info)
    session.not_applied_reason = ""
    session.compare_machines()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Remember what was collected (before -k/-m deselect); check -m where gates are used (a
    session of another project in the same environment is left alone)."""
    config.stash[_SESSION].collected = {item.nodeid for item in items}
    if any("gate" in getattr(item, "fixturenames", ()) for item in items):
        _check_markexpr(config)


@pytest.fixture
def gate(request: pytest.FixtureRequest, benchmark: Any) -> Gate:
    """Record gated metrics into the benchmark's extra_info and check them against the baseline."""
    session = request.config.stash[_SESSION]
    session.used_gate = True
    recorder = Gate(session, request.node.nodeid, benchmark)
    request.node.stash[_GATE] = recorder
    return recorder


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Any:
    result = yield
    recorder = pyfuncitem.stash.get(_GATE, None)
    if recorder is not None and recorder.failures():
        session = recorder.session
        source = session.baseline.path if session.baseline else "the declared bounds"
        pytest.fail(
            f"{pyfuncitem.nodeid} regressed against {source}:\n"
            f"{render_table(recorder.rows)}\n"
            "If the change is intended, accept it: " + session.accept_hint(pyfuncitem.nodeid),
            pytrace=False,
        )
    return result


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session: GateSession | None = config.stash.get(_SESSION, None)
    if session is None or not session.used_gate:
        return
    tr = terminalreporter
    failed = [r for r in session.rows if r.status == Verdict.FAIL]
    tr.section("mnist-bench gates")
    if session.baseline:
        tr.write_line(f"baseline: {session.baseline.path}")
    else:
        tr.write_line(
            "no baseline compared (pass --benchmark-compare): only declared bounds applied"
        )
    if session.not_applied_reason:
        tr.write_line(session.not_applied_reason, yellow=True)
    for line in summary_lines(session):
        tr.write_line(line, red=line.startswith("FAILED"))
    statuses = (Verdict.OK, Verdict.NEW, Verdict.NOT_APPLIED, Verdict.NOT_MEASURED)
    counts = {s: sum(r.status == s for r in session.rows) for s in statuses}
    for status in (Verdict.NOT_MEASURED, Verdict.NOT_APPLIED):
        reasons: dict[tuple[str, str], int] = {}
        for row in session.rows:
            if row.status == status and row.note:
                key = (row.metric.name, row.note)
                reasons[key] = reasons.get(key, 0) + 1
        for (name, note), n in sorted(reasons.items())[:4]:
            tr.write_line(f"{name}: {status} for {n} benchmarks ({note})", yellow=True)
        if len(reasons) > 4:
            tr.write_line(f"... {len(reasons) - 4} more reasons (--gate-report FILE)", yellow=True)
    tr.write_line(
        f"{len(session.rows)} metrics: {counts['ok']} ok, {len(failed)} failed, "
        f"{counts['new']} without baseline, {counts['not applied']} not applied, "
        f"{counts['not measured']} not measured"
    )
    if failed:
        one = f", or {session.accept_hint('NODEID')} (one test)" if session.accept_command else ""
        tr.write_line(f"Accept intended changes: {session.baseline_command} (all){one}")
    if session.baseline and not any("::" in arg for arg in config.args):
        # only whole modules tell which tests exist; a run of single tests cannot
        modules = {nodeid.split("::")[0] for nodeid in session.collected}
        stale = sorted(
            name
            for name in set(session.baseline.entries) - session.collected
            if name.split("::")[0] in modules
        )
        if stale:
            shown = ", ".join(stale[:3]) + (" ..." if len(stale) > 3 else "")
            tr.write_line(
                f"the baseline has {len(stale)} entries for tests that no longer exist "
                f"({shown}); `{session.baseline_command}` drops them",
                yellow=True,
            )
    report = config.getoption("gate_report")
    if report:
        from ..atomic import write_text_atomic

        rows = [r.to_dict() for r in session.rows]
        write_text_atomic(report, json.dumps(rows, indent=2) + "\n")
