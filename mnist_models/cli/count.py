"""`mnist-models count`: parameters, MACs, FLOPs and size of a model, per layer; no training."""

from __future__ import annotations

import argparse

from .. import fields
from ..table import text_table
from .args import Parser, check_output, emit


def add_parser(sub: argparse._SubParsersAction, common: Parser) -> None:
    """Register the command and its options."""
    p = sub.add_parser("count", parents=[common], help="params, MACs, FLOPs, size; no training")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    check_output(args)
    from ..measure.runs import count_payload

    p = count_payload(args.model, args.resolution)
    body = [
        [
            layer["name"],
            layer["kind"],
            "x".join(map(str, layer["output_shape"])),
            f"{layer[fields.PARAMS]:,}",
            f"{layer[fields.MACS]:,}",
        ]
        for layer in p["layers"]
    ]
    lines = [
        p["run_id"],
        *text_table(["layer", "kind", "output", fields.PARAMS, "MACs"], body, left=2),
    ]
    lines += [
        f"params {p[fields.PARAMS]:,}  MACs {p[fields.MACS]:,}  "
        f"FLOPs {p[fields.FLOPS]:,} (2 x MACs)",
        f"thop MACs {p['macs_thop']:,}  size {p[fields.SIZE]:,} B "
        f"({p[fields.SIZE_WITH_ADAM]:,} B with Adam state)",
    ]
    emit(args, p, "\n".join(lines))
    return 0
