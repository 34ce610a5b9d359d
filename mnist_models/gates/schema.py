"""What a saved run (pytest-benchmark JSON: a baseline or a `--benchmark-json` file) must hold
before a gate may trust it.

A gate must never pass because its input was missing, empty or malformed: a `null` baseline
value would turn an exact gate into "no baseline", an `Infinity` accuracy would count as
better. Every file is checked as it is loaded, and the first problem is named with the file,
the entry and the field (`SchemaError`: exit 2 in the CLI, a usage error, exit 4, in pytest).
"""

from __future__ import annotations

import json
from typing import Any

from .. import fields
from ..errors import MnistBenchError

FORMAT = fields.FORMAT  # the version of every file this tool writes (fields.py)

# pytest-benchmark's statistics: numbers wherever they appear
NUMERIC_STATS = (
    "min",
    "max",
    "mean",
    "stddev",
    "median",
    "iqr",
    "q1",
    "q3",
    "iqr_outliers",
    "stddev_outliers",
    "ld15iqr",
    "hd15iqr",
    "ops",
    "total",
    "rounds",
    "iterations",
)
# extra_info: every declared figure is a finite number and every declared context a string,
# wherever it appears (fields.py declares them)
NUMERIC_EXTRA = fields.NUMERIC
TEXT_EXTRA = fields.TEXT


class SchemaError(MnistBenchError):
    """A saved run or baseline that a gate cannot trust; the message names file, entry, field."""


def _refuse_constant(token: str) -> float:
    raise ValueError(f"{token} is not a number JSON allows")


def loads(text: str) -> Any:
    """json.loads, refusing NaN and Infinity (Python's json reads and writes them by default)."""
    return json.loads(text, parse_constant=_refuse_constant)


def is_number(value: object) -> bool:
    """A finite int or float (not a bool, not NaN, not infinite, not too large for a float)."""
    from .rules import is_finite_number

    return is_finite_number(value)


def _kind(value: object) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"[:60]


def validate_run(data: Any, source: str, *, allow_empty: bool = False) -> dict[str, Any]:
    """The run itself if it is sound; else a SchemaError naming the first problem."""
    from .rules import Metric

    if not isinstance(data, dict):
        raise SchemaError(f"{source}: the top level must be an object, got {_kind(data)}")
    benches = data.get("benchmarks")
    if not isinstance(benches, list):
        raise SchemaError(f"{source}: 'benchmarks' must be a list, got {_kind(benches)}")
    if not benches and not allow_empty:
        raise SchemaError(f"{source}: 'benchmarks' is empty; there is nothing to compare or show")
    if not isinstance(data.get("machine_info", {}), dict):
        raise SchemaError(
            f"{source}: 'machine_info' must be an object, got {_kind(data['machine_info'])}"
        )
    seen: set[str] = set()
    for i, bench in enumerate(benches):
        at = f"{source}: benchmarks[{i}]"
        if not isinstance(bench, dict):
            raise SchemaError(f"{at} must be an object, got {_kind(bench)}")
        name = bench.get("fullname")
        if not isinstance(name, str) or not name:
            raise SchemaError(f"{at}: 'fullname' must be a non-empty string, got {_kind(name)}")
        at = f"{source}: {name}"
        if name in seen:
            raise SchemaError(f"{at} appears twice")
        seen.add(name)
        stats = bench.get("stats")
        if not isinstance(stats, dict):
            raise SchemaError(f"{at}: 'stats' must be an object, got {_kind(stats)}")
        for key in NUMERIC_STATS:
            if key in stats and not is_number(stats[key]):
                raise SchemaError(
                    f"{at}: stats.{key} must be a finite number, got {_kind(stats[key])}"
                )
        extra = bench.get("extra_info", {})
        if not isinstance(extra, dict):
            raise SchemaError(f"{at}: 'extra_info' must be an object, got {_kind(extra)}")
        for key in NUMERIC_EXTRA:
            if key in extra and not is_number(extra[key]):
                raise SchemaError(
                    f"{at}: extra_info.{key} must be a finite number, got {_kind(extra[key])}"
                )
        for key in TEXT_EXTRA:
            if key in extra and not isinstance(extra[key], str):
                raise SchemaError(
                    f"{at}: extra_info.{key} must be a string, got {_kind(extra[key])}"
                )
        gates = extra.get(fields.GATES, {})
        if not isinstance(gates, dict):
            raise SchemaError(f"{at}: extra_info.gates must be an object, got {_kind(gates)}")
        for metric, spec in gates.items():
            try:
                if not isinstance(spec, dict) or spec.get("name") != metric:
                    raise TypeError("not a metric declaration for this name")
                Metric.from_dict(spec)
            except (TypeError, ValueError) as err:
                raise SchemaError(
                    f"{at}: extra_info.gates.{metric} is not a valid gate ({err})"
                ) from None
            if metric not in extra:
                raise SchemaError(f"{at}: gated metric extra_info.{metric} is missing")
            if not is_number(extra[metric]):
                raise SchemaError(
                    f"{at}: gated metric extra_info.{metric} must be a finite number, "
                    f"got {_kind(extra[metric])}"
                )
    return data


AB_QUANTILES = ("p50", "p99")  # what the pull-request summary shows of each A/B estimate
AB_FIGURES = ("ratio", "low", "high", "baseline_us")


def validate_ab(data: Any, source: str) -> dict[str, Any]:
    """The JSON of `mnist-models compare --json -o FILE` if it is sound enough to show; else a
    SchemaError naming the row and the field."""
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise SchemaError(f"{source} has no 'results' list; give compare's JSON")
    for i, row in enumerate(results):
        at = f"{source}: results[{i}]"
        if not isinstance(row, dict) or not isinstance(row.get("label"), str):
            raise SchemaError(f"{at} must be an object with a 'label' string")
        estimates = row.get("estimates")
        if estimates in (None, {}):
            continue  # a model not in the baseline revision
        if not isinstance(estimates, dict):
            raise SchemaError(f"{at}.estimates must be an object, got {_kind(estimates)}")
        for q in AB_QUANTILES:
            figures = estimates.get(q)
            if not isinstance(figures, dict):
                raise SchemaError(f"{at}.estimates.{q} is missing or not an object")
            for name in AB_FIGURES:
                if not is_number(figures.get(name)):
                    raise SchemaError(
                        f"{at}.estimates.{q}.{name} must be a finite number, "
                        f"got {_kind(figures.get(name))}"
                    )
    counts = data.get(fields.INSTRUCTIONS, [])
    if not isinstance(counts, list):
        raise SchemaError(f"{source}: 'instructions' must be a list, got {_kind(counts)}")
    for i, row in enumerate(counts):
        at = f"{source}: instructions[{i}]"
        if not isinstance(row, dict) or not isinstance(row.get("nodeid"), str):
            raise SchemaError(f"{at} must be an object with a 'nodeid' string")
        for name in ("baseline", "now"):
            if row.get(name) is not None and not is_number(row.get(name)):
                raise SchemaError(f"{at}.{name} must be a number, got {_kind(row.get(name))}")
        if not isinstance(row.get("verdict"), str) or not isinstance(row.get("rule"), dict):
            raise SchemaError(f"{at} needs a 'verdict' string and a 'rule' object")
        from .record import GateRecord

        try:
            GateRecord.from_dict(row)
        except (KeyError, TypeError, ValueError) as err:
            raise SchemaError(f"{at} is not a gate row ({err})") from None
    return data
