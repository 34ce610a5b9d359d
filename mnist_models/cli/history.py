"""`mnist-models history`: trends of the gated figures across commits, and where they stepped."""

from __future__ import annotations

import argparse
import shlex

from .. import fields
from ..errors import ConfigError
from .args import Parser, add_force_option, nonempty, positive_float


def add_parser(sub: argparse._SubParsersAction, common: Parser) -> None:
    """Register the command and its options."""
    p = sub.add_parser(
        fields.HISTORY,
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
    add_force_option(p, what="--out")
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
        wrong = history.check_commit(commit, date)
        if wrong:
            raise ConfigError(f"--commit/--date: {wrong}")
        added = history.append(store, run, commit, date)
        print(f"{store}: {added} figures of {commit[:12]} ({date}) added")
        return 0
    if args.out:  # the folder rule of `study` and `report`: new, empty, or ours (--force)
        from ..reporting.outputs import check_folder

        check_folder(Path(args.out), "history", force=args.force)
    found = history.series(history.load(store), args.pattern)
    if not found:
        what = f"matching {args.pattern!r} " if args.pattern else ""
        raise ConfigError(f"no series {what}in {store}; append runs with --append RUN.json")
    lines, index, commands = [], [f"# History of {store}", ""], []
    plots: list[tuple] = []
    for s in found:
        moved = history.find_steps(s, min_effect=args.min_effect)
        for step in moved:
            line = (
                f"{s.label} [{s.machine}]: {step.change:+.1%} between {step.before[:12]} and "
                f"{step.after[:12]} ({step.level_before:.4g} -> {step.level_after:.4g})"
            )
            model = history.model_of(s.benchmark)
            if model and s.metric.startswith(("latency", "epoch")):
                # an argument list, never split text: every part was validated on load
                argv = ["compare", "--baseline", step.before, "--head", step.after]
                argv += ["--models", model]
                commands.append(argv)
                line += f"; confirm: mnist-models {shlex.join(argv)}"
            lines.append(line)
        if args.out and (moved or args.all):
            plots.append((s, moved))
    print(f"{len(found)} series, {len(lines)} steps (min effect {args.min_effect:.1%}):")
    for line in lines or ["no steps"]:
        print(f"  {line}")
    if args.out:
        _write_plots(Path(args.out), plots, lines, index, force=args.force)
        print(f"wrote index.md and the plots in {args.out}")
    status = 0
    if args.confirm:
        from . import main

        for argv in commands:
            print(f"$ mnist-models {shlex.join(argv)}", flush=True)
            status = max(status, main(argv))  # a failed or regressed compare fails the command
    return status


def _write_plots(out, plots: list[tuple], lines: list[str], index: list[str], *, force: bool):
    """A plot per series (its machine kind in the file name: two kinds never share a file) and
    index.md, in a folder claimed as `study` and `report` claim theirs."""
    from ..atomic import write_text_atomic
    from ..reporting import history
    from ..reporting.outputs import claimed

    with claimed(out, "history", force=force):
        for s, moved in plots:
            title = f"{s.label} {s.machine}"
            name = "".join(c if c.isalnum() or c in ".-" else "_" for c in title)[:160]
            path = history.plot(s, moved, out / f"{name}.png")
            index += [f"## {s.label} ({s.machine})", "", f"![{s.label}]({path.name})", ""]
            index += [f"- {ln}" for ln in lines if ln.startswith(s.label)] + [""]
        write_text_atomic(out / "index.md", "\n".join(index) + "\n")
