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
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROUNDS = 5
CALLS = 100
WARMUP = 10


def time_side_by_side(
    models: list[tuple[str, str | None]],
    *,
    threads: int | None,
    rounds: int = ROUNDS,
    calls: int = CALLS,
    warmup: int = WARMUP,
) -> dict[str, dict[str, Any]]:
    """{run id: p50/p90/p99 in us (median over rounds), rounds, calls, threads} for each
    (model id, resolution), every model timed once per round in turn."""
    from .metrics import measure_latency
    from .registry import get_config, get_model, run_id

    built = {}
    for model_id, resolution in models:
        config, res = get_config(model_id, resolution)
        built[run_id(config, res)] = (get_model(model_id, res), (1, res.size, res.size))
    per_round: dict[str, list[Any]] = {rid: [] for rid in built}
    for _ in range(rounds):
        for rid, (model, shape) in built.items():
            per_round[rid].append(
                measure_latency(model, shape, 1, warmup=warmup, rounds=calls, threads=threads)
            )
    return {
        rid: {
            "p50_us": statistics.median(s.p50_us for s in stats),
            "p90_us": statistics.median(s.p90_us for s in stats),
            "p99_us": statistics.median(s.p99_us for s in stats),
            "round_p50_us": [s.p50_us for s in stats],
            "rounds": rounds,
            "calls": calls,
            "threads": stats[0].threads,
        }
        for rid, stats in per_round.items()
    }


def side_by_side_key(rows: list[dict[str, Any]]) -> str:
    """Cache key of one side-by-side timing: the study's run ids, threads, protocol, version."""
    from . import __version__

    ids = ",".join(sorted({r["run_id"] for r in rows}))
    return f"latency|t{rows[0]['threads']}|r{ROUNDS}x{CALLS}|{ids}|v{__version__}"


def with_side_by_side_latency(
    rows: list[dict[str, Any]],
    cache: Path,
    *,
    timer: Callable[..., dict[str, dict[str, Any]]] | None = None,
    warn: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """The rows with `latency_us_p50/p90/p99` taken from one side-by-side timing of all their
    models (cached next to the rows, checked the same way); the figures taken right after each
    training are kept as `latency_after_training_us`."""
    from .studies import read_cached, write_cached

    if not rows:
        return rows
    key = side_by_side_key(rows)
    timing, problem = read_cached(cache, key)
    if problem:
        warn(f"mnist-models: corrupted cache entry {problem}; timing again")
    if timing is None:
        models = list(dict.fromkeys((r["model"], r["resolution"]) for r in rows))
        if log is not None:
            log(f"timing {len(models)} models side by side at batch 1 ({ROUNDS} rounds)")
        timing = (timer or time_side_by_side)(models, threads=rows[0]["threads"])
        write_cached(cache, key, timing)
    out = []
    for row in rows:
        t = timing[row["run_id"]]
        out.append(
            {
                **row,
                "latency_after_training_us": {
                    q: row.get(f"latency_us_{q}") for q in ("p50", "p90", "p99")
                },
                "latency_us_p50": t["p50_us"],
                "latency_us_p90": t["p90_us"],
                "latency_us_p99": t["p99_us"],
                "latency_side_by_side": {
                    k: t[k] for k in ("rounds", "calls", "threads", "round_p50_us")
                },
            }
        )
    return out
