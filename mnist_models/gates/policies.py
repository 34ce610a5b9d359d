"""The policy table: for every gated metric of a baseline, its policy, its determinism key and
its tolerance, read from the declarations the entries store (docs/determinism-keys.md shows the
committed baseline's; a test keeps the two the same). No torch."""

from __future__ import annotations

from typing import Any

from ..table import markdown_table
from . import keys
from .record import lane_of
from .rules import Metric, gated_metrics


def _tolerance(metric: Metric) -> str:
    if metric.policy == "budget":
        return f"<= {metric.format(metric.bound)} (named machine kind)" if metric.bound else "-"
    parts = []
    if metric.rel_tol:
        parts.append(f"{metric.rel_tol:.1%}")
    if metric.abs_tol:
        parts.append(metric.format(metric.abs_tol) if metric.unit != "%" else
                     f"{100 * metric.abs_tol:.2f} pp")  # fmt: skip
    band = ("+-" if metric.two_sided else "") + " or ".join(parts) if parts else "exact"
    if metric.bound is not None:
        band += f"; {'>=' if metric.direction == 'higher' else '<='} {metric.format(metric.bound)}"
    if metric.across_versions is not None:
        band += f"; {metric.across_versions:.1%} across torch versions"
    return band


def policy_rows(benchmarks: list[dict[str, Any]]) -> list[list[str]]:
    """lane, metric, policy, key, exact under, tolerance, benchmarks: one row per distinct
    declaration (a bound that differs per benchmark is shown as `per benchmark`)."""
    seen: dict[tuple[str, ...], int] = {}
    for bench in benchmarks:
        lane = lane_of(bench["fullname"], bench.get("group"))
        for metric in gated_metrics(bench.get("extra_info") or {}).values():
            tolerance = _tolerance(metric)
            if metric.bound is not None and metric.policy not in ("budget",):
                tolerance = tolerance.split(";")[0] + "; floor per benchmark"
            if metric.policy == "budget":
                tolerance = "a ceiling per benchmark"
            row = (
                lane,
                metric.name,
                metric.policy,
                keys.describe(metric.key),
                "" if metric.exact_key is None else metric.exact_key,
                tolerance,
            )
            seen[row] = seen.get(row, 0) + 1
    return [[*row, str(n)] for row, n in sorted(seen.items())]


def policy_table(benchmarks: list[dict[str, Any]]) -> list[str]:
    header = ["lane", "metric", "policy", "key", "exact under", "tolerance", "benchmarks"]
    return markdown_table(header, policy_rows(benchmarks), left=6)
