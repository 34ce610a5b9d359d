"""A judged gate: `GateRecord`, one metric of one benchmark with its verdict, as the gate table,
`--gate-report`, `report` and the pull-request summary show it, and the gate table's text. The
engine (engine.py) makes them; nothing here judges."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..table import text_table
from ..verdicts import FAILING, Verdict
from .rules import Metric

# The verdicts of a gate that held, shown as `ok` in the gate table (the plugin's word); `report`
# and the pull-request summary show the finer word (same, better, worse (allowed)).
PASSED = frozenset({Verdict.OK, Verdict.SAME, Verdict.BETTER, Verdict.WORSE_ALLOWED})

Machines = tuple[dict[str, Any], dict[str, Any]]  # (the baseline's machine_info, the new run's)


@dataclass(frozen=True)
class GateRecord:
    """One metric of one benchmark, judged: a row of the gate table, of `--gate-report`, of
    `report` and of the pull-request summary."""

    nodeid: str
    metric: Metric  # the rule that applied (exact where the figure repeats, say)
    now: float | None  # None: not measured here, or MISSING from the new run
    baseline: float | None
    verdict: Verdict
    note: str = ""  # which rule applied, or why the baseline did not apply
    lane: str = ""  # the benchmark's group (its lane); "" for the module's name
    # the environment change ("torch 2.14.1 -> 2.13.0") that made this row take another rule
    # than it would in the baseline's environment; "" where the environments match
    across: str = ""
    # for a failing row: what moved inside the figure (attribution.explain), worst first
    why: tuple[str, ...] = ()
    # the stored run that judged it: "" for the baseline compared, else its label
    # ("base run of REV here", gates/base_run.py)
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "verdict", Verdict(self.verdict))

    @property
    def status(self) -> Verdict:
        """The gate table's word: `ok` for every verdict of a gate that held."""
        return Verdict.OK if self.verdict in PASSED else self.verdict

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING

    @property
    def lane_name(self) -> str:
        return self.lane or lane_of(self.nodeid)

    def to_dict(self) -> dict[str, Any]:
        """The `--gate-report` entry: the figures, the verdict, and the whole rule applied."""
        return {
            "nodeid": self.nodeid,
            "metric": self.metric.name,
            "direction": str(self.metric.direction),
            "baseline": self.baseline,
            "now": self.now,
            "status": str(self.status),
            "verdict": str(self.verdict),
            "allowed": self.metric.allowed_text(self.baseline),
            "note": self.note,
            "lane": self.lane_name,
            "rule": self.metric.to_dict(),
            "across": self.across,
            "why": list(self.why),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> GateRecord:
        """An entry of a gate report; reports written before `rule` (or `verdict`, `lane`) was
        recorded give the metric's name and direction and the table's word only."""
        rule = entry.get("rule") or {"name": entry["metric"], "direction": entry["direction"]}
        return cls(
            entry["nodeid"],
            Metric.from_dict(rule),
            entry.get("now"),
            entry.get("baseline"),
            Verdict(entry.get("verdict") or entry["status"]),
            entry.get("note", ""),
            entry.get("lane", ""),
            entry.get("across", ""),
            tuple(entry.get("why") or ()),
            entry.get("source", ""),
        )

    def change_text(self) -> str:
        if self.now is None:
            return "missing" if self.verdict == Verdict.MISSING else "-"
        return self.metric.change_text(self.now, self.baseline)

    def allowed_with_note(self) -> str:
        """What the rule allows, with the stored run that judged it and why ("exact (kernels
        key: isa AVX512 vs AVX2)")."""
        allowed = self.metric.allowed_text(self.baseline)
        note = "; ".join(filter(None, (self.source, self.note)))
        return f"{allowed} ({note})" if note else allowed

    def cells(self) -> list[str]:
        """metric, baseline, now, change, allowed (with the note): the gate table's columns."""
        m = self.metric
        return [
            m.name,
            m.format(self.baseline),
            m.format(self.now),
            self.change_text(),
            self.allowed_with_note(),
        ]

    def drift(self) -> float:
        """How far the figure moved, in units of its tolerance (inf: MISSING, or any move of a
        figure allowed none)."""
        if self.verdict == Verdict.MISSING:
            return float("inf")
        return drift(self.metric, self.baseline, self.now)


def render_table(rows: Iterable[GateRecord]) -> str:
    header = ["metric", "baseline", "now", "change", "allowed"]
    rows = list(rows)
    lines = text_table(header, [r.cells() for r in rows])
    for row in rows:  # under the table: what moved inside each failing figure
        if row.why:
            lines += [row.why[0], *(f"  {line}" for line in row.why[1:])]
    return "\n".join(lines)


def lane_of(nodeid: str, group: str | None = None) -> str:
    """A benchmark's lane: the group it declares (`@pytest.mark.benchmark(group=...)`), else its
    module's name without `bench_`/`test_`. Nothing here knows any project's file names."""
    if group:
        return group
    stem = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    return stem.removeprefix("bench_").removeprefix("test_")


def drift(metric: Metric, baseline: float | None, now: float | None) -> float:
    """How far a figure moved from its baseline, in units of its tolerance (0: not at all or
    nothing to compare; inf: any move of a figure allowed none)."""
    if now is None or baseline is None or now == baseline:
        return 0.0
    scale = max(metric.rel_tol * abs(baseline), metric.abs_tol)
    return abs(now - baseline) / scale if scale else float("inf")
