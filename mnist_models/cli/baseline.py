"""`mnist-models baseline`: record or update the stored baseline after an intended change.

    mnist-models baseline                              # the suite (pytest benchmarks --gate-accept)
    mnist-models baseline --tests 'NODEID [NODEID...]' # some tests only (`make accept TESTS=...`)
    mnist-models baseline --from-json a.json b.json    # finished runs, their median per benchmark
    mnist-models baseline --storage DIR --from-json run.json   # into another storage

Every path ends in the one writer (gates/store.record): locked, validated, atomic. A pytest run
happens in this process (no child to orphan on Ctrl-C), with `--gate-accept`.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from ..errors import ConfigError
from .args import Parser, add_storage_option


def add_parser(sub: argparse._SubParsersAction, common: Parser) -> None:
    """Register the command and its options."""
    p = sub.add_parser(
        "baseline",
        help="record the stored baseline (a pytest run with --gate-accept, or finished runs)",
        description="Exit status 1 when the run fails (nothing is written), 2 on bad input.",
    )
    p.add_argument(
        "--tests",
        metavar="'NODEID ...'",
        help="the tests to record, one string split as a shell would (never run by a shell); "
        "an empty selection is refused",
    )
    p.add_argument(
        "--from-json",
        nargs="+",
        metavar="RUN.json",
        help="record finished runs (`pytest --benchmark-json=FILE`) instead of running pytest",
    )
    add_storage_option(p)
    p.add_argument("pytest_args", nargs="*", help="arguments for pytest (after --)")
    p.set_defaults(func=command)


def default_storage(project: Path = Path("pyproject.toml")) -> Path:
    """The baseline folder this project's pytest configuration names (`gate_storage`)."""
    import tomllib

    try:
        options = tomllib.loads(project.read_text())["tool"]["pytest"]["ini_options"]
        return project.parent / options["gate_storage"]
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError):
        raise ConfigError(
            f"no gate_storage in {project}'s [tool.pytest.ini_options]; pass --storage DIR"
        ) from None


def _is_path(arg: str) -> bool:
    return not arg.startswith("-") and ("::" in arg or Path(arg).exists())


def command(args: argparse.Namespace) -> int:
    if args.from_json:
        return _from_json(args)
    pytest_args = list(args.pytest_args)
    if args.tests is not None:
        tests = shlex.split(args.tests)
        if not tests:
            raise ConfigError(
                "--tests is empty: name the tests whose change you accept, e.g. "
                "--tests 'benchmarks/bench_counts.py::test_counts[mlp-32@28]' (the whole suite: "
                "leave --tests out)"
            )
        pytest_args += tests
    if not any(_is_path(a) for a in pytest_args):
        pytest_args.insert(0, "benchmarks")
    if args.storage:
        pytest_args.append(f"--benchmark-storage=file://{Path(args.storage).resolve()}")
    import pytest

    code = pytest.main([*pytest_args, "--gate-accept", "-p", "no:cacheprovider"])
    # pytest's statuses in this tool's words: interrupted 130, bad input 2, a failed run 1
    return {0: 0, 2: 130, 3: 2, 4: 2}.get(int(code), 1)


def _from_json(args: argparse.Namespace) -> int:
    from pytest_benchmark.utils import get_machine_id

    from ..gates.store import baseline_file, load_run_file, record

    hint = "give files written by `pytest --benchmark-json=FILE`"
    runs = [load_run_file(path, hint) for path in args.from_json]
    storage = Path(args.storage) if args.storage else default_storage()
    devices = {run.get("machine_info", {}).get("device", "cpu") for run in runs}
    if devices != {"cpu"} and not args.storage:
        raise ConfigError(
            f"these runs were made with --device {', '.join(sorted(devices))}: pass --storage "
            "with that device's baseline folder (CPU and CUDA baselines are kept apart)"
        )
    done = record(baseline_file(storage, get_machine_id()), runs)
    print(
        f"baseline {done.path}: {done.recorded} results recorded, {done.total} in all; "
        "review with `git diff --stat` and commit it"
    )
    return 0
