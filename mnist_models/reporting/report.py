"""Read the benchmark suite's saved runs (pytest-benchmark JSON): study-style rows for the
tables and plots, and a metric-by-metric comparison of two runs using each metric's own gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import fields
from ..gates.record import GateRecord
from ..table import markdown_table, md_code, md_link, md_text, text_table
from ..verdicts import FAILING, Verdict


def load_run(path: str | Path) -> dict[str, Any]:
    """A pytest-benchmark JSON file, checked (schema.py), or a SchemaError naming the file, the
    entry and the field."""
    from ..gates.store import load_run_file

    return load_run_file(path)


def _rid(extra: dict[str, Any]) -> str | None:
    if fields.MODEL not in extra or fields.RESOLUTION not in extra:
        return None
    return f"{extra[fields.MODEL]}@{extra[fields.RESOLUTION]}"


def _epoch_seconds(extra: dict[str, Any]) -> float | None:
    """Seconds per epoch of a training entry: `epoch_seconds`; CUDA runs recorded before it was
    recorded on every device (the committed CUDA baseline) have only the gated `epoch_s`."""
    return extra.get(fields.EPOCH_SECONDS, extra.get(fields.EPOCH_S))


def rows_from_run(run: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per trained config (joined with its counts and batch-1 latency by run id); configs
    that were not trained in this run get a row of counts and latency only. CO2eq is the figure
    the run recorded with its energy model (none in runs from before it was recorded)."""
    counts: dict[str, dict] = {}
    latency: dict[str, dict] = {}
    instructions: dict[str, dict] = {}  # forward passes at batch 1, counted by callgrind
    trained: list[dict] = []
    for bench in run["benchmarks"]:
        extra = bench.get("extra_info") or {}
        rid = _rid(extra)
        if rid is None:
            continue
        group = bench.get("group") or ""
        if fields.ACCURACY in extra and _epoch_seconds(extra) is not None:
            trained.append(extra)
        elif group == "instructions":
            if extra.get(fields.KIND) == "forward" and extra.get(fields.BATCH_SIZE) == 1:
                instructions[rid] = extra
        elif group == "latency" or fields.LATENCY_P50 in extra:
            # batch 1, eager: what a study times (other modes are their own columns' business)
            if extra.get(fields.BATCH_SIZE) == 1 and extra.get(fields.MODE, "eager") == "eager":
                latency[rid] = extra
        elif fields.PARAMS in extra and fields.SIZE in extra:
            counts[rid] = extra
    rows = []

    def base(rid: str, extra: dict[str, Any]) -> dict[str, Any]:
        c, lat = counts.get(rid, {}), latency.get(rid, {})
        return {
            fields.RUN_ID: rid,
            fields.MODEL: extra[fields.MODEL],
            fields.RESOLUTION: extra[fields.RESOLUTION],
            fields.SERIES: extra[fields.MODEL].split("-")[0].split(":")[0],
            fields.PARAMS: c.get(fields.PARAMS, extra.get(fields.PARAMS)),
            fields.MACS: c.get(fields.MACS),
            fields.FLOPS: c.get(fields.FLOPS, extra.get(fields.FLOPS)),
            fields.SIZE: c.get(fields.SIZE),
            fields.LATENCY_P50: lat.get(fields.LATENCY_P50),
            fields.LATENCY_P90: lat.get(fields.LATENCY_P90),
            fields.LATENCY_P99: lat.get(fields.LATENCY_P99),
            fields.INSTRUCTIONS_PER_SAMPLE: instructions.get(rid, {}).get(
                fields.INSTRUCTIONS_PER_SAMPLE
            ),
            fields.GPU_OPS: lat.get(fields.GPU_OPS),
        }

    for extra in trained:
        rid = _rid(extra)
        threads = extra.get(fields.THREADS) or 1
        rows.append(
            {
                **base(rid, extra),
                fields.BATCH_SIZE: extra.get(fields.BATCH_SIZE),
                fields.EPOCHS: extra.get(fields.EPOCHS),
                fields.TRAIN_SECONDS: extra.get(fields.TRAIN_SECONDS),
                fields.EPOCH_SECONDS: _epoch_seconds(extra),
                fields.ACCURACY: extra.get(fields.ACCURACY),
                fields.HISTORY: extra.get(fields.HISTORY, []),
                fields.THREADS: threads,
                fields.TRAIN_CO2: extra.get(fields.TRAIN_CO2),
            }
        )
    trained_ids = {_rid(e) for e in trained}
    for rid, extra in {**counts, **latency}.items():
        if rid not in trained_ids:
            rows.append({**base(rid, extra), fields.BATCH_SIZE: None})
    return rows


# --- comparing two runs ------------------------------------------------------------------------


def _verdict_of(result: dict[str, Any]) -> Verdict | None:
    """The verdict an A/B result file recorded (older files wrote `slower`/`faster`)."""
    try:
        return Verdict(result.get("verdict"))
    except ValueError:
        return None


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
            c.metric.allowed_text(c.baseline),
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
            f", {counts[Verdict.NOT_APPLIED]} time metrics not applied (another kind of machine)"
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


MARKDOWN_ROWS = 30


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
        if _verdict_of(r) == Verdict.FAIL
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
                    md_text(c.metric.allowed_text(c.baseline)),
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
                    f"**{md_text(_verdict_of(r) or r.get('verdict'))}**",
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
        slower = sum(_verdict_of(r) == Verdict.FAIL for r in rows)
        parts.append(
            f"latency p50 {100 * (mid - 1):+.1f}% (median of {len(rows)} rows, {slower} slower)"
        )
    numerics = ab.get("numerics") or {}
    if numerics:
        same = sum(str(v.get("verdict", "")).startswith("identical") for v in numerics.values())
        parts.append(f"outputs identical to the bit on {same} of {len(numerics)} models")
    return head + (": " + "; ".join(parts) if parts else "")
