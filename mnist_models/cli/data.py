"""`mnist-models data`: fetch MNIST and verify its MD5s."""

from __future__ import annotations

import argparse

from .args import Parser, add_data_root_option


def add_parser(sub: argparse._SubParsersAction, common: Parser) -> None:
    """Register the command and its options."""
    p = sub.add_parser("data", help="fetch MNIST and verify its MD5s")
    add_data_root_option(p)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from ..measure.data import MD5, ensure_mnist, raw_dir

    root = ensure_mnist(args.data_root)
    print(f"MNIST ready in {raw_dir(root)} ({len(MD5)} files, MD5s verified)")
    return 0
