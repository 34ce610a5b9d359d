"""Measure test accuracy over seeds for the gate tier's training set; derive the tolerance.

    python -m benchmarks.accuracy_spread [--seeds 5]

Seeds change the weight init, the train/val split and the batch order. The accuracy gate's
tolerance is 3 x the largest per-config standard deviation, rounded up to 0.1 pp: a rerun on
another machine or torch version, which reshuffles the floating-point sums, lands within it.
Writes mnist_models/suite/accuracy_spread.json, read by bench_training.py.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

from mnist_models.atomic import write_text_atomic
from mnist_models.measure.data import load_mnist
from mnist_models.measure.train import TrainConfig, evaluate, train
from mnist_models.suite.bench_training import BATCH_SIZE, EPOCHS, SPREAD_FILE, THREADS
from mnist_models.table import text_table
from mnist_models.zoo import REPRESENTATIVE_MODELS
from mnist_models.zoo.registry import build_model, get_config, run_id


def measure(model_id: str, seeds: int) -> tuple[str, list[float]]:
    """(run id, test accuracy per seed) of one representative model."""
    config, res = get_config(model_id)
    rid = run_id(config, res)
    out = []
    for seed in range(seeds):
        data = load_mnist(res, seed=seed)
        model = build_model(config, seed=seed)
        train(
            model,
            data,
            TrainConfig(epochs=EPOCHS, batch_size=BATCH_SIZE, seed=seed, threads=THREADS),
        )
        out.append(evaluate(model, data.test_x, data.test_y)[1])
        print(f"{rid} seed {seed}: {100 * out[-1]:.2f}%", flush=True)
    return rid, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=SPREAD_FILE)
    args = parser.parse_args(argv)
    results = dict(measure(model_id, args.seeds) for model_id in REPRESENTATIVE_MODELS)
    rows = {
        k: {"accuracies": v, "mean": statistics.fmean(v), "std": statistics.stdev(v)}
        for k, v in results.items()
    }
    worst = max(r["std"] for r in rows.values())
    tolerance = math.ceil(3 * worst * 1000) / 1000
    payload = {
        "epochs": EPOCHS,
        "batch_size": BATCH_SIZE,
        "seeds": args.seeds,
        "configs": rows,
        "tolerance": tolerance,
        "rule": "3 x the largest per-config standard deviation, rounded up to 0.1 pp",
    }
    write_text_atomic(args.output, json.dumps(payload, indent=2) + "\n")
    body = [[k, f"{100 * r['mean']:.2f}%", f"{100 * r['std']:.3f} pp"] for k, r in rows.items()]
    print("\n".join(text_table(["config", "mean accuracy", "std"], body)))
    print(f"tolerance: {100 * tolerance:.1f} pp -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
