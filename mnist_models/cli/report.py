"""`mnist-models report`: tables and plots of a saved run; with --against, two runs compared."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigError
from ..verdicts import FAILING
from .args import Parser, add_force_option, nonempty


def add_parser(sub: argparse._SubParsersAction, common: Parser) -> None:
    """Register the command and its options."""
    p = sub.add_parser(
        "report",
        help="tables and plots of a saved benchmark run; with --against, compare two runs",
        description="Exit status 1 when --against is given and a gated metric got worse beyond "
        "its gate.",
    )
    p.add_argument("run", help="pytest-benchmark JSON (--benchmark-json or a saved baseline)")
    p.add_argument("--against", help="an earlier run to compare with, metric by metric")
    p.add_argument(
        "--out", type=nonempty, help="folder for summary.md, results.csv/json, the plots, index.md"
    )
    p.add_argument("--all", action="store_true", help="list unchanged metrics too")
    p.add_argument(
        "--markdown",
        action="store_true",
        help="print the pull-request summary (Markdown) of the comparison instead of the table",
    )
    p.add_argument(
        "--ab",
        action="append",
        help="with --markdown: add the A/B table of `compare --json -o FILE` (repeat for "
        "`compare --env` output too: a dependency bump's summary leads with it)",
    )
    p.add_argument("--links", help="with --markdown: where the plots are (a URL or a note)")
    add_force_option(p)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..gates.engine import compare_runs
    from ..reporting.comparison import render_comparison
    from ..reporting.outputs import check_folder, claimed, write_outputs
    from ..reporting.run_rows import load_run, rows_from_run
    from ..reporting.tables import study_table, summarise

    run = load_run(args.run)
    base = load_run(args.against) if args.against else None
    changes, info = compare_runs(base, run) if base is not None else ([], {})
    rows = rows_from_run(run)
    text = render_comparison(changes, info, show_same=args.all) if base is not None else ""
    if args.markdown:
        if base is None:
            raise ConfigError("--markdown summarises a comparison: add --against OLD.json")
        from ..gates.machine_notes import machine_note
        from ..reporting.pr_summary import render_markdown

        ab = [_load_ab(path) for path in args.ab] if args.ab else None
        text = render_markdown(
            changes,
            info,
            new=args.run,
            base=args.against,
            machine=machine_note(
                base.get("machine_info") or {},
                run.get("machine_info") or {},
                base_run=any(c.source for c in changes),  # rows judged A/B or by a base run
            ),
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
                from ..atomic import write_text_atomic

                write_text_atomic(out / "comparison.txt", text + "\n")
        print(f"wrote {', '.join(sorted(p.name for p in files.values()))} in {args.out}")
    elif base is None:
        print(study_table(summarise(rows)))
    if base is None:
        return 0
    if not args.markdown:
        print(f"{args.run} against {args.against}:")
    print(text)
    return 1 if any(c.verdict in FAILING for c in changes) else 0


def _load_ab(path: str) -> dict[str, Any]:
    """compare's JSON (read by the store), a usage error when it cannot be shown."""
    from ..gates.schema import SchemaError
    from ..gates.store import load_ab_file

    try:
        return load_ab_file(path)
    except SchemaError as err:
        raise ConfigError(f"--ab {err}") from None
