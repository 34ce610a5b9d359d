"""`mnist-models compare`: A/B latency and training time of a git revision against the working
tree, interleaved."""

from __future__ import annotations

import argparse

from ..console import progress_shown, say
from ..verdicts import Verdict
from .args import (
    Parser,
    add_data_root_option,
    add_device_options,
    add_output_options,
    add_threads_option,
    check_batch_memory,
    check_device,
    check_output,
    emit,
    int_list,
    model_list,
    positive_float,
)


def add_parser(sub: argparse._SubParsersAction, common: Parser) -> None:
    """Register the command and its options."""
    from ..ab.compare import DEFAULT_BATCH_SIZES, DEFAULT_MODELS

    p = sub.add_parser(
        "compare",
        help="A/B latency of a git revision's models (or of another Python environment) "
        "against the working tree, interleaved",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Exit status 1 when a model got slower (significant and above the minimum "
        "effect) or, with --instructions, a count left its band; 0 otherwise; 2 on bad input. "
        "With --env, the baseline side runs in that environment (a PyTorch upgrade: "
        "docs/upgrading-pytorch.md).",
    )
    p.add_argument(
        "--baseline",
        default=None,
        help="git revision to compare against, e.g. main (with --env: the revision the other "
        "environment runs; default there: the working tree)",
    )
    p.add_argument(
        "--env",
        default=None,
        metavar="PYTHON",
        help="another environment's interpreter or virtual environment folder: the baseline "
        "side runs there, the candidate in this one (scripts/make-env.sh makes one)",
    )
    p.add_argument(
        "--instructions",
        action="store_true",
        help="with --env: also count each case's instructions under valgrind in both "
        "environments, gated by the cross-environment band",
    )
    p.add_argument(
        "--numerics",
        action="store_true",
        help="with --env: per layer, how far the outputs of the two environments differ on "
        "the same weights and input, naming the first layer beyond float32 rounding",
    )
    p.add_argument("--head", default=None, help="a second revision instead of the working tree")
    p.add_argument(
        "--models",
        type=model_list,
        default=list(DEFAULT_MODELS),
        help="comma-separated model ids, optionally with @resolution",
    )
    p.add_argument("--batch-sizes", type=int_list, default=list(DEFAULT_BATCH_SIZES))
    p.add_argument(
        "--training",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time training steps of each model (its own train(), batch 64), alternately",
    )
    add_data_root_option(p)
    p.add_argument("--seconds", type=positive_float, default=2.0, help="timing per row")
    add_threads_option(p)
    p.add_argument(
        "--min-effect",
        type=positive_float,
        default=0.05,
        help="smallest p50 slowdown that fails (0.05 = 5%%); tails have their own",
    )
    add_output_options(p)
    add_device_options(p)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    if args.env is not None:
        from .compare_env import command as env_command

        return env_command(args)
    from ..errors import ConfigError

    if args.baseline is None:
        raise ConfigError(
            "give --baseline REV (a git revision to compare against) or --env PYTHON (another "
            "environment)"
        )
    if args.instructions or args.numerics:
        raise ConfigError(
            "--instructions and --numerics compare two environments: give --env PYTHON "
            "(the instruction lane of `pytest benchmarks` compares revisions)"
        )
    import mnist_models

    from ..ab.abtest import ABSettings
    from ..ab.compare import Side, compare_sides, render
    from ..ab.revision import load_revision, package_changed, repo_root

    check_output(args)
    check_device(args)
    check_batch_memory(args.models, max(args.batch_sizes), args.device, "timing")
    defaults = ABSettings()
    settings = ABSettings(
        threads=args.threads,
        seconds=args.seconds,
        min_effect={**defaults.min_effect, "p50": args.min_effect},
    )
    repo = repo_root()
    base_pkg = load_revision(args.baseline, repo)
    baseline = Side(base_pkg, f"{args.baseline} ({base_pkg.__revision__[:10]})")
    if args.head:
        head_pkg = load_revision(args.head, repo)
        candidate = Side(head_pkg, f"{args.head} ({head_pkg.__revision__[:10]})")
    else:
        state = "with uncommitted changes" if package_changed("HEAD", repo) else "clean"
        candidate = Side(mnist_models, f"working tree ({state})")
    progress = not args.json and progress_shown()

    def on_result(label: str, result: object) -> None:
        if progress:
            say(f"  timed {label}")

    results = compare_sides(
        baseline,
        candidate,
        args.models,
        args.batch_sizes,
        settings,
        on_result=on_result,
        device=args.device,
        mode=args.mode,
    )
    if args.training:
        from ..ab.compare import compare_training
        from ..measure.data import load_mnist

        results += compare_training(
            baseline,
            candidate,
            args.models,
            settings,
            lambda res: load_mnist(res, root=args.data_root, seed=0),
            on_result=on_result,
            device=args.device,
        )
    payload = {
        "baseline": {"rev": args.baseline, "commit": base_pkg.__revision__},
        "candidate": candidate.name,
        "settings": {**settings.recorded(), "device": args.device, "mode": args.mode},
        "results": [
            {"label": label, **(r.as_dict() if r else {"verdict": Verdict.NEW})}
            for label, r in results
        ],
        "failed": [label for label, r in results if r is not None and r.failed],
    }
    emit(args, payload, render(results, baseline, candidate, settings, where=args.device))
    return 1 if payload["failed"] else 0
