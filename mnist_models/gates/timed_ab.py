"""A timed row judged A/B: the base revision's code and this one's timed alternately in one
process, as `mnist-models compare` does (ab/abtest.py's decision rule), where no stored figure
of this machine kind can judge the row. The lane does the timing (it knows how to build both
sides); this module turns its result into the gate's row. No torch.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..verdicts import Verdict
from .record import GateRecord
from .rules import Metric

# A test whose lane times its timed rows A/B against the base revision itself: the base run
# need not measure them (plugin.py registers it; the suite marks its latency and training).
MARKER = "timed_ab"
STATISTICS = ("p50", "p90", "p99")
SOURCE = "A/B against"  # how an A/B row's source begins


def stored_key(metric: str) -> str:
    """Where a run stores a metric's A/B result beside its figure (extra_info)."""
    return f"{metric}_ab"


def label(revision: str) -> str:
    """What judged an A/B row (its source), as the summary names it per lane."""
    return f"{SOURCE} {revision[:10]} here"


def _describe(estimate: dict[str, Any]) -> str:
    ratio, low, high = (100 * (estimate[k] - 1) for k in ("ratio", "low", "high"))
    return f"{ratio:+.1f}% [{low:+.1f}%, {high:+.1f}%]"


def ab_record(
    nodeid: str, metric: Metric, result: dict[str, Any], revision: str, lane: str = ""
) -> GateRecord:
    """The row of a timed metric judged by an A/B result (`ABResult.as_dict()`): the base
    side's p50 per call in microseconds and this side's as the A/B estimate puts it (the base's
    times the p50 ratio, so that the change column is the estimate), the verdict of the A/B
    rule (FAIL: slower, significant and beyond its smallest effect, in a first timing and
    again), the estimate that decided in the note."""
    estimates = result["estimates"]
    verdict = Verdict(result["verdict"])
    if verdict not in (Verdict.FAIL, Verdict.BETTER):
        verdict = Verdict.SAME
    failing = [s for s in STATISTICS if estimates[s].get("verdict") == Verdict.FAIL]
    shown = failing[0] if failing else "p50"
    p50 = estimates["p50"]
    rule = replace(
        metric, unit="us", rel_tol=float(p50["min_effect"]), abs_tol=0.0, bound=None,
        two_sided=False,
    )  # fmt: skip
    note = f"{shown} {_describe(estimates[shown])}"
    if result.get("first") and result["first"] != result["verdict"]:
        note += f"; first timing {result['first']}, not repeated"
    base = float(p50["baseline_us"])
    return GateRecord(
        nodeid, rule, base * float(p50["ratio"]), base, verdict, note, lane,
        source=label(revision),
    )  # fmt: skip
