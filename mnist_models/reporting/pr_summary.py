"""The pull-request summary in Markdown: the verdict, failures and notable changes worst first,
totals per lane, the A/B tables of `compare`, links to the plots."""

from __future__ import annotations

from typing import Any

from .. import fields
from ..gates.record import GateRecord
from ..table import markdown_table, md_code, md_link, md_text
from ..verdicts import FAILING, Verdict
from .ab_summary import ab_verdict, environment_summary

MARKDOWN_ROWS = 30


def _allowed(record: GateRecord) -> str:
    """The allowed cell, with what judged the row where it was not the baseline compared (an
    A/B row: `<= 3375 us (A/B against 0123456789 here)`)."""
    allowed = record.metric.allowed_text(record.baseline)
    return f"{allowed} ({record.source})" if record.source else allowed


def notable(changes: list[GateRecord]) -> list[GateRecord]:
    """What a reviewer must see, worst first: failures, then figures that moved beyond half
    their tolerance (better or worse)."""
    failed = [c for c in changes if c.failed]
    moved = [
        c
        for c in changes
        if c.verdict in (Verdict.BETTER, Verdict.WORSE_ALLOWED) and c.drift() > 0.5
    ]
    key = GateRecord.drift
    return sorted(failed, key=key, reverse=True) + sorted(moved, key=key, reverse=True)


def render_markdown(
    changes: list[GateRecord],
    info: dict[str, Any],
    *,
    new: str,
    base: str,
    machine: list[str] | None = None,
    ab: dict[str, Any] | list[dict[str, Any]] | None = None,
    links: str | None = None,
) -> str:
    """The pull-request summary: verdict, failures and notable changes worst first, totals per
    lane, the A/B table of `compare --json` when given, links to the plots. The first line is a
    marker a workflow finds its earlier comment by; `changed=` says whether to post at all."""
    shown = notable(changes)
    failed = [c for c in changes if c.verdict in FAILING]
    comparisons = [ab] if isinstance(ab, dict) else list(ab or [])
    slower = [
        r["label"]
        for one in comparisons
        for r in one.get("results", [])
        if ab_verdict(r) == Verdict.FAIL
    ]
    moved = [
        r.get("nodeid")
        for one in comparisons
        for r in one.get(fields.INSTRUCTIONS, [])
        if _failed(r)
    ]
    changed = bool(shown or slower or moved)
    icon = "❌" if failed or slower else ("⚠️" if changed else "✅")
    lines = [
        f"<!-- mnist-bench-report changed={str(changed).lower()} -->",
        f"## {icon} mnist-bench: "
        + (f"{len(failed)} gated metrics regressed" if failed else "no gated metric regressed")
        + (f", {len(slower)} slower in the A/B comparison" if slower else "")
        + (f", {len(moved)} instruction counts moved by the environment" if moved else ""),
        "",
    ]
    for one in comparisons:  # a dependency bump leads with what the upgrade did
        if one.get("environments"):
            lines += [f"**{md_text(environment_summary(one))}**", ""]
    lines += [
        f"{md_code(new)} against {md_code(base)}: {len(changes)} gated metrics compared."
        + (f" {md_text(machine[0])}" if machine else ""),
        "",
    ]
    if shown:
        lines += ["### Failed, or moved beyond half their tolerance (worst first)", ""]
        lines += markdown_table(
            ["benchmark", "metric", "baseline", "now", "change", "allowed", "verdict"],
            [
                [
                    md_code(c.nodeid.split("::", 1)[-1]),
                    *map(md_text, c.cells()[:4]),  # metric, baseline, now, change
                    md_text(_allowed(c)),
                    f"**{md_text(c.verdict)}**",
                ]
                for c in shown[:MARKDOWN_ROWS]
            ],
            align="llrrrrl",
        )
        if len(shown) > MARKDOWN_ROWS:
            lines.append(f"\n... and {len(shown) - MARKDOWN_ROWS} more (`mnist-models report`).")
        lines.append("")
        for c in shown[:MARKDOWN_ROWS]:  # what moved inside each failing figure, collapsed
            if c.why:
                name = md_text(f"{c.nodeid.split('::', 1)[-1]} {c.metric.name}")
                lines += [f"<details><summary>Why: {name}</summary>", "", md_text(c.why[0]), ""]
                lines += [f"- {md_code(line)}" for line in c.why[1:]]
                lines += ["", "</details>", ""]
    verdicts = (
        Verdict.FAIL,
        Verdict.MISSING,
        Verdict.WORSE_ALLOWED,
        Verdict.BETTER,
        Verdict.SAME,
        Verdict.NOT_APPLIED,
    )
    per_lane: dict[str, dict[str, int]] = {}
    for c in changes:
        counts = per_lane.setdefault(c.lane_name, {})
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    lines += ["### Totals per lane", ""]
    lines += markdown_table(
        ["lane", *verdicts],
        [
            [md_text(name), *(str(counts.get(v, 0)) for v in verdicts)]
            for name, counts in sorted(per_lane.items())
        ],
    )
    lines.append("")
    for ab in comparisons:

        def cell(est: dict[str, Any], q: str) -> str:
            e = est[q]
            return (
                f"{100 * (e['ratio'] - 1):+.1f}% "
                f"[{100 * (e['low'] - 1):+.1f}%, {100 * (e['high'] - 1):+.1f}%]"
            )

        body = []
        for r in ab.get("results", []):
            est = r.get("estimates") or {}
            body.append(
                [
                    md_code(r["label"]),
                    f"{est['p50']['baseline_us']:.1f}",
                    cell(est, "p50"),
                    cell(est, "p99"),
                    f"**{md_text(ab_verdict(r) or r.get('verdict'))}**",
                ]
                if est
                else [md_code(r.get("label")), "", "", "", "not in the baseline"]
            )
        title = (
            "### A/B latency between environments (`mnist-models compare --env`, timed alternately)"
            if ab.get("environments")
            else "### A/B latency (`mnist-models compare`, timed alternately)"
        )
        lines += [title, ""]
        lines += markdown_table(
            ["model", "base p50 us", "p50 change [95% CI]", "p99 change [95% CI]", "verdict"],
            body,
            align="lrrrl",
        )
        lines.append("")
        counts = ab.get(fields.INSTRUCTIONS) or []
        if counts:
            lines += ["<details><summary>Instructions in both environments</summary>", ""]
            lines += markdown_table(
                ["case", "baseline", "now", "change", "allowed", "verdict"],
                [
                    [
                        md_code(r.get("nodeid")),
                        *(md_text(cell) for cell in _count_cells(r)),
                        f"**{md_text(r.get('verdict'))}**"
                        if _failed(r)
                        else md_text(r.get("verdict")),
                    ]
                    for r in counts
                ],
                align="lrrrll",
            )
            lines += ["", "</details>", ""]
    if info.get("only_in_new") or info.get("only_in_baseline"):
        lines.append(
            f"{len(info['only_in_new'])} benchmarks only in the new run, "
            f"{len(info['only_in_baseline'])} only in the baseline (not compared)."
        )
        lines.append("")
    if links:
        lines.append(f"Plots and tables: {md_link(links)}")
        lines.append("")
    return "\n".join(lines)


def _verdict_cell(row: dict[str, Any]) -> str:
    text = md_text(row.get("verdict"))
    return f"**{text}**" if _failed(row) else text


def _failed(row: dict[str, Any]) -> bool:
    return row.get("verdict") in {str(v) for v in FAILING}


def _count_cells(row: dict[str, Any]) -> list[str]:
    record = GateRecord.from_dict(row)
    cells = record.cells()  # metric, baseline, now, change, allowed (note)
    return cells[1:]
