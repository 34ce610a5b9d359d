"""Summary tables of measured runs: mean and spread over seeds, as markdown and CSV.

A table row is a flat mapping of the keys in COLUMNS and CSV_KEYS (a run's record fields, plus
`series`, `history`, `latency_batched` and `latency_shared`): studies make them with
`StudyRow.table_row`, `report` from a pytest-benchmark JSON, so one table, one CSV layout and
one set of plots serve both.
"""

from __future__ import annotations

import csv
import io
import statistics
from typing import Any

from ..labels import batch_label
from ..table import markdown_table as render_markdown

# (header with unit, row key, scale, format); the studies' columns, in their order. Columns in
# OPTIONAL appear only where some row has them (instructions and GPU operation counts come from
# the suite, not studies).
COLUMNS: tuple[tuple[str, str, float, str], ...] = (
    ("epochs", "epochs", 1, "{:.0f}"),
    ("training time (s)", "train_seconds", 1, "{:.2f}"),
    ("time per epoch (s)", "epoch_seconds", 1, "{:.2f}"),
    ("latency p50, batch 1 (us)", "latency_us_p50", 1, "{:.1f}"),
    ("instructions / sample, batch 1", "instructions_per_sample", 1, "{:,.0f}"),
    ("GPU ops / call, batch 1", "gpu_ops_per_call", 1, "{:.0f}"),
    ("accuracy (%)", "accuracy", 100, "{:.2f}"),
    ("FLOPs", "flops", 1, "{:,.0f}"),
    ("params", "params", 1, "{:,.0f}"),
    ("size (KiB)", "size_bytes", 1 / 1024, "{:,.1f}"),
    ("CO2eq, training (mg)", "train_co2_g", 1000, "{:.3f}"),
)
OPTIONAL = ("instructions_per_sample", "gpu_ops_per_call")
CSV_KEYS = (
    "study",
    "run_id",
    "model",
    "resolution",
    "series",
    "batch_size",
    "seed",
    "epochs",
    "train_seconds",
    "epoch_seconds",
    "latency_us_p50",
    "latency_us_p90",
    "latency_us_p99",
    "instructions_per_sample",
    "gpu_ops_per_call",
    "accuracy",
    "flops",
    "macs",
    "params",
    "size_bytes",
    "size_with_adam_bytes",
    "train_energy_j",
    "train_co2_g",
    "threads",
    "version",
)


def _label(row: dict[str, Any], batch_varies: bool) -> str:
    return batch_label(row["run_id"], row["batch_size"]) if batch_varies else row["run_id"]


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (run id, batch size), in first-seen order: mean and std of every column
    over the seeds, the mean per-sample latency at the training batch size, and the mean
    validation accuracy per epoch."""
    batch_varies = len({(r["run_id"], r.get("batch_size")) for r in rows}) > len(
        {r["run_id"] for r in rows}
    )
    groups: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["run_id"], row.get("batch_size")), []).append(row)
    out = []
    for members in groups.values():
        # one latency timing shared by every seed (a study's side-by-side timing): no spread
        shared = all(m.get("latency_shared") for m in members)
        first = members[0]
        entry: dict[str, Any] = {
            "label": _label(first, batch_varies),
            "run_id": first["run_id"],
            "series": first.get("series") or first.get("model", ""),
            "batch_size": first.get("batch_size"),
            "n": len(members),
        }
        for _, key, _, _ in COLUMNS:
            values = [m[key] for m in members if m.get(key) is not None]
            entry[key] = statistics.fmean(values) if values else None
            entry[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else None
            if key.startswith("latency_us") and shared:
                entry[f"{key}_std"] = None
        per_sample = [
            m["latency_batched"]["per_sample_us"]
            for m in members
            if isinstance(m.get("latency_batched"), dict)
            and m["latency_batched"].get("per_sample_us") is not None
        ]
        entry["per_sample_us"] = statistics.fmean(per_sample) if per_sample else None
        curves = [
            [e.get("val_accuracy") for e in m.get("history", [])]
            for m in members
            if m.get("history")
        ]
        if curves and all(v is not None for c in curves for v in c):
            length = min(len(c) for c in curves)
            entry["val_accuracy_per_epoch"] = [
                statistics.fmean(c[i] for c in curves) for i in range(length)
            ]
        out.append(entry)
    return out


def markdown_table(summary: list[dict[str, Any]]) -> str:
    """The studies' table; `mean ± std` where there are several seeds."""
    columns = [
        c for c in COLUMNS if c[1] not in OPTIONAL or any(e.get(c[1]) is not None for e in summary)
    ]
    header = ["model", *(h for h, _, _, _ in columns)]
    body = []
    for entry in summary:
        cells = [entry["label"] + (f" (n={entry['n']})" if entry["n"] > 1 else "")]
        for _, key, scale, fmt in columns:
            value, std = entry.get(key), entry.get(f"{key}_std")
            if value is None:
                cells.append("-")
                continue
            cell = fmt.format(value * scale)
            if std is not None and key not in ("epochs", "flops", "params", "size_bytes"):
                cell += " ± " + fmt.format(std * scale)
            cells.append(cell)
        body.append(cells)
    return "\n".join(render_markdown(header, body))


def csv_text(rows: list[dict[str, Any]]) -> str:
    """One line per run and seed; the scalar columns only (histories are in results.json)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_KEYS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k) for k in CSV_KEYS})
    return buf.getvalue()
