"""`mnist-models profile`: torch.profiler's operator table of a forward pass or training step."""

from __future__ import annotations

import argparse

from .args import (
    Parser,
    add_device_options,
    add_output_options,
    add_threads_option,
    check_batch_memory,
    check_device,
    check_output,
    positive_int,
)


def add_parser(sub: argparse._SubParsersAction, common: Parser) -> None:
    """Register the command and its options."""
    from ..measure.profiling import SORT_KEYS

    p = sub.add_parser(
        "profile",
        help="torch.profiler operator table of a model's forward pass or training step",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("model", help="model id, e.g. mlp-1024, lenet5")
    p.add_argument("--resolution", default=None, help="28, resize:N, crop:N or pad:N")
    p.add_argument("--batch-size", type=positive_int, default=1)
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--train", action="store_true", help="profile training steps instead")
    add_threads_option(p)
    p.add_argument("--rows", type=int, default=15)
    p.add_argument("--sort-by", default="self_cpu_time_total", choices=SORT_KEYS)
    add_output_options(p, what="the table", json=False)
    add_device_options(p, mode=False)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from ..measure.profiling import profile_model

    check_output(args)
    check_device(args)
    model = args.model if args.resolution is None else f"{args.model}@{args.resolution}"
    check_batch_memory([model], args.batch_size, args.device, "profiling")
    title, table = profile_model(
        args.model,
        args.resolution,
        batch_size=args.batch_size,
        calls=args.calls,
        train=args.train,
        threads=args.threads,
        rows=args.rows,
        sort_by=args.sort_by,
        device=args.device,
    )
    text = f"{title}\n{table}"
    print(text, flush=True)  # first: a failed write loses nothing
    if args.output:
        from ..atomic import write_text_atomic

        write_text_atomic(args.output, text + "\n")
    return 0
