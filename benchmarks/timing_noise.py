"""Run-to-run noise of the timed gate metrics: the data behind the time tolerances.

    pytest benchmarks --benchmark-json=a.json; pytest benchmarks --benchmark-json=b.json
    python benchmarks/timing_noise.py a.json b.json [c.json ...]

For every timed metric (latency_median_s, epoch_seconds) of every benchmark present in all runs
of unchanged code, the ratio of each later run to the first; prints the distribution per
metric and the smallest tolerance that none of these pairs exceeds, with a 25% margin.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

from mnist_models.gates.rules import gated_metrics
from mnist_models.measure.timing import quantile
from mnist_models.table import text_table


def timed_values(run: dict) -> dict[tuple[str, str], float]:
    out = {}
    for bench in run["benchmarks"]:
        extra = bench.get("extra_info", {})
        for name, metric in gated_metrics(extra).items():
            if metric.timed and name in extra:
                out[(name, bench["fullname"])] = extra[name]
    return out


RATIOS = ("median_ratio", "p5_ratio", "p95_ratio")


def noise_table(runs: list[dict]) -> dict[str, dict[str, float]]:
    first, *later = (timed_values(r) for r in runs)
    ratios: dict[str, list[float]] = {}
    for run in later:
        for key, value in run.items():
            if key in first and first[key] > 0:
                ratios.setdefault(key[0], []).append(value / first[key])
    table = {}
    for metric, values in sorted(ratios.items()):
        worst = max(max(values) - 1, 1 - min(values))
        table[metric] = {
            "pairs": len(values),
            "median_ratio": statistics.median(values),
            "p5_ratio": float(quantile(values, 0.05)),
            "p95_ratio": float(quantile(values, 0.95)),
            "min_ratio": min(values),
            "max_ratio": max(values),
            "worst_change": worst,
            "suggested_tolerance": math.ceil(worst * 1.25 * 20) / 20,
        }
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if len(args.runs) < 2:
        parser.error("give at least two runs of the same code")
    table = noise_table([json.loads(p.read_text()) for p in args.runs])
    header = ["metric", "pairs", "median", "p5", "p95", "min", "max", "suggested tolerance"]
    body = [
        [
            metric,
            str(row["pairs"]),
            *(f"{row[k]:.3f}" for k in (*RATIOS, "min_ratio", "max_ratio")),
            f"+{row['suggested_tolerance']:.0%}",
        ]
        for metric, row in table.items()
    ]
    print("\n".join(text_table(header, body)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
