"""`mnist-models list`: the named models with their parameters and MACs."""

from __future__ import annotations

import argparse
import json

from .. import fields
from ..table import text_table
from .args import Parser


def add_parser(sub: argparse._SubParsersAction, common: Parser) -> None:
    """Register the command and its options."""
    p = sub.add_parser("list", help="named models: params, MACs, where each comes from")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from ..zoo.registry import get_config, list_models, model_origin

    rows = []
    for name in list_models():
        config, res = get_config(name)
        rows.append(
            {
                "model": name,
                "resolution": res.id,
                fields.PARAMS: config.params,
                fields.MACS: config.macs,
                "from": model_origin(name),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        body = [
            [r["model"], r["resolution"], f"{r[fields.PARAMS]:,}", f"{r[fields.MACS]:,}", r["from"]]
            for r in rows
        ]
        print("\n".join(text_table(["model", "resolution", fields.PARAMS, "MACs", "from"], body)))
        print(
            "Any id of the grammar works too: mlp-W, mlp-WxD, mlp-W1-W2-..., cnn9-6-20, "
            "lenet5:tanh:avg (docs/reference.md)."
        )
    return 0
