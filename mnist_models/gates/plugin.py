"""pytest plugin: gate every metric a benchmark records against the stored baseline.

pytest-benchmark compares only times and ignores `extra_info`. Here each benchmark records its
metrics through the `gate` fixture, each with the direction and tolerance declared beside the
test (`exact`, `higher`, `lower`); they are stored in `extra_info`, judged by the engine
(engine.py) against the baseline that `--benchmark-compare` selects, and a failure prints a
table and the command that accepts the change. `--gate-accept` records the run into the
baseline instead (store.py, the one writer).

A guest in every pytest session of the environment (its `pytest11` entry point): a session
opts in with the ini key `gate_storage` (where its baselines live); without it, nothing of
pytest-benchmark's options or output changes, and the `gate` fixture checks declared bounds only.
Each hook is one call into the session (session.py).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ..errors import MnistBenchError
from . import base_run
from .compare_fail import MARKER as COMPARE_FAIL_MARKER
from .compare_fail import CompareFail
from .engine import kind_difference
from .machine_notes import instead_of_the_warning, machine_note
from .session import DEFAULT_BASELINE_COMMAND, Gate, GateSession, render_table
from .store import Baseline, baseline_file, find_baseline, record, storage_path
from .timed_ab import MARKER as TIMED_AB_MARKER

_SESSION = pytest.StashKey[GateSession]()
_GATE = pytest.StashKey[Gate]()
_ACCEPT = pytest.StashKey[Path]()  # --gate-accept: the baseline file the run is merged into
_ACCEPT_TMP = pytest.StashKey[Path]()  # --gate-accept: our folder for pytest-benchmark's JSON
_ACCEPT_MADE = pytest.StashKey[list[Path]]()  # --gate-accept: folders made for the baseline
PYTEST_BENCHMARK_DEFAULT_STORAGE = "file://./.benchmarks"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def _tolerance(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)  # argparse turns this into "invalid _tolerance value"
    return value


_tolerance.__name__ = "finite, non-negative fraction"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mnist-bench gates", "metric gates against the stored baseline")
    group.addoption(
        "--gate-time-tolerance",
        type=_tolerance,
        default=None,
        metavar="FRACTION",
        help="override the relative tolerance of every time metric, e.g. 0.5 for +50%% "
        "(default: each metric's own, declared beside its test)",
    )
    group.addoption(
        "--gate-report",
        metavar="PATH",
        default=None,
        help="write every gated metric (metric, baseline, now, verdict, rule) as JSON to PATH",
    )
    group.addoption(
        "--gate-base",
        metavar="REV",
        default=None,
        help="measure revision REV on this machine (a throwaway git worktree, cached by commit "
        "and machine) for what the stored baseline cannot judge here: timed rows of another "
        "machine kind, figures under another key, tests it has no entry for; `auto`: the "
        "merge-base of HEAD with the default branch (default: off)",
    )
    group.addoption(
        "--gate-accept",
        action="store_true",
        help="run the selection without comparing and merge its results into the baseline "
        "(gate_storage/<machine id>/0001_baseline.json; nothing is written if the run fails)",
    )
    parser.addini(
        "gate_storage",
        "folder of this project's baselines (relative to the ini file); setting it opts the "
        "session into the gates",
        default="",
    )
    parser.addini(
        "gate_baseline_command",
        "the command that records a new baseline, named in messages",
        default=DEFAULT_BASELINE_COMMAND,
    )
    parser.addini(
        "gate_accept_command",
        "the command that accepts one test's change, named in messages ({nodeid} is replaced)",
        default="",
    )


def _storage(config: pytest.Config) -> Path | None:
    """The opted-in session's storage: --benchmark-storage where given, else the ini's
    gate_storage, as a project's `pytest_gate_storage` hook may refine it (per device, say)."""
    option = config.getoption("benchmark_storage", PYTEST_BENCHMARK_DEFAULT_STORAGE)
    if option != PYTEST_BENCHMARK_DEFAULT_STORAGE:
        return storage_path(option)
    base = config.inipath.parent if config.inipath else config.rootpath
    folder = base / config.getini("gate_storage")
    chosen = config.hook.pytest_gate_storage(config=config, storage=folder)
    folder = Path(chosen) if chosen is not None else folder
    config.option.benchmark_storage = f"file://{folder}"
    return folder


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """An opted-in session picks its baseline before pytest-benchmark loads it, so that both
    read one file; `--gate-accept` prepares the file it will write."""
    session = GateSession(
        time_tolerance=config.getoption("gate_time_tolerance"),
        baseline_command=config.getini("gate_baseline_command"),
        accept_command=config.getini("gate_accept_command"),
        no_baseline_reason="no baseline compared (pass --benchmark-compare): only declared "
        "bounds applied",
    )
    config.stash[_SESSION] = session
    report = config.getoption("gate_report")
    try:
        if report:
            from ..atomic import check_writable

            check_writable(report)  # minutes of benchmarks must not end in an unwritable file
        if not config.getini("gate_storage") or not hasattr(config.option, "benchmark_storage"):
            if config.getoption("gate_accept"):
                raise pytest.UsageError(
                    "--gate-accept needs to know where the baselines live: set the ini key "
                    "gate_storage (and install pytest-benchmark)"
                )
            return
        _configure_gates(config, session)
    except MnistBenchError as err:
        raise pytest.UsageError(str(err)) from None


def _configure_gates(config: pytest.Config, session: GateSession) -> None:
    from pytest_benchmark.utils import get_machine_id

    from ..atomic import check_writable

    config.addinivalue_line(
        "markers",
        f"{COMPARE_FAIL_MARKER}(what): the benchmark's timed call is no figure (a counting or "
        "profiling pass): --benchmark-compare-fail does not judge it",
    )
    config.addinivalue_line(
        "markers",
        f"{TIMED_AB_MARKER}: the test times its timed rows A/B against the --gate-base revision "
        "itself (gates/timed_ab.py), so the base run need not measure them",
    )
    storage = _storage(config)
    compare = config.getoption("benchmark_compare", None)
    given_json = config.getoption("benchmark_json", None)
    if given_json:
        check_writable(given_json)  # checked before the run, not after it
    if config.getoption("gate_accept"):
        if compare:
            raise pytest.UsageError("--gate-accept records a baseline; drop --benchmark-compare")
        if storage is None:
            raise pytest.UsageError("--gate-accept needs a file:// benchmark storage")

        target = baseline_file(storage, get_machine_id())
        if not target.parent.exists():  # removed again if nothing is saved there
            config.stash[_ACCEPT_MADE] = _made_folders(target.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        check_writable(target)
        config.stash[_ACCEPT] = target
        if not given_json:
            # pytest-benchmark writes the run here at session finish; removed once merged
            tmp = Path(tempfile.mkdtemp(prefix="gate-accept-"))
            config.stash[_ACCEPT_TMP] = tmp
            config.option.benchmark_json = tmp / "run.json"
        session.no_baseline_reason = f"recording the baseline {target} (--gate-accept)"
        return
    if not compare:
        return
    if storage is None:
        session.no_baseline_reason = "metric gates need a file:// benchmark storage"
        return
    path = find_baseline(storage, get_machine_id(), compare)
    if path is None:
        what = "baseline" if compare is True else f"baseline matching {compare!r}"
        raise pytest.UsageError(
            f"--benchmark-compare found no {what} in {storage}; record one with "
            f"`{session.baseline_command}` (or pass --benchmark-storage)"
        )
    session.baseline = Baseline.load(path, session.baseline_command)  # a usage error if unsound
    config.option.benchmark_compare = str(path)  # pytest-benchmark compares the same file


@pytest.hookimpl(optionalhook=True, trylast=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """This run's machine info as pytest-benchmark stores it (after every other plugin and
    conftest added to it): the engine compares it with the baseline's."""
    session = config.stash.get(_SESSION, None)
    if session is None or session.baseline is None or session.machine_info:
        return
    recorded = session.baseline.machine_info.get("device", "cpu")
    device = machine_info.get("device", "cpu")
    if recorded != device:
        raise pytest.UsageError(
            f"the baseline {session.baseline.path} was recorded with --device {recorded} and "
            f"this run is --device {device}: CPU and CUDA baselines are never compared; run "
            f"with --device {recorded}, or record a {device} baseline"
        )
    session.machine_info = dict(machine_info)


@pytest.hookimpl(wrapper=True, optionalhook=True)
def pytest_benchmark_compare_machine_info(
    config: pytest.Config, benchmarksession: Any, machine_info: dict, compared_benchmark: dict
) -> Any:
    """In an opted-in session: one line of what differs from the baseline's machine and what
    the gates do about it (machine_notes.py), instead of pytest-benchmark's two 3 KB JSON blobs
    (the full difference with -v). Elsewhere pytest-benchmark's own warning stands."""
    if not config.getini("gate_storage"):
        return (yield)
    try:
        with instead_of_the_warning(benchmarksession.logger):
            return (yield)
    except ValueError as err:
        # pytest-benchmark's own hook names a storage relative to the working directory and
        # fails for one outside it, while building the very warning this hook replaces
        if "subpath" not in str(err):
            raise
        return None
    finally:
        then = compared_benchmark.get("machine_info") or {}
        base_run = bool(config.getoption("gate_base", None))
        writer = config.get_terminal_writer()
        for line in machine_note(
            then, machine_info, verbose=config.option.verbose > 0, base_run=base_run
        ):
            writer.line(line, yellow=line.startswith("machine:") and "not applied" in line)


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, output_json: dict) -> None:
    """An opted-in run's JSON says what it selected (so `report` can tell a benchmark that
    vanished from one left out) and which format it is."""
    session = config.stash.get(_SESSION, None)
    if session is not None and config.getini("gate_storage"):
        from .schema import FORMAT

        output_json["mnist_bench"] = {"format": FORMAT, "selected": sorted(session.selected)}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Remember what was collected, before -k/-m deselect; check -m where our gates are used
    (in a session of another project, pytest's own answer stands)."""
    config.stash[_SESSION].collected = {item.nodeid for item in items}
    if any(_uses_our_gate(item) for item in items):
        _check_markexpr(config)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember what the run set out to run."""
    gates = session.config.stash[_SESSION]
    gates.selected = {item.nodeid for item in session.items}
    gates.whole_modules = not any("::" in arg for arg in session.config.args)
    _take_compare_fail(session, gates)
    given = session.config.getoption("gate_base")
    if given and gates.baseline is not None and not os.environ.get(base_run.ENV_CHILD):
        _measure_base(session, gates, given)


def _take_compare_fail(session: pytest.Session, gates: GateSession) -> None:
    """--benchmark-compare-fail judged by the gates (compare_fail.py), where pytest-benchmark
    loaded a run to compare with; without one, its own usage error stands."""
    bs = getattr(session.config, "_benchmarksession", None)
    checks = getattr(bs, "compare_fail", None)
    if not checks or not session.config.getini("gate_storage") or not bs.compared_mapping:
        return
    gates.compare_fail = CompareFail(list(checks))
    bs.compare_fail = []  # judged in pytest_sessionfinish, not by pytest-benchmark
    gates.not_timed = {
        item.nodeid: str(marker.args[0]) if marker.args else "not a timing"
        for item in session.items
        if (marker := item.get_closest_marker(COMPARE_FAIL_MARKER)) is not None
    }


def _judge_compare_fail(session: pytest.Session, gates: GateSession) -> None:
    bs = getattr(session.config, "_benchmarksession", None)
    if gates.compare_fail is None or bs is None:
        return
    compared = {k: v for mapping in bs.compared_mapping.values() for k, v in mapping.items()}
    kind = kind_difference(gates.machines) if gates.baseline else ""
    gates.compare_fail.judge(bs.benchmarks, compared, gates.not_timed, kind)
    if gates.compare_fail.failures and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _measure_base(session: pytest.Session, gates: GateSession, given: str) -> None:
    """--gate-base: the base revision measured here for the tests the stored baseline cannot
    fully judge on this machine (none: no base run); why not, where it cannot be made."""
    ours = [i for i in session.items if _uses_our_gate(i)]
    ab = {i.nodeid for i in ours if i.get_closest_marker(TIMED_AB_MARKER) is not None}
    wanted = [i.nodeid for i in ours if gates.needs_base(i.nodeid, timed=i.nodeid not in ab)]
    if not wanted and not ab:
        return
    config = session.config
    writer = config.get_terminal_writer()
    try:
        commit = base_run.resolve(config.rootpath, given)
        gates.base_commit = commit  # the lanes' A/B timings need it, base run or not
        if not wanted:
            return
        writer.line(f"base run: {commit[:10]} on this machine, {len(wanted)} tests (--gate-base)")
        gates.base = base_run.measure(
            config.rootpath, commit, wanted, gates.machine_info,
            config.getoption("markexpr", ""), progress=writer.line,
        )  # fmt: skip
    except (base_run.BaseRunError, MnistBenchError) as err:
        gates.base_note = f"{err}; those rows stay not applied"


def _uses_our_gate(item: pytest.Item) -> bool:
    """The item asks for this plugin's `gate` fixture (not another of that name)."""
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.get("gate", ()) if info is not None else ()
    return bool(defs) and getattr(defs[-1].func, "__module__", "") == __name__


def _check_markexpr(config: pytest.Config) -> None:
    """An unknown word in -m selects nothing silently in pytest; in a gated run it is a typo."""
    import re

    expr = config.getoption("markexpr", "") or ""
    known = {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}
    for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expr):
        if word not in ("and", "or", "not", "True", "False") and word not in known:
            raise pytest.UsageError(
                f"unknown marker {word!r} in -m {expr!r}; registered markers: "
                f"{', '.join(sorted(known))} (see `pytest --markers`)"
            )


@pytest.fixture
def gate(request: pytest.FixtureRequest, benchmark: Any) -> Gate:
    """Record gated metrics into the benchmark's extra_info; judged when the test returns."""
    session = request.config.stash[_SESSION]
    session.used_gate = True
    recorder = Gate(session, request.node.nodeid, benchmark)
    request.node.stash[_GATE] = recorder
    return recorder


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Any:
    """Judge what the test recorded once its body has returned (its fixtures still alive, so
    a failing time can be re-measured); a failure is the table a user reads."""
    result = yield
    recorder = pyfuncitem.stash.get(_GATE, None)
    if recorder is not None and recorder.finish():
        session = recorder.session
        source = session.baseline.path if session.baseline else "the declared bounds"
        pytest.fail(
            f"{pyfuncitem.nodeid} regressed against {source}:\n"
            f"{render_table(recorder.failures())}\n"
            "If the change is intended, accept it: " + session.accept_hint(pyfuncitem.nodeid),
            pytrace=False,
        )
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    """Remember why a test was skipped: its gated metrics are then `not measured`, with it."""
    report = yield
    if report.skipped and report.when in ("setup", "call"):
        longrepr = report.longrepr
        why = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        item.config.stash[_SESSION].skipped[item.nodeid] = why.removeprefix("Skipped: ")
    return report


_NOT_RUN = (
    pytest.ExitCode.USAGE_ERROR,
    pytest.ExitCode.INTERRUPTED,
    pytest.ExitCode.INTERNAL_ERROR,
    pytest.ExitCode.NO_TESTS_COLLECTED,
)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """MISSING for gated benchmarks that recorded nothing (failing the run); with
    --gate-accept, the run merged into the baseline if it passed."""
    config = session.config
    gates = config.stash.get(_SESSION, None)
    if gates is None:
        return
    if exitstatus not in _NOT_RUN:  # a usage error or an interrupt: nothing went missing
        gates.add(gates.missing_rows())
        _judge_compare_fail(session, gates)
    if any(r.failed for r in gates.rows) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    target = config.stash.get(_ACCEPT, None)
    if target is not None:
        try:
            _accept(config, gates, target, session.exitstatus)
        finally:
            tmp = config.stash.get(_ACCEPT_TMP, None)
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            for folder in config.stash.get(_ACCEPT_MADE, []):  # innermost first
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()


def _made_folders(folder: Path) -> list[Path]:
    """The folders mkdir(parents=True) would create for `folder`, innermost first."""
    made = []
    while not folder.exists():
        made.append(folder)
        folder = folder.parent
    return made


def _accept(config: pytest.Config, gates: GateSession, target: Path, exitstatus: int) -> None:
    writer = config.get_terminal_writer()
    if writer.width_of_current_line:  # after the progress of the last test file
        writer.line()
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        writer.line(
            "baseline not saved: no tests were collected (exit 5), nothing failed; check the "
            "paths given and the ini's python_files (benchmark files named bench_*.py need "
            'python_files = ["bench_*.py"])',
            red=True,
        )
        return
    if exitstatus != pytest.ExitCode.OK:
        writer.line(
            f"baseline not saved: the run failed (exit {int(exitstatus)}); fix the failures "
            "first (declared bounds hold with or without a baseline)",
            red=True,
        )
        return
    from .store import load_run_file

    try:
        done = record(target, [load_run_file(config.option.benchmark_json)], gates.is_stale)
    except MnistBenchError as err:
        writer.line(f"baseline not saved: {err}", red=True)
        return
    writer.line(
        f"baseline {done.path}: {done.recorded} results recorded, {done.total} in all; "
        "review with `git diff --stat` and commit it",
        green=True,
    )


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session: GateSession | None = config.stash.get(_SESSION, None)
    if session is None or not (session.used_gate or session.rows):
        return
    terminalreporter.section("mnist-bench gates")
    for line, colour in session.summary():
        terminalreporter.write_line(line, **({colour: True} if colour else {}))
    report = config.getoption("gate_report")
    if report:
        session.write_report(report)
