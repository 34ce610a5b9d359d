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

from .. import fields
from ..labels import batch_label
from ..table import markdown_table

# (header with unit, row key, scale, format) of the studies' columns, in their order, as the
# schema declares them; OPTIONAL columns appear only where some row has them
COLUMNS: tuple[tuple[str, str, float, str], ...] = tuple(
    (f.label, f, f.scale, f.fmt) for f in fields.TABLE_COLUMNS
)
OPTIONAL = fields.OPTIONAL_COLUMNS
CSV_KEYS = fields.CSV_COLUMNS


def _label(row: dict[str, Any], batch_varies: bool) -> str:
    return (
        batch_label(row[fields.RUN_ID], row[fields.BATCH_SIZE])
        if batch_varies
        else row[fields.RUN_ID]
    )


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (run id, batch size), in first-seen order: mean and std of every column
    over the seeds, the mean per-sample latency at the training batch size, and the mean
    validation accuracy per epoch."""
    batch_varies = len({(r[fields.RUN_ID], r.get(fields.BATCH_SIZE)) for r in rows}) > len(
        {r[fields.RUN_ID] for r in rows}
    )
    groups: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row[fields.RUN_ID], row.get(fields.BATCH_SIZE)), []).append(row)
    out = []
    for members in groups.values():
        # one latency timing shared by every seed (a study's side-by-side timing): no spread
        shared = all(m.get("latency_shared") for m in members)
        first = members[0]
        entry: dict[str, Any] = {
            "label": _label(first, batch_varies),
            fields.RUN_ID: first[fields.RUN_ID],
            fields.SERIES: first.get(fields.SERIES) or first.get(fields.MODEL, ""),
            fields.BATCH_SIZE: first.get(fields.BATCH_SIZE),
            "n": len(members),
        }
        for _, key, _, _ in COLUMNS:
            values = [m[key] for m in members if m.get(key) is not None]
            entry[key] = statistics.fmean(values) if values else None
            entry[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else None
            if fields.field(key).unit == "us" and shared:
                entry[f"{key}_std"] = None
        per_sample = [
            m["latency_batched"][fields.PER_SAMPLE_US]
            for m in members
            if isinstance(m.get("latency_batched"), dict)
            and m["latency_batched"].get(fields.PER_SAMPLE_US) is not None
        ]
        entry[fields.PER_SAMPLE_US] = statistics.fmean(per_sample) if per_sample else None
        curves = [
            [e.get("val_accuracy") for e in m.get(fields.HISTORY, [])]
            for m in members
            if m.get(fields.HISTORY)
        ]
        if curves and all(v is not None for c in curves for v in c):
            length = min(len(c) for c in curves)
            entry["val_accuracy_per_epoch"] = [
                statistics.fmean(c[i] for c in curves) for i in range(length)
            ]
        out.append(entry)
    return out


def study_table(summary: list[dict[str, Any]]) -> str:
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
            if std is not None and key not in ("epochs", fields.FLOPS, fields.PARAMS, fields.SIZE):
                cell += " ± " + fmt.format(std * scale)
            cells.append(cell)
        body.append(cells)
    return "\n".join(markdown_table(header, body))


def csv_text(rows: list[dict[str, Any]]) -> str:
    """One line per run and seed; the scalar columns only (histories are in results.json)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_KEYS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k) for k in CSV_KEYS})
    return buf.getvalue()
