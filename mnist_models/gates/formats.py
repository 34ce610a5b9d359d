"""Files of older format versions read as the current one: the one module that knows what
changed between versions (`fields.FORMAT` is the version written now). No torch.

A JSON file the tool writes carries its version: pytest-benchmark runs and baselines in their
`mnist_bench` block, the others (gate report, study results, run store, history store, compare's
JSON) at the top level. A file without one is format 0. A file of a newer version than this
package knows is refused with the fix, never half-read.
"""

from __future__ import annotations

from typing import Any

from .. import fields
from .schema import SchemaError

# What each version changed, for the reader of an old file.
CHANGES = {
    0: "no version field (files written before the format was recorded)",
    1: "runs and baselines carry `mnist_bench.format`; gate declarations beside each figure",
    2: "the instruction lane's pytest-benchmark statistics are its counted instructions per "
    "call (the lane's timer reads callgrind's count), not the time of the lookup that fetched "
    "them; every JSON file the tool writes carries its format",
}
COUNTED_TIMER = "callgrind_instructions"  # the instruction lane's timer, as runs name it


def version(data: Any, source: str) -> int:
    """The format of a loaded file (0 without one); a SchemaError for a newer or a malformed
    version, naming the file and the fix."""
    block = data.get("mnist_bench") if isinstance(data, dict) else None
    found = (block or {}).get("format") if isinstance(block, dict) else None
    if found is None and isinstance(data, dict):
        found = data.get("format")
    if found is None:
        return 0
    if not isinstance(found, int) or isinstance(found, bool) or found < 0:
        raise SchemaError(f"{source}: 'format' must be a whole number >= 0, got {found!r}")
    if found > fields.FORMAT:
        raise SchemaError(
            f"{source} is format {found}, written by a newer mnist-bench (this one reads up "
            f"to {fields.FORMAT}); read it with the mnist-bench that wrote it, or update this one"
        )
    return found


def counted_stats(count: float) -> dict[str, Any]:
    """pytest-benchmark's statistics of one round whose 'time' is `count` instructions: what
    the instruction lane saves from format 2 on."""
    return {
        **dict.fromkeys(("min", "max", "mean", "median", "q1", "q3", "ld15iqr", "hd15iqr"), count),
        **dict.fromkeys(("stddev", "iqr", "iqr_outliers", "stddev_outliers"), 0),
        "outliers": "0;0",
        "ops": 1 / count if count else 0.0,
        "total": count,
        "rounds": 1,
        "iterations": 1,
    }


def upgrade_run(data: dict[str, Any], source: str) -> dict[str, Any]:
    """A pytest-benchmark run or baseline of any known version as the current version writes
    it (validated by the caller). Gated values are never touched: from 0 and 1, only the
    instruction entries' statistics change, to the count they gate."""
    found = version(data, source)
    if found >= fields.FORMAT:
        return data
    benchmarks = []
    for bench in data.get("benchmarks", []):
        extra = bench.get("extra_info") if isinstance(bench, dict) else None
        count = extra.get(fields.INSTRUCTIONS) if isinstance(extra, dict) else None
        if bench.get("group") == "instructions" and isinstance(count, int | float):
            options = {**(bench.get("options") or {}), "timer": COUNTED_TIMER}
            bench = {**bench, "stats": counted_stats(count), "options": options}
        benchmarks.append(bench)
    block = data.get("mnist_bench") if isinstance(data.get("mnist_bench"), dict) else {}
    return {**data, "benchmarks": benchmarks, "mnist_bench": {**block, "format": fields.FORMAT}}


def check(data: Any, source: str) -> Any:
    """Any other file the tool writes (gate report, study results, run store, history store,
    compare's JSON): its version is known; no earlier version differs in what these hold."""
    version(data, source)
    return data
