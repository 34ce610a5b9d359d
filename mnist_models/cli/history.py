"""`mnist-models history`: trends of the gated figures across commits, and where they stepped."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .args import Parser, nonempty, positive_float


def add_parser(sub: argparse._SubParsersAction, common: Parser) -> None:
    """Register the command and its options."""
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
        "--store", type=nonempty, default="history.jsonl", help="the history file (JSON lines)"
    )
    p.add_argument("--append", metavar="RUN.json", help="add a saved run's gated figures")
    p.add_argument("--commit", help="with --append: the run's commit (default: git's HEAD)")
    p.add_argument("--date", help="with --append: the commit's date, ISO 8601")
    p.add_argument("--out", type=nonempty, help="folder for a plot per series and index.md")
    p.add_argument("--min-effect", type=positive_float, default=0.01, help="smallest step reported")
    p.add_argument("--all", action="store_true", help="plot every series, not only stepped ones")
    p.add_argument(
        "--confirm",
        action="store_true",
        help="run `compare` between the two commits of each latency or training-time step",
    )
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..gates.store import load_run_file
    from ..reporting import history

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
        from ..atomic import write_text_atomic

        write_text_atomic(Path(args.out) / "index.md", "\n".join(index) + "\n")
        print(f"wrote index.md and the plots in {args.out}")
    if args.confirm:
        from . import main

        for command in commands:
            print(f"$ {command}", flush=True)
            main(command.split()[1:])
    return 0
