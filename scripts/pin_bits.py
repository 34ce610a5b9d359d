"""The seeded loss and accuracy of one epoch (batch 64, 1 thread) under each candidate numeric
pin, and its time: run it on each machine kind and compare the bits (docs/determinism-keys.md,
"A pinned numeric path").

    python scripts/pin_bits.py [--rounds 2] [--pin NAME ...] [MODEL[@RES][,EPOCHS[,STEPS]] ...]
        (default: mlp-128 mlp-1024 lenet5, every pin)
    python scripts/pin_bits.py --lane [--pin NAME ...]
        (the gate tier's seeded trainings, as the training lane trains them)

Each pin runs in its own process (the variables are read when torch loads), the pins
alternately, `--rounds` times, so a pin that does not repeat to the bit shows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PINS = {
    "none": {},
    "MKL AVX2": {"MKL_CBWR": "AVX2"},
    "AVX2 (FastSurfer)": {
        "MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
    },
    "MKL COMPATIBLE, AVX2": {
        "MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
    },
    "instruction worker's": {
        "MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
    },
}  # fmt: skip
PIN_VARIABLES = sorted({name for pin in PINS.values() for name in pin})


def lane_cases() -> list[str]:
    """The gate tier's seeded trainings as `MODEL@RES,EPOCHS[,STEPS]`: test_training's
    (EPOCHS epochs) and its 300-step ones (SHORT_STEPS steps of one epoch)."""
    from mnist_models.suite import bench_training as lane
    from mnist_models.suite.grid import gate_training

    return [f"{run},{lane.EPOCHS}" for run in gate_training()] + [
        f"{lane.SHORT_MODEL}@{res},1,{lane.SHORT_STEPS}" for res in lane.SHORT_RESOLUTIONS
    ]


def child(cases: list[str]) -> None:
    """Train each case (`MODEL[@RES][,EPOCHS[,STEPS]]`) once in this process, as the training
    lane does (batch 64, seed 0, 1 thread); print one JSON line per case."""
    import torch

    from mnist_models import get_model
    from mnist_models.measure.data import load_mnist
    from mnist_models.measure.train import TrainConfig, evaluate, train

    torch.set_num_threads(1)
    for case in cases:
        name, *given = case.split(",")  # MODEL@RES[,EPOCHS[,STEPS]]: 1 epoch, every step
        epochs, steps = [*given, *["1", ""][len(given) :]]
        model_id, _, res = name.partition("@")
        data = load_mnist(res or "28", root=Path.home() / ".cache/mnist-bench", seed=0)
        if steps:
            data = data.first(int(steps) * 64)
        model = get_model(model_id, res or None, seed=0)
        config = TrainConfig(epochs=int(epochs), batch_size=64, seed=0, threads=1)
        start = time.perf_counter()
        result = train(model, data, config)
        seconds = time.perf_counter() - start
        _, accuracy = evaluate(model, data.test_x, data.test_y)
        row = {"model": case, "loss": result.history[-1].train_loss, "accuracy": accuracy}
        row |= {"seconds": round(seconds, 2), "isa": torch.backends.cpu.get_cpu_capability()}
        print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["mlp-128", "mlp-1024", "lenet5"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pin", action="append", choices=list(PINS), help="(default: all)")
    parser.add_argument("--lane", action="store_true", help="the gate tier's seeded trainings")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.models)
        return
    if args.lane:
        args.models = lane_cases()
    base = {k: v for k, v in os.environ.items() if k not in PIN_VARIABLES}
    runs: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.rounds):
        for pin in args.pin or PINS:
            variables = PINS[pin]
            out = subprocess.run(
                [sys.executable, __file__, "--child", *args.models],
                env=base | variables, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            for line in out.splitlines():
                row = json.loads(line)
                runs.setdefault((pin, row["model"]), []).append(row)
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), "unknown CPU",
    )  # fmt: skip
    what = "the gate tier's seeded trainings" if args.lane else "one epoch unless named"
    print(f"{cpu}, {what}, batch 64, 1 thread, {args.rounds} rounds\n")
    print("| pin | ATen level | model | loss | accuracy | repeated | seconds |")
    print("|---|---|---|---|---|---|---|")
    for (pin, model), rows in runs.items():
        same = all((r["loss"], r["accuracy"]) == (rows[0]["loss"], rows[0]["accuracy"])
                   for r in rows)  # fmt: skip
        seconds = ", ".join(f"{r['seconds']:.2f}" for r in rows)
        print(f"| {pin} | {rows[0]['isa']} | {model} | {rows[0]['loss']!r} | "
              f"{rows[0]['accuracy']:.2%} | {'yes' if same else 'NO'} | {seconds} |")  # fmt: skip


if __name__ == "__main__":
    main()
