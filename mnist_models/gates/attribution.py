"""Why a gated figure moved: the difference between the baseline's and the run's breakdown of
it, shown under a failing row. A lane stores the breakdown beside the figure, in extra_info:

    "attribution": {"instructions": {"per": 5, "source": "callgrind",
                                     "operator": {"aten::addmm": [calls, cost], ...},
                                     "library": {"libtorch_cpu.so": [0, cost], ...}}}

`per` is how many calls (or steps) the totals cover: the lines speak per call; `count` names
what the first number counts (default "calls"; the memory lane's sites count "tensors").
Items that came or went or whose count changed come first (an added operation), then the
largest moves of cost.
No torch.
"""

from __future__ import annotations

from typing import Any

from .. import fields

FIELD = fields.ATTRIBUTION
LINES = 6  # under a failing row: the few lines that say what moved, worst first


def breakdown(entry: dict[str, Any] | None, metric: str) -> dict[str, Any] | None:
    """The stored breakdown of `metric` in an entry's extra_info, or None."""
    found = ((entry or {}).get(FIELD) or {}).get(metric)
    return found if isinstance(found, dict) else None


def _per(part: dict[str, Any]) -> float:
    per = part.get("per", 1)
    return float(per) if isinstance(per, int | float) and per > 0 else 1.0


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:,.1f}"


def explain(metric: str, then: dict[str, Any] | None, now: dict[str, Any] | None,
            limit: int | None = LINES) -> list[str]:  # fmt: skip
    """Lines naming what moved between the two breakdowns of `metric` (empty when either
    side has none), per call: `operator aten::isnan  calls 0 -> 1  +7,024 (0 -> 7,024)`."""
    old, new = breakdown(then, metric), breakdown(now, metric)
    if old is None or new is None:
        return []
    per_old, per_new = _per(old), _per(new)
    word = str(new.get("count") or "calls")  # what the first number counts
    moves: list[tuple[bool, float, str]] = []
    for group in sorted({*old, *new} - {"per", "source", "count"}):
        before, after = old.get(group) or {}, new.get(group) or {}
        if not isinstance(before, dict) or not isinstance(after, dict):
            continue
        for item in {*before, *after}:
            c0, v0 = (before.get(item) or [0, 0])[:2]
            c1, v1 = (after.get(item) or [0, 0])[:2]
            c0, v0, c1, v1 = c0 / per_old, v0 / per_old, c1 / per_new, v1 / per_new
            if c0 == c1 and v0 == v1:
                continue
            calls = f"{word} {_fmt(c0)} -> {_fmt(c1)}" if c0 != c1 else ""
            text = (f"{group} {item}", calls, f"{v1 - v0:+,.0f}", f"({_fmt(v0)} -> {_fmt(v1)})")
            added = c0 != c1 or (v0 == 0) != (v1 == 0)  # a count changed, an item came or went
            moves.append((added, abs(v1 - v0), "  ".join(t for t in text if t)))
    moves.sort(key=lambda m: (not m[0], -m[1], m[2]))  # ties by name: the same order every run
    shown = moves if limit is None else moves[:limit]
    lines = [m[2] for m in shown]
    if limit is not None and len(moves) > limit:
        lines.append(f"... {len(moves) - limit} more (mnist-models explain)")
    return lines


def heading(metric: str, now: dict[str, Any] | None) -> str:
    """The line above the moves: what they are measured by, and per what."""
    part = breakdown(now, metric) or {}
    source = part.get("source") or "the lane"
    return f"what moved in {metric} ({source}, per call; baseline -> now):"
