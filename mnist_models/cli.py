"""`mnist-models`: list models, fetch data, count a model, or train and measure one."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .errors import ConfigError, MnistBenchError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the bad value (exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    """Print JSON or text; also write the JSON atomically to --output when given."""
    from .atomic import write_text_atomic

    rendered = json.dumps(payload, indent=2, sort_keys=True)
    print(rendered if args.json else text, flush=True)  # first: a failed write loses nothing
    if args.output:
        write_text_atomic(args.output, rendered + "\n")


def _check_device(args: argparse.Namespace) -> None:
    """--device and --mode checked before any work (a missing GPU is a one-line error)."""
    from .device import check_mode, resolve_device

    device = resolve_device(args.device)
    if getattr(args, "mode", None):
        check_mode(args.mode, device)


def _add_device_options(p: argparse.ArgumentParser, *, mode: bool = True) -> None:
    from .device import DEVICES, MODES

    p.add_argument(
        "--device",
        default="cpu",
        choices=DEVICES,
        help="where the models train and are timed; on cuda the data stays on the GPU and "
        "times come from CUDA events",
    )
    if mode:
        p.add_argument(
            "--mode",
            default="eager",
            choices=MODES,
            help="how the timed forward passes run: eager, a replayed CUDA graph (cuda only) or "
            "torch.compile (compile time is reported apart, never in latency)",
        )


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


def cmd_count(args: argparse.Namespace) -> int:
    _check_output(args)
    from .runs import count_payload

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
    from .energy import EnergyModel
    from .runs import ROW_HEADER, format_row, measure_run
    from .train import TrainConfig

    # Validate everything before any work starts.
    _check_output(args)
    _check_device(args)
    train_config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
    )
    payload = measure_run(
        args.model,
        args.resolution,
        train_config,
        val_fraction=args.val_fraction,
        data_root=args.data_root,
        energy=EnergyModel(
            args.watts_per_core, args.grid_intensity, watts_per_gpu=args.watts_per_gpu
        ),
        progress=not args.json and sys.stderr.isatty(),
        device=args.device,
        mode=args.mode,
    )
    _emit(args, payload, f"{ROW_HEADER}\n{format_row(payload)}")
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


def _finite_float(text: str) -> float:
    """A finite number: NaN and infinity would end up in JSON results and gates."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _nonempty(text: str) -> str:
    """A path or name that is not empty (an empty -o or --data-root is a mistake, not a default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def _model_list(text: str) -> list[str]:
    models = [m.strip() for m in text.split(",") if m.strip()]
    if not models:
        raise argparse.ArgumentTypeError(
            f"no model ids in {text!r}; give ids such as mlp-1024,lenet5 (comparing nothing "
            "would pass every time)"
        )
    return models


def cmd_compare(args: argparse.Namespace) -> int:
    import mnist_models

    from .abtest import ABSettings
    from .compare import Side, compare_sides, render
    from .revision import load_revision, package_changed, repo_root

    _check_output(args)
    _check_device(args)
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
        from .compare import compare_training
        from .data import load_mnist

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
            {"label": label, **(r.as_dict() if r else {"verdict": "new"})} for label, r in results
        ],
        "failed": [label for label, r in results if r is not None and r.failed],
    }
    _emit(args, payload, render(results, baseline, candidate, settings, where=args.device))
    return 1 if payload["failed"] else 0


def cmd_study(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .outputs import check_folder, claimed
    from .studies import StudySettings, get_study, list_studies, run_study
    from .study_latency import with_side_by_side_latency

    names = list_studies() if args.name == "all" else [args.name]
    studies = [get_study(n) for n in names]  # validate names before any work
    _check_device(args)
    settings = StudySettings(
        epochs=args.epochs,
        repeats=args.repeats,
        threads=args.threads,
        lr=args.lr,
        device=args.device,
        mode=args.mode,
    )
    base = Path(args.out) if args.out else Path("studies")
    outs = [base / s.name if (args.name == "all" or not args.out) else base for s in studies]
    for out in outs:  # every folder checked before any training starts
        check_folder(out, "study", force=args.force)
    for study, out in zip(studies, outs, strict=True):
        with claimed(out, "study", force=args.force):
            tty = sys.stderr.isatty()
            rows, computed = run_study(
                study,
                settings,
                out,
                data_root=args.data_root,
                progress=tty,
                log=None if tty else _say,
            )
            rows = with_side_by_side_latency(rows, out / "cache", log=_say)
            _write_study(args, study, settings, out, rows, computed)
    return 0


def _write_study(
    args: argparse.Namespace,
    study: Any,
    settings: Any,
    out: Any,
    rows: list[dict[str, Any]],
    computed: int,
) -> None:
    """The study's tables, plots and index in `out`, and the summary on stdout."""
    from .device import where_parts
    from .outputs import write_outputs

    where = "".join(
        f" --{k} {v}"
        for k, v in (("device", args.device), ("mode", args.mode))
        if v in where_parts(args.device, args.mode)
    )
    command = (
        f"mnist-models study {study.name} --epochs {settings.epochs} "
        f"--repeats {settings.repeats}{where} --out {out}"
    )
    meta = {
        "study": study.name,
        "epochs": settings.epochs,
        "repeats": settings.repeats,
        "threads": rows[0]["threads"] if rows else None,
        "device": settings.device,
        "mode": settings.mode,
        "runs": len(rows),
        "computed now": computed,
        "from cache": len(rows) - computed,
        "version": __version__,
    }
    files = write_outputs(out, study.title, rows, command=command, meta=meta, kind="study")
    print(f"{study.title}: {len(rows)} runs ({computed} computed, {len(rows) - computed} cached)")
    print((out / "summary.md").read_text())
    print(f"wrote {', '.join(sorted(p.name for p in files.values()))} in {out}")


def _say(message: str) -> None:
    """A progress line on stderr, flushed at once (CI logs show it as it happens)."""
    print(message, file=sys.stderr, flush=True)


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .outputs import check_folder, claimed, write_outputs
    from .report import compare_runs, load_run, render_comparison, rows_from_run
    from .tables import markdown_table, summarise

    run = load_run(args.run)
    base = load_run(args.against) if args.against else None
    changes, info = compare_runs(base, run) if base is not None else ([], {})
    rows = rows_from_run(run)
    text = render_comparison(changes, info, show_same=args.all) if base is not None else ""
    if args.markdown:
        if base is None:
            raise ConfigError("--markdown summarises a comparison: add --against OLD.json")
        from .machine_notes import machine_note
        from .report import render_markdown

        ab = _load_ab(args.ab) if args.ab else None
        text = render_markdown(
            changes,
            info,
            new=args.run,
            base=args.against,
            machine=machine_note(base.get("machine_info") or {}, run.get("machine_info") or {}),
            ab=ab,
            links=args.links,
        )
    if args.out:
        out = Path(args.out)
        check_folder(out, "report", force=args.force)
        with claimed(out, "report", force=args.force):
            command = f"mnist-models report {args.run} --out {args.out}"
            files = write_outputs(
                out, f"Benchmark run {Path(args.run).name}", rows, command=command, kind="report"
            )
            if base is not None:
                from .atomic import write_text_atomic

                write_text_atomic(out / "comparison.txt", text + "\n")
        print(f"wrote {', '.join(sorted(p.name for p in files.values()))} in {args.out}")
    elif base is None:
        print(markdown_table(summarise(rows)))
    if base is None:
        return 0
    if not args.markdown:
        print(f"{args.run} against {args.against}:")
    print(text)
    return 1 if any(c.verdict in FAILING_VERDICTS for c in changes) else 0


def _load_ab(path: str) -> dict[str, Any]:
    """The JSON of `mnist-models compare --json -o FILE`, checked enough to render."""
    from pathlib import Path

    from .schema import loads

    try:
        data = loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"--ab {path}: no such file; give `mnist-models compare -o` output"
        ) from None
    except (OSError, ValueError) as err:
        raise ConfigError(f"--ab {path} cannot be read as JSON ({err})") from None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list) or not all(
        isinstance(r, dict) and isinstance(r.get("label"), str) for r in results
    ):
        raise ConfigError(
            f"--ab {path} has no 'results' list of labelled rows; give compare's JSON"
        )
    return data


FAILING_VERDICTS = ("WORSE", "MISSING")


def cmd_history(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import history
    from .schema import load_run_file

    store = Path(args.store)
    if args.append:
        run = load_run_file(args.append, "give a file written by `pytest --benchmark-json=FILE`")
        if bool(args.commit) != bool(args.date):
            raise ConfigError("give --commit and --date together (or neither: git's HEAD)")
        commit, date = (args.commit, args.date) if args.commit else history.git_commit()
        added = history.append(store, run, commit, date)
        print(f"{store}: {added} figures of {commit[:12]} ({date}) added")
        return 0
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise ConfigError(f"--out {args.out} is a file; give a folder")
    found = history.series(history.load(store), args.pattern)
    if not found:
        what = f"matching {args.pattern!r} " if args.pattern else ""
        raise ConfigError(f"no series {what}in {store}; append runs with --append RUN.json")
    lines, index, commands = [], [f"# History of {store}", ""], []
    for s in found:
        moved = history.find_steps(s, min_effect=args.min_effect)
        for step in moved:
            line = (
                f"{s.label} [{s.machine}]: {step.change:+.1%} between {step.before[:12]} and "
                f"{step.after[:12]} ({step.level_before:.4g} -> {step.level_after:.4g})"
            )
            model = history.model_of(s.benchmark)
            if model and s.metric.startswith(("latency", "epoch")):
                command = (
                    f"mnist-models compare --baseline {step.before} --head {step.after} "
                    f"--models {model}"
                )
                commands.append(command)
                line += f"; confirm: {command}"
            lines.append(line)
        if args.out and (moved or args.all):
            name = "".join(c if c.isalnum() or c in ".-" else "_" for c in s.label)[:120]
            path = history.plot(s, moved, Path(args.out) / f"{name}.png")
            index += [f"## {s.label} ({s.machine})", "", f"![{s.label}]({path.name})", ""]
            index += [f"- {ln}" for ln in lines if ln.startswith(s.label)] + [""]
    print(f"{len(found)} series, {len(lines)} steps (min effect {args.min_effect:.1%}):")
    for line in lines or ["no steps"]:
        print(f"  {line}")
    if args.out:
        from .atomic import write_text_atomic

        write_text_atomic(Path(args.out) / "index.md", "\n".join(index) + "\n")
        print(f"wrote index.md and the plots in {args.out}")
    if args.confirm:
        for command in commands:
            print(f"$ {command}", flush=True)
            main(command.split()[1:])
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from .profiling import profile_model

    _check_output(args)
    _check_device(args)
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
        from .atomic import write_text_atomic

        write_text_atomic(args.output, text + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .energy import GRID_G_PER_KWH, WATTS_PER_CORE, WATTS_PER_GPU

    parser = _Parser(prog="mnist-models", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="named models with their params and MACs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("data", help="fetch MNIST and verify its MD5s")
    p.add_argument(
        "--data-root",
        type=_nonempty,
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
    common.add_argument(
        "-o", "--output", type=_nonempty, help="also write the JSON object to this file"
    )

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
    p.add_argument("--lr", type=_positive_float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument(
        "--val-fraction",
        type=_finite_float,
        default=0.2,
        help="held-out share of the 60,000 training images (0: train on all)",
    )
    p.add_argument("--data-root", type=_nonempty, default=None)
    p.add_argument("--watts-per-core", type=_finite_float, default=WATTS_PER_CORE)
    p.add_argument(
        "--grid-intensity", type=_finite_float, default=GRID_G_PER_KWH, help="gCO2e per kWh"
    )
    p.add_argument(
        "--watts-per-gpu",
        type=_finite_float,
        default=WATTS_PER_GPU,
        help="GPU power (with --device cuda)",
    )
    _add_device_options(p)
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
        type=_model_list,
        default=list(DEFAULT_MODELS),
        help="comma-separated model ids, optionally with @resolution",
    )
    p.add_argument("--batch-sizes", type=_int_list, default=list(DEFAULT_BATCH_SIZES))
    p.add_argument(
        "--training",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time training steps of each model (its own train(), batch 64), alternately",
    )
    p.add_argument(
        "--data-root", type=_nonempty, default=None, help="MNIST root for the training rows"
    )
    p.add_argument("--seconds", type=_positive_float, default=2.0, help="timing per row")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--min-effect",
        type=_positive_float,
        default=0.05,
        help="smallest p50 slowdown that fails (0.05 = 5%%); tails have their own",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-o", "--output", type=_nonempty, help="also write the JSON object to this file")
    _add_device_options(p)
    p.set_defaults(func=cmd_compare)

    from .studies import list_studies

    p = sub.add_parser(
        "study",
        help="run one of the studies (or all): tables, CSV/JSON, plots, index.md",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Finished runs are cached in OUT/cache: an interrupted study resumes, a "
        "finished one re-renders without training.",
    )
    p.add_argument(
        "name",
        choices=[*list_studies(), "all"],
        metavar="NAME",
        help=f"one of: {', '.join(list_studies())}, all",
    )
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1, help="seeds per run: mean and std")
    p.add_argument("--lr", type=_positive_float, default=1e-3)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument(
        "--out", type=_nonempty, default=None, help="output folder (default: studies/NAME)"
    )
    p.add_argument("--data-root", type=_nonempty, default=None)
    p.add_argument(
        "--force", action="store_true", help="write into a non-empty folder another tool made"
    )
    _add_device_options(p)
    p.set_defaults(func=cmd_study)

    p = sub.add_parser(
        "report",
        help="tables and plots of a saved benchmark run; with --against, compare two runs",
        description="Exit status 1 when --against is given and a gated metric got worse beyond "
        "its gate.",
    )
    p.add_argument("run", help="pytest-benchmark JSON (--benchmark-json or a saved baseline)")
    p.add_argument("--against", help="an earlier run to compare with, metric by metric")
    p.add_argument(
        "--out", type=_nonempty, help="folder for summary.md, results.csv/json, the plots, index.md"
    )
    p.add_argument("--all", action="store_true", help="list unchanged metrics too")
    p.add_argument(
        "--markdown",
        action="store_true",
        help="print the pull-request summary (Markdown) of the comparison instead of the table",
    )
    p.add_argument("--ab", help="with --markdown: add the A/B table of `compare --json -o FILE`")
    p.add_argument("--links", help="with --markdown: where the plots are (a URL or a note)")
    p.add_argument(
        "--force", action="store_true", help="write into a non-empty folder another tool made"
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "history",
        help="trends of the gated figures across main's commits, and the commits where they "
        "stepped",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "pattern", nargs="?", help="a benchmark name fragment (mlp-1024@28) or a metric name"
    )
    p.add_argument(
        "--store", type=_nonempty, default="history.jsonl", help="the history file (JSON lines)"
    )
    p.add_argument("--append", metavar="RUN.json", help="add a saved run's gated figures")
    p.add_argument("--commit", help="with --append: the run's commit (default: git's HEAD)")
    p.add_argument("--date", help="with --append: the commit's date, ISO 8601")
    p.add_argument("--out", type=_nonempty, help="folder for a plot per series and index.md")
    p.add_argument(
        "--min-effect", type=_positive_float, default=0.01, help="smallest step reported"
    )
    p.add_argument("--all", action="store_true", help="plot every series, not only stepped ones")
    p.add_argument(
        "--confirm",
        action="store_true",
        help="run `compare` between the two commits of each latency or training-time step",
    )
    p.set_defaults(func=cmd_history)

    from .profiling import SORT_KEYS

    p = sub.add_parser(
        "profile",
        help="torch.profiler operator table of a model's forward pass or training step",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("model", help="model id, e.g. mlp-1024, lenet5")
    p.add_argument("--resolution", default=None, help="28, resize:N, crop:N or pad:N")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--train", action="store_true", help="profile training steps instead")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rows", type=int, default=15)
    p.add_argument("--sort-by", default="self_cpu_time_total", choices=SORT_KEYS)
    p.add_argument("-o", "--output", type=_nonempty, help="also write the table to this file")
    _add_device_options(p, mode=False)
    p.set_defaults(func=cmd_profile)
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
    except BrokenPipeError:  # output piped into `head`: stop quietly, as cat does
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
