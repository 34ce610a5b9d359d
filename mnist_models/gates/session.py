"""The gate session: everything one pytest run checks, owned in one place (the hooks in
plugin.py are one call each into it, as pytest-benchmark's plugin is into its session).

It holds the baseline (gates/store.py loads it), both machines' info, the rows the engine judged,
what was collected and selected, and it writes the summary and the `--gate-report` file. The
per-test recorder behind the `gate` fixture stores figures as the test makes them and has them
judged when the test body returns, when every fact a rule needs is known. No torch, no pytest.
"""

from __future__ import annotations

import functools
import json
import math
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import fields
from ..errors import MnistBenchError
from ..table import text_table
from ..verdicts import Verdict
from . import keys, timed_ab
from .base_run import BaseRun
from .compare_fail import CompareFail
from .engine import (
    BAND_NOTE,
    COUNTED_OTHERWISE,
    NOT_REPEATABLE,
    NOT_REPEATED_NOTE,
    REPEATED_NOTE,
    environment_change,
    evaluate,
    judge_entry,
    key_mismatch,
    kind_difference,
)
from .record import GateRecord, lane_of, render_table
from .rules import Metric, gated_metrics
from .store import Baseline

__all__ = ["Gate", "GateRecord", "GateSession", "render_table", "summary_lines"]

# Named in messages; a project sets its own in its ini file (gate_baseline_command).
DEFAULT_BASELINE_COMMAND = "pytest --gate-accept"
SUMMARY_ROWS = 12  # failures shown in the summary; --gate-report FILE lists every row
REASONS_SHOWN = 4


@dataclass
class GateSession:
    """What one pytest run checks: its baseline, both machines, the rows judged so far."""

    baseline: Baseline | None = None
    machine_info: dict[str, Any] = field(default_factory=dict)  # this run's, as recorded
    time_tolerance: float | None = None
    rows: list[GateRecord] = field(default_factory=list)
    collected: set[str] = field(default_factory=set)  # before -k/-m deselect
    selected: set[str] = field(default_factory=set)  # what the run set out to run
    whole_modules: bool = True  # the run named modules or folders, not single tests
    recorded: set[str] = field(default_factory=set)  # tests whose gate recorder finished
    skipped: dict[str, str] = field(default_factory=dict)  # nodeid: why
    used_gate: bool = False
    no_baseline_reason: str = ""  # why nothing is compared (no --benchmark-compare, ...)
    # named in messages: ini gate_baseline_command, gate_accept_command ("{nodeid}" replaced)
    baseline_command: str = DEFAULT_BASELINE_COMMAND
    accept_command: str = ""
    base: BaseRun | None = None  # --gate-base: the base revision measured on this machine
    base_commit: str = ""  # --gate-base resolved: what the lanes time their timed rows A/B with
    base_note: str = ""  # why there is no base run, where one was asked for
    compare_fail: CompareFail | None = None  # --benchmark-compare-fail, where it was given
    not_timed: dict[str, str] = field(default_factory=dict)  # nodeid -> what its timed call is

    @property
    def machines(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return (self.baseline.machine_info if self.baseline else {}, self.machine_info)

    def accept_hint(self, nodeid: str) -> str:
        """How to accept an intended change of one test (or of all, where no command is set)."""
        if self.accept_command:
            template = self.accept_command
            if "'{nodeid}'" in template or '"{nodeid}"' in template:  # quoted by the project
                return template.format(nodeid=nodeid)
            return template.format(nodeid=shlex.quote(nodeid))
        if self.baseline_command == DEFAULT_BASELINE_COMMAND:  # pytest takes the test's id
            return f"{self.baseline_command} {shlex.quote(nodeid)}"  # brackets: any POSIX shell
        return self.baseline_command

    def baseline_entry(self, nodeid: str) -> dict[str, Any] | None:
        entry = self.baseline.entries.get(nodeid) if self.baseline else None
        return (entry.get("extra_info") or {}) if entry is not None else None

    def base_entry(self, nodeid: str) -> dict[str, Any] | None:
        entry = self.base.entries.get(nodeid) if self.base else None
        return (entry.get("extra_info") or {}) if entry is not None else None

    def needs_base(self, nodeid: str, *, timed: bool = True) -> bool:
        """Whether the committed baseline leaves a figure of this test unjudged here: no entry,
        or a gate whose key (or exact key) this machine does not match. `timed=False`: the
        test times its timed rows A/B itself (timed_ab.MARKER), so they need no base run."""
        then = self.baseline_entry(nodeid)
        if not then:
            return True
        # what the test sets itself (its thread count, its numeric path), as recorded
        now = {name: then.get(name) for name in keys.ENTRY_FACTS.values()}
        for metric in gated_metrics(then).values():
            if metric.timed and not timed:
                continue
            for key in (metric.key, metric.exact_key):
                if metric.uses_baseline and key not in (None, "instructions"):
                    if key_mismatch(key, self.machines, (then, now)):
                        return True
        return False

    def time_note(self) -> str:
        """The headline about time gates: not applied against another machine kind, and why."""
        if self.baseline is None or not self.used_gate:
            return ""
        reason = kind_difference(self.machines)  # the engine's own words, one rule
        if not reason:
            return ""
        judges = [f"the {self.base.label}"] if self.base is not None else []
        if any(r.source.startswith(timed_ab.SOURCE) for r in self.rows):
            judges.append(f"timing {timed_ab.label(self.base_commit)}")
        if judges:
            name = self.baseline.path.name
            return f"{name}: {reason}; {' and '.join(judges)} judge what it cannot"
        return (
            f"time gates not applied against {self.baseline.path.name}: {reason}; exact and "
            "accuracy gates still ran"
        )

    def add(self, rows: list[GateRecord]) -> None:
        self.rows.extend(rows)

    def missing_rows(self) -> list[GateRecord]:
        """MISSING for every gated benchmark of the baseline that the run selected and that
        recorded nothing through its gate (a deselected test is not missing; one skipped is
        `not measured`, with its reason)."""
        rows: list[GateRecord] = []
        if self.baseline is None:
            return rows
        for nodeid in sorted(self.selected - self.recorded):
            then = self.baseline_entry(nodeid)
            if not then or not then.get(fields.GATES):
                continue
            group = self.baseline.entries[nodeid].get("group")
            for row in judge_entry(nodeid, then, None, self.machines, lane=lane_of(nodeid, group)):
                if nodeid in self.skipped:
                    why = f"skipped: {self.skipped[nodeid]}"
                    row = replace(row, verdict=Verdict.NOT_MEASURED, note=why)
                rows.append(row)
        return rows

    def is_stale(self, nodeid: str) -> bool:
        """A baseline entry of a test that no longer exists: in a module this run collected
        whole (a run of single tests cannot tell), and not collected."""
        if not self.whole_modules or nodeid in self.collected:
            return False
        return nodeid.split("::")[0] in self.collected_modules

    @functools.cached_property
    def collected_modules(self) -> set[str]:
        """The test files of what was collected (known once collection is done)."""
        return {name.split("::")[0] for name in self.collected}

    def stale_entries(self) -> list[str]:
        return sorted(filter(self.is_stale, self.baseline.entries)) if self.baseline else []

    def summary(self) -> list[tuple[str, str]]:
        """The gate summary as (line, colour) pairs: the baseline, the time-gate headline, the
        failures worst first, moved figures, one line per lane, the reasons for rows not
        applied or not measured, the totals, how to accept, stale entries."""
        out: list[tuple[str, str]] = []
        if self.baseline:
            out.append((f"baseline: {self.baseline.path}", ""))
        else:
            out.append((self.no_baseline_reason or "no baseline compared", ""))
        if self.base is not None:
            out.append((f"base run: {self.base.path} ({self.base.label})", ""))
        elif self.base_note:
            out.append((f"no base run: {self.base_note}", "yellow"))
        note = self.time_note()
        if note:
            out.append((note, "yellow"))
        env = environment_headline(self.machines, self.rows)
        if env:
            out.append((env, "yellow"))
        out += [(line, "red" if line.startswith("FAILED") else "") for line in summary_lines(self)]
        for status in (Verdict.NOT_MEASURED, Verdict.NOT_APPLIED):
            reasons: dict[tuple[str, str], int] = {}
            for row in self.rows:
                if row.status == status and row.note:
                    key = (row.metric.name, row.note)
                    reasons[key] = reasons.get(key, 0) + 1
            for (name, why), n in sorted(reasons.items())[:REASONS_SHOWN]:
                out.append((f"{name}: {status} for {n} benchmarks ({why})", "yellow"))
            if len(reasons) > REASONS_SHOWN:
                more = len(reasons) - REASONS_SHOWN
                out.append((f"... {more} more reasons (--gate-report FILE)", "yellow"))
        recount = sum(COUNTED_OTHERWISE in r.note for r in self.rows)
        if recount:
            out.append(
                (f"{recount} counts not applied until the baseline is recorded again: "
                 f"{self.baseline_command}", "yellow")
            )  # fmt: skip
        if self.compare_fail is not None:
            out += self.compare_fail.lines()
        counts = {s: sum(r.status == s for r in self.rows) for s in Verdict}
        failed = counts[Verdict.FAIL] + counts[Verdict.MISSING]
        out.append(
            (
                f"{len(self.rows)} metrics: {counts[Verdict.OK]} ok, {failed} failed"
                + (f" ({counts[Verdict.MISSING]} missing)" if counts[Verdict.MISSING] else "")
                + f", {counts[Verdict.NEW]} without baseline, "
                f"{counts[Verdict.NOT_APPLIED]} not applied, "
                f"{counts[Verdict.NOT_MEASURED]} not measured",
                "",
            )
        )
        if failed:
            one = f", or {self.accept_hint('NODEID')} (one test)" if self.accept_command else ""
            out.append((f"Accept intended changes: {self.baseline_command} (all){one}", ""))
        stale = self.stale_entries()
        if stale:
            shown = ", ".join(stale[:3]) + (" ..." if len(stale) > 3 else "")
            out.append(
                (
                    f"the baseline has {len(stale)} entries for tests that no longer exist "
                    f"({shown}); `{self.baseline_command}` drops them",
                    "yellow",
                )
            )
        return out

    def write_report(self, path: str | Path) -> None:
        """Every row, as JSON, atomically (`--gate-report`)."""
        from ..atomic import write_text_atomic

        rows = [r.to_dict() for r in self.rows]
        write_text_atomic(
            path, json.dumps({"format": fields.FORMAT, "rows": rows}, indent=2) + "\n"
        )


class Gate:
    """Per-test recorder: `gate.record(metric, value)` stores the figure in the benchmark's
    extra_info; `finish()`, called when the test body has returned, has every figure judged."""

    def __init__(self, session: GateSession, nodeid: str, benchmark: Any) -> None:
        self.session, self.nodeid, self.benchmark = session, nodeid, benchmark
        self.rows: list[GateRecord] = []
        self._pending: list[tuple[Metric, Callable[[], float] | None, int]] = []
        self._repeats: dict[str, Callable[[], float]] = {}
        self._ab: dict[str, Callable[[str], dict[str, Any]]] = {}

    def record(
        self,
        metric: Metric,
        value: float,
        *,
        remeasure: Callable[[], float] | None = None,
        attempts: int = 2,
        repeat: Callable[[], float] | None = None,
        ab: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        """Store `value` in extra_info, to be judged against the baseline and the bound.

        With `remeasure`, a failing value is measured again up to `attempts` times and the best
        is kept: a real regression persists, a slow stretch of a shared machine does not.
        With `repeat` (an exact figure: the same seeded work done again), a failing exact value
        is measured once more: if unchanged code does not repeat, the row says `not repeatable`
        and gets the metric's tolerance instead of failing every run; if it repeats, it fails.
        With `ab` (a timed figure): where no stored figure of this machine kind judges it and a
        base revision is known (--gate-base), `ab(commit)` times the base revision's work and
        this one's alternately and its result (`ABResult.as_dict()`) judges the row.
        """
        if not math.isfinite(value):
            raise ValueError(f"{metric.name} is {value}; a gated metric must be finite")
        extra = self.benchmark.extra_info
        extra[metric.name] = value
        extra.setdefault(fields.GATES, {})[metric.name] = metric.to_dict()
        self._pending.append((metric, remeasure, attempts))
        if repeat is not None:
            self._repeats[metric.name] = repeat
        if ab is not None:
            self._ab[metric.name] = ab

    def not_measured(self, metric: Metric, why: str) -> None:
        """A lane that could not run here: a row that says so, never a silent pass."""
        self._add(GateRecord(self.nodeid, metric, None, None, Verdict.NOT_MEASURED, why, self.lane))

    def not_applied(self, metric: Metric, value: float, why: str) -> None:
        """A figure measured and stored whose gate does not hold here (a budget for another
        machine kind): recorded, shown as not applied."""
        self.benchmark.extra_info[metric.name] = value
        self._add(GateRecord(self.nodeid, metric, value, None, Verdict.NOT_APPLIED, why, self.lane))

    @property
    def lane(self) -> str:
        return lane_of(self.nodeid, getattr(self.benchmark, "group", None))

    def finish(self) -> list[GateRecord]:
        """Judge every recorded figure (re-measuring failing ones that can be), then every
        metric the baseline gates that the test did not record (MISSING); the failures."""
        extra = self.benchmark.extra_info
        then = self.session.baseline_entry(self.nodeid)
        done: set[str] = {row.metric.name for row in self.rows}
        judged: list[tuple[Metric, GateRecord]] = []
        for metric, remeasure, attempts in self._pending:
            row = self._judge(metric, then, extra)
            no_ab = ""  # why a row that A/B would judge was not: said in its note
            if self._judged_ab(metric, row):
                timed, no_ab = self._timed_ab(metric, extra)
                if timed is not None:
                    judged.append((metric, timed))
                    done.add(metric.name)
                    continue
            tried = [extra[metric.name]]
            while remeasure is not None and row.failed and len(tried) <= attempts:
                tried.append(remeasure())
                best = min(tried) if metric.direction == "lower" else max(tried)
                extra[metric.name] = best
                row = self._judge(metric, then, extra)
            if len(tried) > 1:
                extra[f"{metric.name}_attempts"] = tried
            exact = metric.exact_key is not None and row.metric == metric.as_exact()
            if row.failed and exact and metric.name in self._repeats:
                row = self._repeat(metric, then, extra)
            if no_ab:
                row = replace(row, note="; ".join(filter(None, (row.note, no_ab))))
            judged.append((metric, row))
            done.add(metric.name)
        if NOT_REPEATABLE in extra:  # found on a later figure: earlier exact failures too
            judged = [
                (m, self._judge(m, then, extra) if r.failed and not m.timed else r)
                for m, r in judged
            ]
        for _, row in judged:
            self._add(row)
        for name, metric in gated_metrics(then or {}).items():
            if name not in done:  # the baseline gates it; this test did not record it: MISSING
                self._add(self._judge(metric, then, extra))
        self._pending.clear()
        self.session.recorded.add(self.nodeid)
        return self.failures()

    def _judged_ab(self, metric: Metric, row: GateRecord) -> bool:
        """A timed row that no stored figure of this machine kind judges (not applied, no
        entry, or judged by the base run's figure), with a base revision to time A/B with."""
        return (
            metric.name in self._ab
            and metric.timed
            and bool(self.session.base_commit)
            and (bool(row.source) or row.verdict in (Verdict.NOT_APPLIED, Verdict.NEW))
        )

    def _timed_ab(self, metric: Metric, extra: dict) -> tuple[GateRecord | None, str]:
        """The row judged A/B against the base revision (timed_ab.py), or None and why the
        lane could not time it (the base revision lacks the model, or does not import): then
        the row is judged as it would be without A/B."""
        commit = self.session.base_commit
        try:
            result = self._ab.pop(metric.name)(commit)
        except MnistBenchError as err:
            return None, f"no A/B against {commit[:10]}: {err}"
        extra[timed_ab.stored_key(metric.name)] = {**result, "revision": commit}
        return timed_ab.ab_record(self.nodeid, metric, result, commit, self.lane), ""

    def _repeat(self, metric: Metric, then: dict[str, Any] | None, extra: dict) -> GateRecord:
        """An exact figure that failed, measured once more: unchanged code that gives another
        value is not repeatable (every exact figure of the entry falls back to its tolerance,
        with the two values named); one that repeats is a real change and still fails."""
        again = self._repeats.pop(metric.name)()
        extra[f"{metric.name}_repeated"] = again
        if again != extra[metric.name] and NOT_REPEATABLE not in extra:
            extra[NOT_REPEATABLE] = (
                f"the same seeded run gave {metric.name} {extra[metric.name]!r}, then {again!r}"
            )
        return self._judge(metric, then, extra)

    def _judge(self, metric: Metric, then: dict[str, Any] | None, extra: dict) -> GateRecord:
        """Against the committed baseline; where that cannot judge the figure here (not
        applied, no entry, or not under its exact key), against the base run, if there is one."""
        s = self.session
        row = evaluate(
            metric, self.nodeid, then, extra, s.machines, time_tolerance=s.time_tolerance,
            lane=self.lane,
        )  # fmt: skip
        base = s.base_entry(self.nodeid)
        if base is None or not metric.uses_baseline or not _base_judges_better(metric, row):
            return row
        machines = (s.base.machine_info, s.machine_info)
        again = evaluate(
            metric, self.nodeid, base, extra, machines, time_tolerance=s.time_tolerance,
            lane=self.lane,
        )  # fmt: skip
        if again.verdict == Verdict.NOT_APPLIED and row.verdict != Verdict.NEW:
            return row
        return replace(again, source=s.base.label)

    def _add(self, row: GateRecord) -> None:
        self.rows.append(row)
        self.session.rows.append(row)

    def failures(self) -> list[GateRecord]:
        return [r for r in self.rows if r.failed]


def _base_judges_better(metric: Metric, row: GateRecord) -> bool:
    """The committed baseline did not judge this figure as its rule means it: not applied,
    no entry, or a band where it is exact under a key this machine does not match."""
    if row.verdict in (Verdict.NOT_APPLIED, Verdict.NEW):
        return True
    return metric.exact_key is not None and row.metric != metric.as_exact()


def environment_headline(
    machines: tuple[dict[str, Any], dict[str, Any]], rows: list[GateRecord]
) -> str:
    """ "environment: torch A -> B; N rows changed rule because of it (...)" where the run's
    package versions differ from the baseline's; "" where they match."""
    change = environment_change(machines)
    if not change:
        return ""
    moved = [r for r in rows if r.across]
    kinds = {
        "under the cross-environment band": sum(r.note.endswith(BAND_NOTE) for r in moved),
        "exact (training repeated bit for bit)": sum(r.note.endswith(REPEATED_NOTE) for r in moved),
        "at the tolerance (training did not repeat)": sum(
            r.note.endswith(NOT_REPEATED_NOTE) for r in moved
        ),
        "not applied": sum(r.verdict == Verdict.NOT_APPLIED for r in moved),
    }
    parts = ", ".join(f"{n} {what}" for what, n in kinds.items() if n)
    return f"environment: {change}; {len(moved)} rows changed rule because of it" + (
        f" ({parts})" if parts else ""
    )


def summary_lines(session: GateSession) -> list[str]:
    """The gate summary's body: failures worst first, figures that moved beyond half their
    tolerance, one line of totals per lane."""
    rows = session.rows
    failed = sorted((r for r in rows if r.failed), key=GateRecord.drift, reverse=True)
    lines: list[str] = []
    if failed:
        lines.append(f"FAILED ({len(failed)}), worst first:")
        lines += _table(failed[:SUMMARY_ROWS])
        if len(failed) > SUMMARY_ROWS:
            lines.append(f"... and {len(failed) - SUMMARY_ROWS} more (--gate-report FILE has all)")
    moved = sorted(  # `same`: an identical figure, or an A/B estimate that is not significant
        (
            r
            for r in rows
            if r.status == Verdict.OK and r.verdict != Verdict.SAME and 0.5 < r.drift() < math.inf
        ),
        key=GateRecord.drift,
        reverse=True,
    )
    if moved:
        lines.append(f"changed beyond half their tolerance ({len(moved)}), largest first:")
        lines += _table(moved[:5])
    by_lane: dict[str, dict[str, int]] = {}
    judged_by: dict[str, dict[str, int]] = {}  # lane -> the stored runs that judged its rows
    for row in rows:
        counts = by_lane.setdefault(row.lane_name, {})
        word = Verdict.FAIL if row.failed else row.status
        counts[word] = counts.get(word, 0) + 1
        if row.baseline is not None:
            by = judged_by.setdefault(row.lane_name, {})
            by[row.source or "committed"] = by.get(row.source or "committed", 0) + 1
    width = max((len(name) for name in by_lane), default=0)
    # what judged each lane, where anything but the committed baseline judged some row (a base
    # run, or a timed row timed A/B against the base revision)
    named = session.base is not None or any(set(by) - {"committed"} for by in judged_by.values())
    order = (Verdict.FAIL, Verdict.OK, Verdict.NEW, Verdict.NOT_APPLIED, Verdict.NOT_MEASURED)
    for name, counts in sorted(by_lane.items()):
        parts = [f"{counts[s]} {'failed' if s == 'FAIL' else s}" for s in order if s in counts]
        by = judged_by.get(name, {})
        ordered = sorted(by.items(), key=lambda item: (item[0] != "committed", item[0]))
        source = "; ".join(f"{n} by {what}" for what, n in ordered)
        line = f"{name:<{width}}  {sum(counts.values())} metrics: {', '.join(parts)}"
        lines.append(f"{line} ({source})" if named and source else line)
    return lines


def _table(rows: list[GateRecord]) -> list[str]:
    header = ["benchmark", "metric", "baseline", "now", "change", "allowed"]
    body = [[r.nodeid.split("::")[-1], *r.cells()] for r in rows]
    return text_table(header, body, left=2, indent="  ")
