"""`mnist-models`: list models, fetch data, count a model, or train and measure one."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .errors import MnistBenchError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the bad value (exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    """Print JSON or text; also write the JSON atomically to --output when given."""
    from .atomic import write_text_atomic

    rendered = json.dumps(payload, indent=2, sort_keys=True)
    if args.output:
        write_text_atomic(args.output, rendered + "\n")
    print(rendered if args.json else text)


def _check_output(args: argparse.Namespace) -> None:
    from .atomic import check_writable

    if getattr(args, "output", None):
        check_writable(args.output)  # fail before the work, not after it


def cmd_list(args: argparse.Namespace) -> int:
    from .registry import get_config, list_models

    rows = []
    for name in list_models():
        config, res = get_config(name)
        rows.append(
            {"model": name, "resolution": res.id, "params": config.params, "macs": config.macs}
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'model':<12} {'resolution':>10} {'params':>12} {'MACs':>12}")
        for r in rows:
            print(f"{r['model']:<12} {r['resolution']:>10} {r['params']:>12,} {r['macs']:>12,}")
        print(
            "Any id of the grammar works too: mlp-W, mlp-WxD, mlp-W1-W2-..., cnn9-6-20, "
            "lenet5:tanh:avg (see README)."
        )
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from .data import MD5, ensure_mnist, raw_dir

    root = ensure_mnist(args.data_root)
    print(f"MNIST ready in {raw_dir(root)} ({len(MD5)} files, MD5s verified)")
    return 0


def count_payload(model_id: str, resolution: str | None) -> dict[str, Any]:
    """Everything `count` reports: analytic per-layer figures checked against the real module."""
    from .metrics import count_params, flop_counts, size_bytes, thop_macs
    from .registry import get_config, get_model, run_id

    config, res = get_config(model_id, resolution)
    model = get_model(model_id, res)
    input_shape = (1, res.size, res.size)
    macs, per_layer = flop_counts(model, input_shape)
    return {
        "model": config.id,
        "resolution": res.id,
        "run_id": run_id(config, res),
        "params": count_params(model),
        "params_analytic": config.params,
        "macs": macs,
        "macs_analytic": config.macs,
        "macs_thop": thop_macs(model, input_shape),
        "flops": 2 * macs,
        "size_bytes": size_bytes(model),
        "size_with_adam_bytes": size_bytes(model, with_optimizer=True),
        "layers": [
            {
                "name": layer.name,
                "kind": layer.kind,
                "output_shape": list(layer.shape),
                "params": layer.params,
                "macs": layer.macs,
                "macs_counted": per_layer.get(layer.name, 0),
            }
            for layer in config.layers()
        ],
    }


def cmd_count(args: argparse.Namespace) -> int:
    _check_output(args)
    p = count_payload(args.model, args.resolution)
    lines = [
        f"{p['run_id']}",
        f"{'layer':<8} {'kind':<7} {'output':>12} {'params':>12} {'MACs':>12}",
    ]
    for layer in p["layers"]:
        shape = "x".join(map(str, layer["output_shape"]))
        lines.append(
            f"{layer['name']:<8} {layer['kind']:<7} {shape:>12} "
            f"{layer['params']:>12,} {layer['macs']:>12,}"
        )
    lines += [
        f"params {p['params']:,}  MACs {p['macs']:,}  FLOPs {p['flops']:,} (2 x MACs)",
        f"thop MACs {p['macs_thop']:,}  size {p['size_bytes']:,} B "
        f"({p['size_with_adam_bytes']:,} B with Adam state)",
    ]
    _emit(args, p, "\n".join(lines))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .data import load_mnist
    from .metrics import EnergyModel, measure_latency
    from .registry import get_config, get_model
    from .train import TrainConfig, evaluate, train

    # Validate everything before any work starts.
    _check_output(args)
    config, res = get_config(args.model, args.resolution)
    train_config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
    )
    energy = EnergyModel(args.watts_per_core, args.grid_intensity)
    counts = count_payload(args.model, args.resolution)
    data = load_mnist(res, val_fraction=args.val_fraction, seed=args.seed, root=args.data_root)
    model = get_model(args.model, res, seed=args.seed)
    result = train(model, data, train_config, progress=not args.json and sys.stderr.isatty())
    _, accuracy = evaluate(model, data.test_x, data.test_y)
    shape = (1, res.size, res.size)
    lat1 = measure_latency(model, shape, 1, threads=result.threads)
    latb = measure_latency(
        model,
        shape,
        args.batch_size,
        threads=result.threads,
        rounds=max(20, min(200, 20_000 // args.batch_size)),
    )
    payload = {
        **{
            k: counts[k]
            for k in (
                "model",
                "resolution",
                "run_id",
                "params",
                "macs",
                "flops",
                "size_bytes",
                "size_with_adam_bytes",
            )
        },
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "val_fraction": args.val_fraction,
        "threads": result.threads,
        "accuracy": accuracy,
        "train_samples": result.train_samples,
        "train_seconds": result.train_seconds,
        "epoch_seconds": result.epoch_seconds,
        "history": result.as_dict()["history"],
        "latency_us_p50": lat1.p50_us,
        "latency_us_p90": lat1.p90_us,
        "latency_us_p99": lat1.p99_us,
        "latency_batched": latb.as_dict(),
        "train_energy_j": energy.joules(result.train_seconds, result.threads),
        "train_co2_g": energy.co2_grams(result.train_seconds, result.threads),
        "inference_co2_g": energy.co2_grams(lat1.p50_us / 1e6, result.threads),
        "energy_model": {
            "watts_per_core": energy.watts_per_core,
            "grid_g_per_kwh": energy.grid_g_per_kwh,
            "pue": energy.pue,
        },
        "version": __version__,
    }
    header = (
        f"{'model':<24} {'epochs':>6} {'train s':>8} {'s/epoch':>8} {'lat us':>8} "
        f"{'acc %':>6} {'FLOPs':>12} {'params':>10} {'size B':>10} {'CO2eq g':>8}"
    )
    row = (
        f"{payload['run_id']:<24} {args.epochs:>6} {result.train_seconds:>8.2f} "
        f"{result.epoch_seconds:>8.2f} {lat1.p50_us:>8.1f} {100 * accuracy:>6.2f} "
        f"{payload['flops']:>12,} {payload['params']:>10,} {payload['size_with_adam_bytes']:>10,} "
        f"{payload['train_co2_g']:>8.4f}"
    )
    _emit(args, payload, f"{header}\n{row}")
    return 0


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return values


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def cmd_compare(args: argparse.Namespace) -> int:
    import mnist_models

    from .abtest import ABSettings
    from .compare import Side, compare_sides, render
    from .revision import load_revision, package_changed, repo_root

    _check_output(args)
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
    progress = not args.json and sys.stderr.isatty()

    def on_result(label: str, result: object) -> None:
        if progress:
            print(f"  timed {label}", file=sys.stderr)

    results = compare_sides(
        baseline, candidate, args.models, args.batch_sizes, settings, on_result=on_result
    )
    payload = {
        "baseline": {"rev": args.baseline, "commit": base_pkg.__revision__},
        "candidate": candidate.name,
        "settings": {
            "threads": settings.threads,
            "seconds": settings.seconds,
            "block_s": settings.block_s,
            "confidence": settings.confidence,
            "min_effect": settings.min_effect,
        },
        "results": [
            {"label": label, **(r.as_dict() if r else {"verdict": "new"})} for label, r in results
        ],
        "failed": [label for label, r in results if r is not None and r.failed],
    }
    _emit(args, payload, render(results, baseline, candidate, settings))
    return 1 if payload["failed"] else 0


def build_parser() -> argparse.ArgumentParser:
    from .metrics import GRID_G_PER_KWH, WATTS_PER_CORE

    parser = _Parser(prog="mnist-models", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="named models with their params and MACs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("data", help="fetch MNIST and verify its MD5s")
    p.add_argument(
        "--data-root",
        help="folder holding MNIST/raw/ (default: $MNIST_BENCH_DATA or ~/.cache/mnist-bench)",
    )
    p.set_defaults(func=cmd_data)

    common = _Parser(add_help=False)
    common.add_argument("model", help="model id, e.g. mlp-1024, mlp-512x3, lenet5:tanh, cnn9-6-20")
    common.add_argument(
        "--resolution",
        default=None,
        help="28, resize:N, crop:N or pad:N (default: the model's native one)",
    )
    common.add_argument("--json", action="store_true", help="print one JSON object")
    common.add_argument("-o", "--output", help="also write the JSON object to this file")

    p = sub.add_parser("count", parents=[common], help="params, MACs, FLOPs, size; no training")
    p.set_defaults(func=cmd_count)

    p = sub.add_parser(
        "run",
        parents=[common],
        help="train, evaluate and measure one model",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="held-out share of the 60,000 training images (0: train on all)",
    )
    p.add_argument("--data-root", default=None)
    p.add_argument("--watts-per-core", type=float, default=WATTS_PER_CORE)
    p.add_argument("--grid-intensity", type=float, default=GRID_G_PER_KWH, help="gCO2e per kWh")
    p.set_defaults(func=cmd_run)

    from .compare import DEFAULT_BATCH_SIZES, DEFAULT_MODELS

    p = sub.add_parser(
        "compare",
        help="A/B latency of a git revision's models against the working tree, interleaved",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Exit status 1 when a model got slower (significant and above the minimum "
        "effect), 0 otherwise, 2 on bad input.",
    )
    p.add_argument("--baseline", required=True, help="git revision to compare against, e.g. main")
    p.add_argument("--head", default=None, help="a second revision instead of the working tree")
    p.add_argument(
        "--models",
        type=lambda t: [m for m in t.split(",") if m.strip()],
        default=list(DEFAULT_MODELS),
        help="comma-separated model ids, optionally with @resolution",
    )
    p.add_argument("--batch-sizes", type=_int_list, default=list(DEFAULT_BATCH_SIZES))
    p.add_argument("--seconds", type=_positive_float, default=2.0, help="timing per row")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--min-effect",
        type=_positive_float,
        default=0.05,
        help="smallest p50 slowdown that fails (0.05 = 5%%); tails have their own",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-o", "--output", help="also write the JSON object to this file")
    p.set_defaults(func=cmd_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MnistBenchError as err:
        print(f"mnist-models: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mnist-models: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
