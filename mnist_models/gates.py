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
import math
import os
import platform
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from .rules import (
    Metric,
    budget,
    cpu_model,
    exact,
    higher,
    lower,
    machine_kind,
    scope_mismatch,
)
from .rules import drift as rules_drift

__all__ = ["Metric", "budget", "cpu_model", "exact", "higher", "lower", "machine_kind"]

ACCEPT_COMMAND = "make accept TESTS='{nodeid}'"
BASELINE_COMMAND = "make baseline"


@dataclass
class Row:
    """One metric of one benchmark, as checked."""

    nodeid: str
    metric: Metric
    now: float | None
    baseline: float | None
    status: str  # "ok", "FAIL", "not applied", "new", "not measured"
    note: str = ""  # which rule applied, or why the baseline did not apply / nothing was measured

    def cells(self) -> list[str]:
        m = self.metric
        allowed = m.allowed_text(self.baseline)
        return [
            m.name,
            m.format(self.baseline),
            m.format(self.now),
            m.change_text(self.now, self.baseline) if self.now is not None else "-",
            f"{allowed} ({self.note})" if self.note else allowed,
        ]


def render_table(rows: list[Row]) -> str:
    header = ["metric", "baseline", "now", "change", "allowed"]
    body = [r.cells() for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*line).rstrip() for line in [header, *body])


# --- machines and baselines --------------------------------------------------------------------


class BaselineError(Exception):
    pass


@dataclass
class Baseline:
    path: Path
    entries: dict[str, dict[str, Any]]
    machine_info: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Baseline:
        """The baseline file, checked (schema.py); a BaselineError names file, entry, field."""
        from .schema import SchemaError, load_run_file

        fix = (
            f"restore it with `git checkout -- {path}` or record a new one with "
            f"`{BASELINE_COMMAND}`"
        )
        try:
            data = load_run_file(path, fix)
        except SchemaError as err:
            raise BaselineError(f"baseline {err}") from None
        entries = {bench["fullname"]: bench for bench in data["benchmarks"]}
        return cls(path, entries, data.get("machine_info") or {})


def storage_path(storage: str) -> Path | None:
    """The folder of a file:// pytest-benchmark storage (None for elasticsearch)."""
    if "://" not in storage:
        return Path(storage)
    if storage.startswith("file://"):
        return Path(storage[len("file://") :])
    return None


def find_baseline(storage: Path, machine_id: str, compare: str | bool) -> tuple[Path | None, bool]:
    """(file, is from this machine id): the newest run, or run `compare`, this machine's first."""
    pattern = "[0-9][0-9][0-9][0-9]_*.json" if compare is True else f"{compare}*.json"
    if compare is not True and Path(str(compare)).is_file():
        return Path(str(compare)), Path(str(compare)).parent.name == machine_id
    own = sorted((storage / machine_id).glob(pattern))
    if own:
        return own[-1], True
    others = sorted(storage.glob(f"*/{pattern}"), key=lambda p: (p.name, p.stat().st_mtime))
    return (others[-1], False) if others else (None, False)


# --- the plugin --------------------------------------------------------------------------------


@dataclass
class GateSession:
    baseline: Baseline | None = None
    same_machine: bool = True
    not_applied_reason: str = ""
    machine_info: dict[str, Any] = field(default_factory=dict)  # this machine's, as recorded
    time_tolerance: float | None = None
    rows: list[Row] = field(default_factory=list)
    collected: set[str] = field(default_factory=set)
    used_gate: bool = False

    def baseline_entry(self, nodeid: str) -> dict[str, Any] | None:
        return self.baseline.entries.get(nodeid) if self.baseline else None

    def mismatch(self, scope: str | None, recorded: dict[str, Any], now: dict[str, Any]) -> str:
        """Why a baseline entry's figure says nothing here ("" where it does), for a scope."""
        if scope in ("machine", "environment") and not self.same_machine:
            return "another kind of machine"
        info = self.baseline.machine_info if self.baseline else {}
        return scope_mismatch(scope, (info, self.machine_info), (recorded, now))


_SESSION = pytest.StashKey[GateSession]()


class Gate:
    """Per-test recorder: `gate.record(metric, value)`; checked when the test body returns."""

    def __init__(self, session: GateSession, nodeid: str, benchmark: Any) -> None:
        self.session, self.nodeid, self.benchmark = session, nodeid, benchmark
        self.rows: list[Row] = []

    def _rule(self, metric: Metric) -> tuple[Metric, float | None, str, bool]:
        """(the rule that applies, baseline value, note for the table, whether it applies)."""
        if metric.timed and self.session.time_tolerance is not None:
            metric = replace(metric, rel_tol=self.session.time_tolerance)
        if not metric.uses_baseline:
            return metric, None, "budget", True
        entry = self.session.baseline_entry(self.nodeid)
        if entry is None:
            return metric, None, "", True
        recorded = entry.get("extra_info", {})
        now = self.benchmark.extra_info
        baseline = recorded.get(metric.name)
        reason = self.session.mismatch(metric.scope, recorded, now)
        if reason:
            return metric, None, reason, False
        if metric.exact_within is not None:
            other = self.session.mismatch(metric.exact_within, recorded, now)
            if not other:
                return metric.as_exact(), baseline, "same environment: exact", True
            return metric, baseline, f"tolerance: {other}", True
        return metric, baseline, "", True

    def record(
        self,
        metric: Metric,
        value: float,
        *,
        remeasure: Callable[[], float] | None = None,
        attempts: int = 2,
    ) -> float:
        """Store `value` in extra_info and check it against the baseline and the bound.

        With `remeasure`, a failing value is measured again up to `attempts` times and the best
        is kept: a real regression persists, a slow stretch of a shared machine does not.
        """
        if not math.isfinite(value):
            raise ValueError(f"{metric.name} is {value}; a gated metric must be finite")
        rule, baseline, note, applies = self._rule(metric)
        tried = [value]
        while remeasure is not None and not rule.passes(value, baseline) and len(tried) <= attempts:
            tried.append(remeasure())
            value = min(tried) if rule.direction == "lower" else max(tried)
        extra = self.benchmark.extra_info
        extra[metric.name] = value
        extra.setdefault("gates", {})[metric.name] = asdict(metric)
        if len(tried) > 1:
            extra[f"{metric.name}_attempts"] = tried
        if not rule.passes(value, baseline):
            status = "FAIL"
        elif not applies:
            status = "not applied"  # another machine's or build's figure says nothing here
        else:
            status = "ok" if baseline is not None or not rule.uses_baseline else "new"
        self._add(Row(self.nodeid, rule, value, baseline, status, note))
        return value

    def not_measured(self, metric: Metric, why: str) -> None:
        """A lane that could not run here: a row that says so, never a silent pass."""
        self._add(Row(self.nodeid, metric, None, None, "not measured", why))

    def not_applied(self, metric: Metric, value: float, why: str) -> None:
        """A figure measured and stored whose gate does not hold here (a budget for another
        machine kind): recorded, shown as not applied."""
        self.benchmark.extra_info[metric.name] = value
        self._add(Row(self.nodeid, metric, value, None, "not applied", why))

    def _add(self, row: Row) -> None:
        self.rows.append(row)
        self.session.rows.append(row)

    def failures(self) -> list[Row]:
        return [r for r in self.rows if r.status == "FAIL"]


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


def _check_markexpr(config: pytest.Config) -> None:
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
    """Check -m and pick the baseline before pytest-benchmark loads it (so both use one file)."""
    _check_markexpr(config)
    session = GateSession(time_tolerance=config.getoption("gate_time_tolerance"))
    config.stash[_SESSION] = session
    compare = config.getoption("benchmark_compare", None)
    if not compare:
        return
    storage = storage_path(config.getoption("benchmark_storage"))
    if storage is None:
        session.not_applied_reason = "metric gates need a file:// benchmark storage"
        return
    from pytest_benchmark.utils import get_machine_id

    path, own = find_baseline(storage, get_machine_id(), compare)
    if path is None:
        what = "baseline" if compare is True else f"baseline matching {compare!r}"
        raise pytest.UsageError(
            f"--benchmark-compare found no {what} in {storage}; record one with "
            f"`{BASELINE_COMMAND}` (or pass --benchmark-storage)"
        )
    try:
        session.baseline = Baseline.load(path)
    except BaselineError as err:
        raise pytest.UsageError(str(err)) from None
    device = config.getoption("device", "cpu")  # benchmarks/conftest.py's --device
    recorded_device = session.baseline.machine_info.get("device", "cpu")
    if recorded_device != device:
        raise pytest.UsageError(
            f"the baseline {path} was recorded with --device {recorded_device} and this run is "
            f"--device {device}: CPU and CUDA baselines are never compared; run with --device "
            f"{recorded_device}, or record a {device} baseline (`python benchmarks/baseline.py "
            f"--device {device}`)"
        )
    config.option.benchmark_compare = str(path)  # pytest-benchmark compares the same file
    session.machine_info = _machine_info(device)
    current = machine_kind(session.machine_info)
    recorded = machine_kind(session.baseline.machine_info)
    if current != recorded or not own:
        session.same_machine = False
        diff = [
            f"{k}: {recorded.get(k)!r} here {current.get(k)!r}"
            for k in current
            if current[k] != recorded.get(k)
        ]
        session.not_applied_reason = (
            f"time gates not applied: the baseline {path.name} was recorded on another kind of "
            f"machine ({'; '.join(diff) or 'another machine id'}); exact, accuracy and memory "
            "gates still ran"
        )


def _machine_info(device: str = "cpu") -> dict[str, Any]:
    info = {
        "system": platform.system(),
        "python_version": platform.python_version(),
        "machine": platform.machine(),
    }
    add_machine_info(info, device)
    return info


def add_machine_info(machine_info: dict[str, Any], device: str = "cpu") -> None:
    """torch and torchvision versions, thread count, CPU model and count, and the device the
    run is on (for CUDA: GPU name, memory, capability, driver, CUDA and cuDNN versions)."""
    import torch
    import torchvision

    from .device import device_info

    machine_info.update(
        torch=torch.__version__,
        torchvision=torchvision.__version__,
        torch_threads=torch.get_num_threads(),
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count(),
        **device_info(device),
    )


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    add_machine_info(machine_info, config.getoption("device", "cpu"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[_SESSION].collected = {item.nodeid for item in items}  # before -k/-m deselect


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
            "If the change is intended, accept it: "
            + ACCEPT_COMMAND.format(nodeid=pyfuncitem.nodeid),
            pytrace=False,
        )
    return result


LANES = {
    "bench_counts": "counts",
    "bench_inference": "latency",
    "bench_instructions": "instructions",
    "bench_training": "training",
    "bench_memory": "memory",
}
SUMMARY_ROWS = 12  # failures shown in the summary; --gate-report FILE lists every row


def lane(nodeid: str) -> str:
    """The lane (concern) of a benchmark: its module's name without bench_."""
    stem = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    return LANES.get(stem, stem.removeprefix("bench_"))


def drift(row: Row) -> float:
    """How far a row's figure moved, in units of its tolerance (rules.drift)."""
    return rules_drift(row.metric, row.baseline, row.now)


def summary_lines(session: GateSession) -> list[str]:
    """The gate summary: failures worst first, figures that moved beyond half their tolerance,
    one line of totals per lane, the reasons for rows not applied or not measured."""
    rows = session.rows
    failed = sorted((r for r in rows if r.status == "FAIL"), key=drift, reverse=True)
    lines: list[str] = []
    if failed:
        lines.append(f"FAILED ({len(failed)}), worst first:")
        lines += _table(failed[:SUMMARY_ROWS])
        if len(failed) > SUMMARY_ROWS:
            lines.append(f"... and {len(failed) - SUMMARY_ROWS} more (--gate-report FILE has all)")
    moved = sorted(
        (r for r in rows if r.status == "ok" and 0.5 < drift(r) < float("inf")),
        key=drift,
        reverse=True,
    )
    if moved:
        lines.append(f"changed beyond half their tolerance ({len(moved)}), largest first:")
        lines += _table(moved[:5])
    by_lane: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = by_lane.setdefault(lane(row.nodeid), {})
        counts[row.status] = counts.get(row.status, 0) + 1
    width = max((len(name) for name in by_lane), default=0)
    order = ("FAIL", "ok", "new", "not applied", "not measured")
    for name, counts in sorted(by_lane.items()):
        parts = [f"{counts[s]} {'failed' if s == 'FAIL' else s}" for s in order if s in counts]
        lines.append(f"{name:<{width}}  {sum(counts.values())} metrics: {', '.join(parts)}")
    return lines


def _table(rows: list[Row]) -> list[str]:
    header = ["benchmark", "metric", "baseline", "now", "change", "allowed"]
    body = [[r.nodeid.split("::")[-1], *r.cells()] for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return ["  " + fmt.format(*line).rstrip() for line in [header, *body]]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session: GateSession | None = config.stash.get(_SESSION, None)
    if session is None or not session.used_gate:
        return
    tr = terminalreporter
    failed = [r for r in session.rows if r.status == "FAIL"]
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
    statuses = ("ok", "new", "not applied", "not measured")
    counts = {s: sum(r.status == s for r in session.rows) for s in statuses}
    for status in ("not measured", "not applied"):
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
        tr.write_line(
            f"Accept intended changes: {BASELINE_COMMAND} (all), or "
            f"{ACCEPT_COMMAND.format(nodeid='NODEID')} (one test)"
        )
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
                f"({shown}); `{BASELINE_COMMAND}` drops them",
                yellow=True,
            )
    report = config.getoption("gate_report")
    if report:
        from .atomic import write_text_atomic

        rows = [
            {
                "nodeid": r.nodeid,
                "metric": r.metric.name,
                "direction": r.metric.direction,
                "baseline": r.baseline,
                "now": r.now,
                "status": r.status,
                "allowed": r.metric.allowed_text(r.baseline),
            }
            for r in session.rows
        ]
        write_text_atomic(report, json.dumps(rows, indent=2) + "\n")
