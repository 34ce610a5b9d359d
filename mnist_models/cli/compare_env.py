"""`mnist-models compare --env PYTHON`: the same models in another Python environment (the
baseline side) against this one, timed alternately; with --instructions counted in both, with
--numerics compared layer by layer."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import fields
from ..console import progress_shown, say
from ..errors import ConfigError
from ..verdicts import Verdict
from .args import check_batch_memory, check_output, emit


def command(args: argparse.Namespace) -> int:
    from ..ab.abtest import ABSettings
    from ..ab.compare import render
    from ..ab.environments import (
        PACKAGE_ROOT,
        Environment,
        EnvPair,
        headline,
        resolve_python,
    )
    from ..ab.revision import extract_revision

    check_output(args)
    if args.device != "cpu" or args.mode != "eager":
        raise ConfigError(
            "--env compares environments on the CPU in eager mode; drop --device/--mode "
            "(compare a GPU environment with `pytest benchmarks` under each one)"
        )
    check_batch_memory(args.models, max(args.batch_sizes), args.device, "timing")
    python = resolve_python(args.env)

    def side(rev: str | None, python: str, where: str) -> Environment:
        if rev is None:
            return Environment(python, PACKAGE_ROOT, f"{where}, working tree")
        return Environment(python, extract_revision(rev), f"{where}, {rev}")

    baseline = side(args.baseline, python, args.env)
    candidate = side(args.head, sys.executable, "this environment")
    defaults = ABSettings()
    settings = ABSettings(
        threads=args.threads,
        seconds=args.seconds,
        min_effect={**defaults.min_effect, "p50": args.min_effect},
    )
    progress = not args.json and progress_shown()

    def on_result(label: str, result: object) -> None:
        if progress:
            say(f"  timed {label}")

    from ..ab.env_numerics import compare_numerics, numerics_verdict
    from ..ab.environments import compare_environments

    with EnvPair(baseline, candidate) as pair:
        head = headline(baseline, candidate)
        if progress:
            say(head)
        data_for = None
        if args.training:
            from ..measure.data import load_mnist

            def data_for(res: object) -> object:
                return load_mnist(res, root=args.data_root, seed=0)

        results = compare_environments(
            pair, args.models, args.batch_sizes, settings, data_for=data_for, on_result=on_result
        )
        numerics = compare_numerics(pair, args.models) if args.numerics else {}
    counts: list[Any] = []
    if args.instructions:
        from ..ab.env_counts import count_environments

        if progress:
            say("counting instructions under valgrind in both environments (minutes)")
        counts = count_environments(
            baseline,
            candidate,
            args.models,
            args.batch_sizes,
            training=args.training,
            data_root=args.data_root,
        )
    text = [head, render(results, baseline, candidate, settings)]
    if counts:
        from ..ab.env_counts import render_counts

        text.append(render_counts(counts))
    for rid, rows in numerics.items():
        text.append(f"numerics {rid}: {numerics_verdict(rows)}")
    slower = [label for label, r in results if r is not None and r.failed]
    moved = [row.nodeid for row in counts if row.failed]
    payload = {
        "environments": {"baseline": baseline.info, "candidate": candidate.info},
        "headline": head,
        "baseline": {"rev": args.baseline or "working tree", "env": baseline.python},
        "candidate": candidate.name,
        "settings": {**settings.recorded(), "device": "cpu", "mode": "eager"},
        "results": [
            {"label": label, **(r.as_dict() if r else {"verdict": Verdict.NEW})}
            for label, r in results
        ],
        fields.INSTRUCTIONS: [row.to_dict() for row in counts],
        "numerics": {
            rid: {
                "verdict": numerics_verdict(rows),
                "layers": [
                    {
                        "layer": r.layer,
                        "max_abs": r.max_abs,
                        "max_rel": r.max_rel,
                        "beyond_rounding": r.beyond_rounding,
                    }
                    for r in rows
                ],
            }
            for rid, rows in numerics.items()
        },
        "failed": slower + moved,
    }
    emit(args, payload, "\n".join(text))
    return 1 if payload["failed"] else 0
