"""The line a dependency bump's summary leads with: what the upgrade did to instructions,
latency and numerics, read from `compare --env`'s JSON."""

from __future__ import annotations

from typing import Any

from .. import fields
from ..gates.record import GateRecord
from ..verdicts import Verdict


def ab_verdict(result: dict[str, Any]) -> Verdict | None:
    """The verdict an A/B result file recorded (older files wrote `slower`/`faster`)."""
    try:
        return Verdict(result.get("verdict"))
    except ValueError:
        return None


def environment_summary(ab: dict[str, Any]) -> str:
    """The one line a dependency bump's summary leads with: the versions that changed, then
    what they did to instructions, latency and numerics ("torch 2.13.0 -> 2.14.1:
    instructions within 0.6% on all 15 cases; latency p50 -1.2% (median of 10 rows) ...")."""
    head = str(ab.get("headline") or "environment: ?").removeprefix("environment: ")
    parts = []
    counts = [GateRecord.from_dict(r) for r in ab.get(fields.INSTRUCTIONS) or []]
    if counts:
        moved = [c for c in counts if c.failed]
        changes = [abs(c.now / c.baseline - 1) for c in counts if c.now is not None and c.baseline]
        if moved:
            worst = max(moved, key=lambda c: abs(c.now / c.baseline - 1) if c.baseline else 0)
            parts.append(
                f"instructions: {len(moved)} of {len(counts)} cases outside their band "
                f"(worst {worst.nodeid} {worst.change_text()})"
            )
        elif changes:
            parts.append(
                f"instructions within {100 * max(changes):.2f}% on all {len(counts)} cases"
            )
    rows = [r for r in ab.get("results", []) if (r.get("estimates") or {}).get("p50")]
    if rows:
        ratios = sorted(r["estimates"]["p50"]["ratio"] for r in rows)
        mid = ratios[len(ratios) // 2]
        slower = sum(ab_verdict(r) == Verdict.FAIL for r in rows)
        parts.append(
            f"latency p50 {100 * (mid - 1):+.1f}% (median of {len(rows)} rows, {slower} slower)"
        )
    numerics = ab.get("numerics") or {}
    if numerics:
        same = sum(str(v.get("verdict", "")).startswith("identical") for v in numerics.values())
        parts.append(f"outputs identical to the bit on {same} of {len(numerics)} models")
    return head + (": " + "; ".join(parts) if parts else "")
