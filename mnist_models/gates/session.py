"""The gate session: what a run checks (rows of metric, baseline, now, verdict), the baseline
it checks against, the per-test recorder behind the `gate` fixture and the summary it prints.

No pytest hooks here (plugin.py has them) and no torch: a reader of saved results can use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..table import text_table
from ..verdicts import Verdict
from .rules import Metric, machine_kind, same_machine, scope_mismatch
from .rules import drift as rules_drift

# Named in messages; a project sets its own in its ini file (gate_baseline_command).
DEFAULT_BASELINE_COMMAND = "pytest --benchmark-save=baseline"


@dataclass
class GateRecord:
    """One metric of one benchmark, as checked: a row of the gate table and of `--gate-report`."""

    nodeid: str
    metric: Metric
    now: float | None
    baseline: float | None
    status: Verdict  # ok, FAIL, new, not applied, not measured
    note: str = ""  # which rule applied, or why the baseline did not apply / nothing was measured

    def to_dict(self) -> dict[str, Any]:
        """The `--gate-report` entry: the figures, the verdict, and the whole rule applied."""
        return {
            "nodeid": self.nodeid,
            "metric": self.metric.name,
            "direction": str(self.metric.direction),
            "baseline": self.baseline,
            "now": self.now,
            "status": str(self.status),
            "allowed": self.metric.allowed_text(self.baseline),
            "note": self.note,
            "rule": self.metric.to_dict(),
        }

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> GateRecord:
        """An entry of a gate report; reports written before `rule` was recorded give the
        metric's name and direction only."""
        rule = entry.get("rule") or {"name": entry["metric"], "direction": entry["direction"]}
        return cls(
            entry["nodeid"],
            Metric.from_dict(rule),
            entry.get("now"),
            entry.get("baseline"),
            Verdict(entry["status"]),
            entry.get("note", ""),
        )

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


def render_table(rows: list[GateRecord]) -> str:
    header = ["metric", "baseline", "now", "change", "allowed"]
    return "\n".join(text_table(header, [r.cells() for r in rows]))


# --- machines and baselines --------------------------------------------------------------------


class BaselineError(Exception):
    pass


@dataclass
class Baseline:
    path: Path
    entries: dict[str, dict[str, Any]]
    machine_info: dict[str, Any]

    @classmethod
    def load(cls, path: Path, baseline_command: str = "") -> Baseline:
        """The baseline file, checked (schema.py); a BaselineError names file, entry, field."""
        from .schema import SchemaError, load_run_file

        fix = f"restore it with `git checkout -- {path}`" + (
            f" or record a new one with `{baseline_command}`" if baseline_command else ""
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


def find_baseline(storage: Path, machine_id: str, compare: str | bool) -> Path | None:
    """The newest run, or run `compare`, this machine id's first, else any machine's; whether
    its times apply is decided by machine kind (rules.same_machine), not by the folder."""
    pattern = "[0-9][0-9][0-9][0-9]_*.json" if compare is True else f"{compare}*.json"
    if compare is not True and Path(str(compare)).is_file():
        return Path(str(compare))
    own = sorted((storage / machine_id).glob(pattern))
    if own:
        return own[-1]
    others = sorted(storage.glob(f"*/{pattern}"), key=lambda p: (p.name, p.stat().st_mtime))
    return others[-1] if others else None


# --- the plugin --------------------------------------------------------------------------------


@dataclass
class GateSession:
    """What one pytest run checks: its baseline, this machine, the rows recorded so far."""

    baseline: Baseline | None = None
    same_machine: bool = True
    not_applied_reason: str = ""
    machine_info: dict[str, Any] = field(default_factory=dict)  # this machine's, as recorded
    time_tolerance: float | None = None
    rows: list[GateRecord] = field(default_factory=list)
    collected: set[str] = field(default_factory=set)
    used_gate: bool = False
    # named in messages: ini gate_baseline_command, gate_accept_command ("{nodeid}" replaced)
    baseline_command: str = DEFAULT_BASELINE_COMMAND
    accept_command: str = ""

    def compare_machines(self) -> None:
        """Decide whether time gates apply: the baseline's machine kind against this run's."""
        if self.baseline is None or not self.machine_info:
            return
        self.same_machine = same_machine(self.baseline.machine_info, self.machine_info)
        if self.same_machine:
            return
        current = machine_kind(self.machine_info)
        recorded = machine_kind(self.baseline.machine_info)
        diff = [
            f"{k}: {recorded.get(k)!r} here {current.get(k)!r}"
            for k in current
            if current[k] != recorded.get(k)
        ]
        self.not_applied_reason = (
            f"time gates not applied: the baseline {self.baseline.path.name} was recorded on "
            f"another kind of machine ({'; '.join(diff)}); exact, "
            "accuracy and memory gates still ran"
        )

    def accept_hint(self, nodeid: str) -> str:
        """How to accept an intended change of one test (or of all, where no command is set)."""
        if self.accept_command:
            return self.accept_command.format(nodeid=nodeid)
        return self.baseline_command

    def baseline_entry(self, nodeid: str) -> dict[str, Any] | None:
        return self.baseline.entries.get(nodeid) if self.baseline else None

    def mismatch(self, scope: str | None, recorded: dict[str, Any], now: dict[str, Any]) -> str:
        """Why a baseline entry's figure says nothing here ("" where it does), for a scope."""
        if scope in ("machine", "environment") and not self.same_machine:
            return "another kind of machine"
        info = self.baseline.machine_info if self.baseline else {}
        return scope_mismatch(scope, (info, self.machine_info), (recorded, now))


class Gate:
    """Per-test recorder: `gate.record(metric, value)`; checked when the test body returns."""

    def __init__(self, session: GateSession, nodeid: str, benchmark: Any) -> None:
        self.session, self.nodeid, self.benchmark = session, nodeid, benchmark
        self.rows: list[GateRecord] = []

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
        extra.setdefault("gates", {})[metric.name] = metric.to_dict()
        if len(tried) > 1:
            extra[f"{metric.name}_attempts"] = tried
        if not rule.passes(value, baseline):
            status = Verdict.FAIL
        elif not applies:
            status = Verdict.NOT_APPLIED  # another machine's or build's figure says nothing here
        else:
            status = Verdict.OK if baseline is not None or not rule.uses_baseline else Verdict.NEW
        self._add(GateRecord(self.nodeid, rule, value, baseline, status, note))
        return value

    def not_measured(self, metric: Metric, why: str) -> None:
        """A lane that could not run here: a row that says so, never a silent pass."""
        self._add(GateRecord(self.nodeid, metric, None, None, Verdict.NOT_MEASURED, why))

    def not_applied(self, metric: Metric, value: float, why: str) -> None:
        """A figure measured and stored whose gate does not hold here (a budget for another
        machine kind): recorded, shown as not applied."""
        self.benchmark.extra_info[metric.name] = value
        self._add(GateRecord(self.nodeid, metric, value, None, Verdict.NOT_APPLIED, why))

    def _add(self, row: GateRecord) -> None:
        self.rows.append(row)
        self.session.rows.append(row)

    def failures(self) -> list[GateRecord]:
        return [r for r in self.rows if r.status == Verdict.FAIL]


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


def drift(row: GateRecord) -> float:
    """How far a row's figure moved, in units of its tolerance (rules.drift)."""
    return rules_drift(row.metric, row.baseline, row.now)


def summary_lines(session: GateSession) -> list[str]:
    """The gate summary: failures worst first, figures that moved beyond half their tolerance,
    one line of totals per lane, the reasons for rows not applied or not measured."""
    rows = session.rows
    failed = sorted((r for r in rows if r.status == Verdict.FAIL), key=drift, reverse=True)
    lines: list[str] = []
    if failed:
        lines.append(f"FAILED ({len(failed)}), worst first:")
        lines += _table(failed[:SUMMARY_ROWS])
        if len(failed) > SUMMARY_ROWS:
            lines.append(f"... and {len(failed) - SUMMARY_ROWS} more (--gate-report FILE has all)")
    moved = sorted(
        (r for r in rows if r.status == Verdict.OK and 0.5 < drift(r) < float("inf")),
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
    order = (Verdict.FAIL, Verdict.OK, Verdict.NEW, Verdict.NOT_APPLIED, Verdict.NOT_MEASURED)
    for name, counts in sorted(by_lane.items()):
        parts = [f"{counts[s]} {'failed' if s == 'FAIL' else s}" for s in order if s in counts]
        lines.append(f"{name:<{width}}  {sum(counts.values())} metrics: {', '.join(parts)}")
    return lines


def _table(rows: list[GateRecord]) -> list[str]:
    header = ["benchmark", "metric", "baseline", "now", "change", "allowed"]
    body = [[r.nodeid.split("::")[-1], *r.cells()] for r in rows]
    return text_table(header, body, left=2, indent="  ")
