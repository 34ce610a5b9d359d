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
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import fields
from ..console import say
from ..labels import batch_label
from .records import LatencyRecord, StudyRow

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
    from ..zoo.registry import build_model, get_config, run_id

    where = resolve_device(device)
    built = {}
    for model_id, resolution, batch in entries:
        config, res = get_config(model_id, resolution)  # parsed once, built once
        built[batch_label(run_id(config, res), batch)] = (
            build_model(config).to(where),
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
            fields.PER_SAMPLE_US: p50 / stats[0].batch_size,
            "round_p50_us": [s.p50_us for s in stats],
            "batch_size": stats[0].batch_size,
            "rounds": rounds,
            fields.CALLS: stats[0].rounds,
            "threads": stats[0].threads,
        }
        for name, stats in per_round.items()
    }


def _entries(rows: list[StudyRow]) -> dict[str, tuple[str, str | None, int]]:
    """{"<run id> bs<batch>": (model, resolution, batch)}: batch 1 for every model; each training
    batch size too where the study varies it (the per-sample latency the batch-size plot shows)."""
    runs = [r.record for r in rows]
    entries = {batch_label(r.run_id, 1): (r.model, r.resolution, 1) for r in runs}
    if len({r.batch_size for r in runs}) > 1:
        for r in runs:
            entries.setdefault(
                batch_label(r.run_id, r.batch_size), (r.model, r.resolution, r.batch_size)
            )
    return entries


def side_by_side_key(rows: list[StudyRow]) -> str:
    """Cache key of one side-by-side timing: what is timed, threads, device and mode where not
    cpu and eager, protocol, version."""
    from .. import __version__
    from ..measure.device import where_parts

    first = rows[0].record
    names = ",".join(sorted(_entries(rows)))
    where = "".join(f"|{part}" for part in where_parts(first.device, first.mode))
    return f"latency|t{first.threads}{where}|r{ROUNDS}x{CALLS}|{names}|v{__version__}"


def with_side_by_side_latency(
    rows: list[StudyRow],
    cache: Path,
    *,
    timer: Callable[..., dict[str, dict[str, Any]]] | None = None,
    warn: Callable[[str], None] = say,
    log: Callable[[str], None] | None = None,
) -> list[StudyRow]:
    """The rows with their side-by-side latency: `batch1`, each model timed side by side at
    batch 1, and `batched`, at its training batch size where the study varies it (from one
    timing cached next to the study and checked the same way as the run store). The figures
    each run measured right after its training are left as they are."""
    from .run_store import read_cached, write_cached

    if not rows:
        return rows
    key = side_by_side_key(rows)
    timing, problem = read_cached(cache, key)
    records = _records(timing) if timing is not None else None
    if timing is not None and records is None:
        problem = "for the side-by-side timing lacks some of its figures"
    if problem:
        warn(f"mnist-models: corrupted cache entry {problem}; timing again")
    if records is None:
        entries = list(_entries(rows).values())
        if log is not None:
            log(f"timing {len(entries)} model/batch pairs side by side ({ROUNDS} rounds)")
        first = rows[0].record
        timing = (timer or time_side_by_side)(
            entries, threads=first.threads, device=first.device, mode=first.mode
        )
        records = _records(timing)
        if records is None:
            raise ValueError("the side-by-side timer returned incomplete figures")
        write_cached(cache, key, timing)
    return [
        replace(
            row,
            batch1=records[batch_label(row.record.run_id, 1)],
            # timed where the study varies the batch size
            batched=records.get(batch_label(row.record.run_id, row.record.batch_size)),
        )
        for row in rows
    ]


def _records(timing: dict[str, Any]) -> dict[str, LatencyRecord] | None:
    try:
        return {label: LatencyRecord.from_dict(entry) for label, entry in timing.items()}
    except (KeyError, TypeError, AttributeError):
        return None
