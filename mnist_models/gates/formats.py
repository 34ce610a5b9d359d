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
from . import keys
from .schema import SchemaError

# What each version changed, for the reader of an old file.
CHANGES = {
    0: "no version field (files written before the format was recorded)",
    1: "runs and baselines carry `mnist_bench.format`; gate declarations beside each figure",
    2: "the instruction lane's pytest-benchmark statistics are its counted instructions per "
    "call (the lane's timer reads callgrind's count), not the time of the lookup that fetched "
    "them; every JSON file the tool writes carries its format",
    3: "a gate declaration's `scope` is its determinism `key` and `exact_within` its "
    "`exact_key` (the key `environment` is `numerics`, gates/keys.py); baseline entries carry "
    "`key_facts`, the facts of the machine that recorded them",
}
# format 3's names for what format 2 declared
_RENAMED = (("scope", "key"), ("exact_within", "exact_key"))
_KEYS_RENAMED = {"environment": "numerics"}
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


def upgrade_declaration(spec: Any) -> Any:
    """A gate declaration of any known format as format 3 names it (anything else unchanged,
    for its reader to refuse)."""
    if not isinstance(spec, dict) or not any(old in spec for old, _ in _RENAMED):
        return spec
    out = {k: v for k, v in spec.items() if k not in dict(_RENAMED)}
    for old, new in _RENAMED:
        if old in spec and new not in out:
            out[new] = _KEYS_RENAMED.get(spec[old], spec[old])
    return out


def _upgrade_gates(bench: dict[str, Any]) -> dict[str, Any]:
    extra = bench.get("extra_info")
    gates = extra.get(fields.GATES) if isinstance(extra, dict) else None
    if not isinstance(gates, dict):
        return bench
    upgraded = {name: upgrade_declaration(spec) for name, spec in gates.items()}
    return {**bench, "extra_info": {**extra, fields.GATES: upgraded}}


def with_key_facts(bench: Any, machine_info: dict[str, Any]) -> Any:
    """An entry with the facts of the machine that recorded it, where a gate of it is keyed by
    facts (gates/keys.py) and it has none yet: a baseline may hold entries of several machine
    kinds, each judged under its own key."""
    extra = bench.get("extra_info") if isinstance(bench, dict) else None
    if not isinstance(extra, dict) or fields.KEY_FACTS in extra:
        return bench
    gates = extra.get(fields.GATES)
    declared = gates.values() if isinstance(gates, dict) else ()
    if not any(
        isinstance(spec, dict)
        and (spec.get("key") in keys.KEYS or spec.get("exact_key") in keys.KEYS)
        for spec in map(upgrade_declaration, declared)
    ):
        return bench
    return {**bench, "extra_info": {**extra, fields.KEY_FACTS: keys.facts_of(machine_info)}}


def upgrade_run(data: dict[str, Any], source: str) -> dict[str, Any]:
    """A pytest-benchmark run or baseline of any known version as the current version writes
    it (validated by the caller). Gated values are never touched: from 0 and 1, the
    instruction entries' statistics change to the count they gate; from 2, the declarations'
    names (upgrade_declaration)."""
    found = version(data, source)
    if found >= fields.FORMAT:
        return data
    benchmarks = []
    for bench in data.get("benchmarks", []):
        extra = bench.get("extra_info") if isinstance(bench, dict) else None
        count = extra.get(fields.INSTRUCTIONS) if isinstance(extra, dict) else None
        if found < 2 and bench.get("group") == "instructions" and isinstance(count, int | float):
            options = {**(bench.get("options") or {}), "timer": COUNTED_TIMER}
            bench = {**bench, "stats": counted_stats(count), "options": options}
        benchmarks.append(_upgrade_gates(bench) if isinstance(bench, dict) else bench)
    if found < 3:  # the entries carry their key facts: those of the run's machine
        info = data.get("machine_info") if isinstance(data.get("machine_info"), dict) else {}
        benchmarks = [with_key_facts(b, info) for b in benchmarks]
    block = data.get("mnist_bench") if isinstance(data.get("mnist_bench"), dict) else {}
    return {**data, "benchmarks": benchmarks, "mnist_bench": {**block, "format": fields.FORMAT}}


def check(data: Any, source: str) -> Any:
    """Any other file the tool writes (gate report, study results, run store, history store,
    compare's JSON): its version is known; no earlier version differs in what these hold."""
    version(data, source)
    return data
