"""Batch-1 latency of a study's models, timed side by side in one process.

Timing each model right after its own training puts minutes between the measurements, and this
machine's speed drifts by tens of percent over minutes (cnn9 measured 473, 579 and 821 us in three
studies that way). Here the models are timed round-robin over several rounds and each one's figure
is the median of its round medians: a slow spell hits every model alike and is outvoted. Latency
at batch 1 depends on the architecture and input size, not on the trained weights, so freshly
built models are timed.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..console import say
from ..labels import batch_label

ROUNDS = 5
CALLS = 100
WARMUP = 10


def calls_at(batch_size: int) -> int:
    """Calls per round: CALLS at batch 1, fewer for big batches (about 2,000 samples a round)."""
    return max(10, min(CALLS, 2000 // batch_size))


def time_side_by_side(
    entries: list[tuple[str, str | None, int]],
    *,
    threads: int | None,
    rounds: int = ROUNDS,
    warmup: int = WARMUP,
    calls: int | None = None,
    device: str = "cpu",
    mode: str = "eager",
) -> dict[str, dict[str, Any]]:
    """{"<run id> bs<batch>": p50/p90/p99 per call in us (median over rounds), per-sample p50,
    rounds, calls, threads} for each (model id, resolution, batch size), every entry timed once
    per round in turn, on `device` in execution mode `mode`."""
    from ..measure.device import resolve_device
    from ..measure.metrics import measure_latency
    from ..zoo.registry import get_config, get_model, run_id

    where = resolve_device(device)
    built = {}
    for model_id, resolution, batch in entries:
        config, res = get_config(model_id, resolution)
        built[batch_label(run_id(config, res), batch)] = (
            get_model(model_id, res).to(where),
            (1, res.size, res.size),
            batch,
        )
    per_round: dict[str, list[Any]] = {name: [] for name in built}
    for _ in range(rounds):
        for name, (model, shape, batch) in built.items():
            per_round[name].append(
                measure_latency(
                    model,
                    shape,
                    batch,
                    warmup=warmup,
                    rounds=calls or calls_at(batch),
                    threads=threads,
                    mode=mode,
                )
            )
    return {
        name: {
            "p50_us": (p50 := statistics.median(s.p50_us for s in stats)),
            "p90_us": statistics.median(s.p90_us for s in stats),
            "p99_us": statistics.median(s.p99_us for s in stats),
            "per_sample_us": p50 / stats[0].batch_size,
            "round_p50_us": [s.p50_us for s in stats],
            "batch_size": stats[0].batch_size,
            "rounds": rounds,
            "calls": stats[0].rounds,
            "threads": stats[0].threads,
        }
        for name, stats in per_round.items()
    }


def _entries(rows: list[dict[str, Any]]) -> dict[str, tuple[str, str | None, int]]:
    """{"<run id> bs<batch>": (model, resolution, batch)}: batch 1 for every model; each training
    batch size too where the study varies it (the per-sample latency the batch-size plot shows)."""
    entries = {batch_label(r["run_id"], 1): (r["model"], r["resolution"], 1) for r in rows}
    if len({r.get("batch_size") for r in rows}) > 1:
        for r in rows:
            entries.setdefault(
                batch_label(r["run_id"], r["batch_size"]),
                (r["model"], r["resolution"], r["batch_size"]),
            )
    return entries


def _where(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """(device, mode) the rows were measured on (rows from before the device axis: cpu, eager)."""
    return rows[0].get("device", "cpu"), rows[0].get("mode", "eager")


def side_by_side_key(rows: list[dict[str, Any]]) -> str:
    """Cache key of one side-by-side timing: what is timed, threads, device and mode where not
    cpu and eager, protocol, version."""
    from .. import __version__
    from ..measure.device import where_parts

    names = ",".join(sorted(_entries(rows)))
    where = "".join(f"|{part}" for part in where_parts(*_where(rows)))
    return f"latency|t{rows[0]['threads']}{where}|r{ROUNDS}x{CALLS}|{names}|v{__version__}"


def with_side_by_side_latency(
    rows: list[dict[str, Any]],
    cache: Path,
    *,
    timer: Callable[..., dict[str, dict[str, Any]]] | None = None,
    warn: Callable[[str], None] = say,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """The rows with `latency_us_p50/p90/p99` (batch 1) and, where batch size varies, the
    per-sample latency at their batch size taken from one side-by-side timing (cached next to
    the rows, checked the same way); the figures taken right after each training are kept as
    `latency_after_training_us` and `latency_batched_after_training`."""
    from .catalog import read_cached, write_cached

    if not rows:
        return rows
    key = side_by_side_key(rows)
    timing, problem = read_cached(cache, key)
    if problem:
        warn(f"mnist-models: corrupted cache entry {problem}; timing again")
    if timing is None:
        entries = list(_entries(rows).values())
        if log is not None:
            log(f"timing {len(entries)} model/batch pairs side by side ({ROUNDS} rounds)")
        device, mode = _where(rows)
        timing = (timer or time_side_by_side)(
            entries, threads=rows[0]["threads"], device=device, mode=mode
        )
        write_cached(cache, key, timing)
    out = []
    for row in rows:
        one = timing[batch_label(row["run_id"], 1)]
        new = {
            **row,
            "latency_after_training_us": {
                q: row.get(f"latency_us_{q}") for q in ("p50", "p90", "p99")
            },
            "latency_us_p50": one["p50_us"],
            "latency_us_p90": one["p90_us"],
            "latency_us_p99": one["p99_us"],
            "latency_side_by_side": {
                k: one[k] for k in ("rounds", "calls", "threads", "round_p50_us")
            },
        }
        batched = timing.get(batch_label(row["run_id"], row.get("batch_size")))
        if batched is not None:
            new["latency_batched_after_training"] = row.get("latency_batched")
            new["latency_batched"] = batched
        out.append(new)
    return out
