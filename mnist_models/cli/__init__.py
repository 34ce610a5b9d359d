"""`mnist-models`: set a repository up, list models, fetch data, count a model, train and
measure one, compare two revisions, run a study, report on saved runs, follow the history,
profile a model.

One module per command (`add_parser` registers it, `command` runs it); args.py holds what
they share.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..console import error
from ..errors import MnistBenchError
from . import (
    baseline,
    compare,
    count,
    data,
    explain,
    history,
    init,
    list_models,
    profile,
    report,
    run,
    study,
)
from .args import Parser, model_options

COMMANDS = (
    init,
    list_models,
    data,
    count,
    run,
    compare,
    study,
    report,
    history,
    profile,
    baseline,
    explain,
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="mnist-models", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    common = model_options()
    for module in COMMANDS:
        module.add_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MnistBenchError as err:
        error(f"error: {err}")
        return 2
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except BrokenPipeError:  # output piped into `head`: stop quietly, as cat does
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
