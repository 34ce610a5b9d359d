"""`mnist-models explain`: why a gated figure moved, item by item. An instruction case is
counted now under callgrind, against the stored baseline's breakdown or the same case counted
in another revision's package (`--against REV`); any benchmark of a finished run (`--run
FILE`, a `--benchmark-json` or `--gate-accept` output) is compared with the stored baseline
by every breakdown the two entries hold (operators, libraries, allocation sites).

    mnist-models explain 'test_forward_instructions[mlp-1024@28-bs1]'
    mnist-models explain 'test_training_instructions[mlp-128@28-bs64]' --against main
    mnist-models explain 'test_training_memory[mlp-128@28]' --run results.json

A failing row of the gate table shows the first lines of the same difference; this prints all.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path
from typing import Any

from .. import fields
from ..errors import ConfigError
from .args import Parser, add_data_root_option, add_storage_option

_TEST = re.compile(r"(?:.*::)?test_(forward|training)_instructions\[(.+)-bs(\d+)\]")


def add_parser(sub: argparse._SubParsersAction, common: Parser) -> None:
    """Register the command and its options."""
    p = sub.add_parser(
        "explain",
        help="why an instruction count moved: operators and libraries, baseline -> now",
        description="Counts one instruction case now under valgrind (about a minute) and prints "
        "what moved inside the count. Exit status 2 on bad input.",
    )
    p.add_argument("test", metavar="TEST_ID", help="an instruction benchmark's test id or node id")
    p.add_argument(
        "--against",
        metavar="REV",
        help="count the same case in this git revision's package too, and compare with it "
        "(default: the stored baseline's breakdown)",
    )
    add_storage_option(p)
    p.add_argument(
        "--run",
        metavar="RUN.json",
        help="a finished run (pytest --benchmark-json=FILE): explain its entry of TEST_ID "
        "against the stored baseline's, every metric with a breakdown, counting nothing",
    )
    add_data_root_option(p)
    p.set_defaults(func=command)


def parse_test(test: str) -> tuple[str, str, int]:
    """(kind, run id, batch size) of an instruction test id; a ConfigError naming the form."""
    match = _TEST.fullmatch(test.strip())
    if match is None:
        raise ConfigError(
            f"{test!r} is not an instruction benchmark; explain takes the id of one, e.g. "
            "'test_forward_instructions[mlp-1024@28-bs1]' or "
            "'test_training_instructions[mlp-128@28-bs64]' (the gate table names them)"
        )
    kind = "forward" if match[1] == "forward" else "train"
    return kind, match[2], int(match[3])


def _count(kind: str, rid: str, batch_size: int, source: Path | None, root: str | None):
    from ..measure.instruction_rules import cases_for
    from ..measure.instructions import (
        VALGRIND_HINT,
        CallgrindRun,
        InstructionLaneError,
        prepare_training_data,
        valgrind_path,
    )

    if valgrind_path() is None:
        raise ConfigError(f"valgrind is not installed; {VALGRIND_HINT}")
    cases = cases_for([rid], [batch_size] if kind == "forward" else [], training=kind == "train")
    with tempfile.TemporaryDirectory(prefix="mnist-explain-") as work:
        cases = prepare_training_data(cases, Path(work), root)
        run = CallgrindRun(cases, Path(work), source=source).start()
        try:
            (count,) = run.counts().values()
            breakdown = count.attribution()  # read while the dump exists
        except (InstructionLaneError, OSError) as err:
            where = f"in {source}" if source else "here"
            raise ConfigError(f"counting {rid} {where} failed: {err}") from None
        finally:
            run.stop()
    return {
        fields.INSTRUCTIONS: count.per_call,
        fields.ATTRIBUTION: {fields.INSTRUCTIONS: breakdown},
    }


def _entry(path: Path, test: str, hint: str) -> dict[str, Any]:
    from ..gates.store import load_run_file

    name = test.split("::")[-1]
    for bench in load_run_file(path)["benchmarks"]:
        if bench.get("name") == name:
            return bench.get("extra_info") or {}
    raise ConfigError(f"{path} has no entry {name!r}; {hint}")


def _baseline_entry(test: str, storage: str | None) -> dict[str, Any]:
    from pytest_benchmark.utils import get_machine_id

    from ..gates.store import find_baseline
    from .baseline import default_storage

    folder = Path(storage) if storage else default_storage()
    path = find_baseline(folder, get_machine_id(), True)
    if path is None:
        raise ConfigError(f"no baseline in {folder}; record one, or use --against REV")
    return _entry(path, test, "use --against REV")


def _explain_run(args: argparse.Namespace) -> int:
    """Every breakdown of TEST_ID's entry in a finished run against the stored baseline's."""
    from ..gates.attribution import FIELD, explain, heading

    now = _entry(Path(args.run), args.test, "name a test the run holds")
    then = _baseline_entry(args.test, args.storage)
    metrics = sorted(set(now.get(FIELD) or {}) & set(then.get(FIELD) or {}))
    if not metrics:
        raise ConfigError(
            f"{args.test}: the run and the baseline hold no breakdown of the same metric "
            "(the instruction, memory and operator lanes store them; record the baseline again "
            "if it predates them)"
        )
    for metric in metrics:
        before, after = then.get(metric), now.get(metric)
        print(f"{args.test}: {metric}, the stored baseline -> the run: {before} -> {after}")
        lines = explain(metric, then, now, limit=None)
        print(heading(metric, now))
        print("\n".join(f"  {line}" for line in lines) if lines else "  nothing moved")
    return 0


def command(args: argparse.Namespace) -> int:
    from ..gates.attribution import breakdown, explain, heading

    if args.run:
        return _explain_run(args)
    kind, rid, batch_size = parse_test(args.test)
    if args.against:
        from ..ab.revision import extract_revision

        then = _count(kind, rid, batch_size, extract_revision(args.against), args.data_root)
        side = f"revision {args.against}"
    else:
        then = _baseline_entry(args.test, args.storage)
        side = "the stored baseline"
        if breakdown(then, fields.INSTRUCTIONS) is None:
            raise ConfigError(
                "the stored baseline's entry has no breakdown (recorded before attribution); "
                "record it again (make accept) or use --against REV"
            )
    now = _count(kind, rid, batch_size, None, args.data_root)
    before, after = then.get(fields.INSTRUCTIONS), now[fields.INSTRUCTIONS]
    unit = "per call" if kind == "forward" else "per step"
    change = f" ({after / before - 1:+.2%})" if before else ""
    print(f"{args.test}: instructions {unit}, {side} -> now: {before:,.0f} -> {after:,.0f}{change}")
    lines = explain(fields.INSTRUCTIONS, then, now, limit=None)
    print(heading(fields.INSTRUCTIONS, now))
    print("\n".join(f"  {line}" for line in lines) if lines else "  nothing moved")
    return 0
