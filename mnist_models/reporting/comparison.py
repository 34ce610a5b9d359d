"""Two saved runs' gate records as the text `report --against` prints: the changed metrics, then
the count of each verdict (the engine judged them: gates/engine.py)."""

from __future__ import annotations

from typing import Any

from ..gates.record import GateRecord
from ..table import text_table
from ..verdicts import Verdict

# verdicts listed only with --all: nothing moved, or nothing to compare with
QUIET = (Verdict.SAME, Verdict.OK, Verdict.NEW, Verdict.NOT_APPLIED)


def render_comparison(changes: list[GateRecord], info: dict[str, Any], *, show_same: bool) -> str:
    """Changed metrics (all with show_same) as a table, then counts per verdict."""
    shown = [c for c in changes if show_same or c.verdict not in QUIET]
    header = ["benchmark", "metric", "baseline", "now", "change", "allowed", "verdict"]
    body = [
        [
            c.nodeid.split("::", 1)[-1],
            c.metric.name,
            c.metric.format(c.baseline),
            c.metric.format(c.now),
            c.change_text(),
            c.allowed_with_note(),
            c.verdict,
        ]
        for c in shown
    ]
    lines = text_table(header, body, left=2) if body else []
    counts = {
        v: sum(c.verdict == v for c in changes)
        for v in (
            Verdict.FAIL,
            Verdict.WORSE_ALLOWED,
            Verdict.BETTER,
            Verdict.SAME,
            Verdict.NOT_APPLIED,
            Verdict.MISSING,
            Verdict.NEW,
        )
    }
    lines.append(
        f"{len(changes)} metrics compared: {counts[Verdict.FAIL]} worse beyond their gate, "
        f"{counts[Verdict.MISSING]} missing from the new run, "
        f"{counts[Verdict.WORSE_ALLOWED]} worse within it, {counts[Verdict.BETTER]} better, "
        f"{counts[Verdict.SAME]} the same"
        + (f", {counts[Verdict.NEW]} new (no baseline figure)" if counts[Verdict.NEW] else "")
        + (
            f", {counts[Verdict.NOT_APPLIED]} not applied (each row's note says why)"
            if counts[Verdict.NOT_APPLIED]
            else ""
        )
    )
    if info["only_in_baseline"] or info["only_in_new"]:
        lines.append(
            f"{len(info['only_in_new'])} benchmarks only in the new run, "
            f"{len(info['only_in_baseline'])} only in the baseline (not compared)"
        )
    return "\n".join(lines)
