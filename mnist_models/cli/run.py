"""`mnist-models run`: train, evaluate and measure one model."""

from __future__ import annotations

import argparse

from ..console import progress_shown
from .args import (
    Parser,
    add_device_options,
    add_training_options,
    check_device,
    check_output,
    emit,
    finite_float,
)


def add_parser(sub: argparse._SubParsersAction, common: Parser) -> None:
    """Register the command and its options."""
    from ..measure.energy import GRID_G_PER_KWH, WATTS_PER_CORE, WATTS_PER_GPU

    p = sub.add_parser(
        "run",
        parents=[common],
        help="train, evaluate and measure one model",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_training_options(p)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--val-fraction",
        type=finite_float,
        default=0.2,
        help="held-out share of the 60,000 training images (0: train on all)",
    )
    p.add_argument("--watts-per-core", type=finite_float, default=WATTS_PER_CORE)
    p.add_argument(
        "--grid-intensity", type=finite_float, default=GRID_G_PER_KWH, help="gCO2e per kWh"
    )
    p.add_argument(
        "--watts-per-gpu",
        type=finite_float,
        default=WATTS_PER_GPU,
        help="GPU power (with --device cuda)",
    )
    add_device_options(p)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from ..measure.energy import EnergyModel
    from ..measure.runs import measure_run, summary_table
    from ..measure.train import TrainConfig

    # Validate everything before any work starts.
    check_output(args)
    check_device(args)
    train_config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
    )
    record = measure_run(
        args.model,
        args.resolution,
        train_config,
        val_fraction=args.val_fraction,
        data_root=args.data_root,
        energy=EnergyModel(
            args.watts_per_core, args.grid_intensity, watts_per_gpu=args.watts_per_gpu
        ),
        progress=not args.json and progress_shown(),
        device=args.device,
        mode=args.mode,
    )
    emit(args, record.to_dict(), summary_table(record))
    return 0
