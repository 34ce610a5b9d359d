"""`mnist-models study`: run a study (or all): tables, CSV/JSON, plots, index.md."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .. import __version__
from ..console import progress_shown, say
from .args import (
    Parser,
    add_device_options,
    add_force_option,
    add_training_options,
    check_device,
    nonempty,
)

if TYPE_CHECKING:
    from pathlib import Path

    from ..studies.catalog import Study
    from ..studies.records import StudyRow
    from ..studies.settings import StudySettings


def add_parser(sub: argparse._SubParsersAction, common: Parser) -> None:
    """Register the command and its options."""
    from ..studies.catalog import list_studies

    p = sub.add_parser(
        "study",
        help="run one of the studies (or all): tables, CSV/JSON, plots, index.md",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Finished runs are kept in one store shared by every study (--runs): an "
        "interrupted study resumes, a run another study made is not trained again, a "
        "finished one re-renders without training.",
    )
    p.add_argument(
        "name",
        choices=[*list_studies(), "all"],
        metavar="NAME",
        help=f"one of: {', '.join(list_studies())}, all",
    )
    add_training_options(p)
    p.add_argument("--repeats", type=int, default=1, help="seeds per run: mean and std")
    p.add_argument(
        "--out", type=nonempty, default=None, help="output folder (default: studies/NAME)"
    )
    p.add_argument(
        "--runs",
        type=nonempty,
        default=None,
        help="the store of finished runs every study shares (default: $MNIST_BENCH_RUNS or "
        "~/.cache/mnist-bench/runs)",
    )
    add_force_option(p)
    add_device_options(p)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..reporting.outputs import check_folder, claimed
    from ..studies.catalog import get_study, list_studies
    from ..studies.latency import with_side_by_side_latency
    from ..studies.runner import run_study
    from ..studies.settings import StudySettings, default_store

    names = list_studies() if args.name == "all" else [args.name]
    studies = [get_study(n) for n in names]  # validate names before any work
    check_device(args)
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
    runs = Path(args.runs) if args.runs else default_store()
    _check_run_store(runs)
    for study, out in zip(studies, outs, strict=True):
        with claimed(out, "study", force=args.force):
            tty = progress_shown()
            rows, computed = run_study(
                study,
                settings,
                runs,
                data_root=args.data_root,
                progress=tty,
                log=None if tty else say,
            )
            rows = with_side_by_side_latency(rows, out / "cache", log=say)
            _write_study(args, study, settings, out, rows, computed)
    return 0


def _check_run_store(runs) -> None:
    """The run store is a folder this user can write: checked before any training starts."""
    from ..errors import OutputError

    if runs.exists() and not runs.is_dir():
        raise OutputError(
            f"--runs {runs} is a file; the store of finished runs is a folder: give a folder "
            "(or another $MNIST_BENCH_RUNS)"
        )
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the run store {runs} ({err.strerror})") from None


def _write_study(
    args: argparse.Namespace,
    study: Study,
    settings: StudySettings,
    out: Path,
    rows: list[StudyRow],
    computed: int,
) -> None:
    """The study's tables, plots and index in `out`, and the summary on stdout."""
    from ..measure.device import where_parts
    from ..reporting.outputs import write_outputs

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
        "threads": rows[0].record.threads if rows else None,
        "device": settings.device,
        "mode": settings.mode,
        "runs": len(rows),
        "computed now": computed,
        "from cache": len(rows) - computed,
        "version": __version__,
    }
    files = write_outputs(
        out,
        study.title,
        [{**row.table_row(), "study": study.name} for row in rows],
        command=command,
        meta=meta,
        kind="study",
        records=[row.to_dict() for row in rows],
    )
    print(f"{study.title}: {len(rows)} runs ({computed} computed, {len(rows) - computed} cached)")
    print((out / "summary.md").read_text())
    print(f"wrote {', '.join(sorted(p.name for p in files.values()))} in {out}")
