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
    if p["macs_thop"] != p[fields.MACS]:
        lines.append(thop_difference(p))
    emit(args, p, "\n".join(lines))
    return 0


def thop_difference(p: dict) -> str:
    """Why thop's MACs differ from ours: the layer types it gives ops of their own, and what
    it does not see (operations in forward outside any module)."""
    extra = p["macs_thop_extra"]
    diff = p["macs_thop"] - p[fields.MACS]
    unseen = sum(extra.values()) - diff
    parts = []
    if extra:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(extra.items()))
        parts.append(f"it counts {kinds} as ops of their own")
    if unseen > 0:
        parts.append(f"it misses {unseen:,} computed in forward outside any module")
    return (
        f"thop MACs differ by {diff:+,}: {' and '.join(parts) or 'see thop'}; the MACs here are "
        "matrix products and convolutions only (FlopCounterMode)"
    )
