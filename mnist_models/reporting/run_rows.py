"""The benchmark suite's saved runs (pytest-benchmark JSON) as study-style rows, for the tables
and plots `report` writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import fields


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
