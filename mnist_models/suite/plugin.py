"""The benchmark suite's pytest plugin: tiers, the device, the instruction worker, the data
fixture, the lanes' markers. A benchmarks folder loads it from its conftest.py
(`from mnist_models.suite.plugin import *`), this repository's and a user's alike.

Tiers: without -m, only items marked `gate` run (the merge gate, within 15 minutes on 2 cores);
`-m full` runs the whole grid. Concern markers (counts, latency, training, memory) select one
module's worth and shard the full tier in CI. `--device cuda` runs the suite on a GPU against
its own baselines (baselines/cuda/), never against the CPU's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..errors import ConfigError
from ..measure.instruction_case import InstructionCase
from ..measure.instruction_key import valgrind_path
from ..measure.instructions import (
    VALGRIND_HINT,
    CallgrindRun,
    InstructionCount,
    prepare_training_data,
)
from ..measure.machine_info import add_machine_info
from . import timed_ab
from .grid import parse_modes

if TYPE_CHECKING:
    import torch

SYNC_TIMER = "mnist_models.measure.device.sync_perf_counter"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mnist-bench device", "where and how the benchmarks run")
    group.addoption(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="run the suite on this device (default cpu); cuda compares against baselines/cuda/",
    )
    group.addoption(
        "--benchmark-tables",
        action="store_true",
        help="print pytest-benchmark's full statistics tables (default: only the gate summary; "
        "-v or --benchmark-verbose also shows them)",
    )
    group.addoption(
        "--exec-mode",
        default=None,
        metavar="MODES",
        help="comma-separated execution modes of the latency benchmarks: eager, cuda-graph "
        "(cuda only), compile (default: eager on cpu; eager,cuda-graph,compile on cuda)",
    )


# The lanes' markers, registered for every project that loads the suite (--strict-markers).
MARKERS = {
    "gate": "the merge-gate tier of the benchmark suite (runs by default)",
    "full": "the whole benchmark grid (pytest benchmarks -m full)",
    "counts": "parameters, MACs, FLOPs and size",
    "data": "the data pipeline's tensors at every resolution (digest, statistics, split sizes)",
    "latency": "forward-pass latency",
    "training": "training time per epoch and accuracy",
    "memory": "peak tensor memory of training and inference, process RSS",
    "instructions": "CPU instructions counted by callgrind (forward passes, training steps)",
}


def register_markers(config: pytest.Config) -> None:
    """Register the lanes' markers in this session (tests that import the lanes need them)."""
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    from ..measure.device import resolve_device

    register_markers(config)

    try:
        device = resolve_device(config.getoption("device"))
        parse_modes(config.getoption("exec_mode"), device.type)
    except ConfigError as err:
        raise pytest.UsageError(str(err)) from None
    asked = config.getoption("benchmark_tables") or config.getoption("benchmark_histogram")
    if not (asked or config.option.verbose > 0):
        # 465 rows of 250-character tables bury the gate summary: pytest-benchmark's own
        # reporting is quiet unless asked for (the statistics are still measured and saved;
        # --benchmark-histogram asks for it: its histograms are drawn with the tables)
        config.option.benchmark_quiet = True
    if device.type == "cuda":
        # pytest-benchmark reads the host clock around each round: synchronise first, so that
        # a round lasts as long as its GPU work (its statistics are real, not launch times)
        config.option.benchmark_timer = SYNC_TIMER


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # a lane with nothing to run for this project's grid (zoo = false): no `NOTSET` test
    empty = [i for i in items if "NOTSET" in getattr(getattr(i, "callspec", None), "id", "")]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [item for item in items if item not in empty]
    if not config.getoption("markexpr"):
        selected = [item for item in items if item.get_closest_marker("gate")]
        deselected = [item for item in items if not item.get_closest_marker("gate")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected
    timed_ab.mark(config, items)
    # The instruction counts are made by one valgrind process beside the whole run (on the
    # core the 1-thread benchmarks leave free); their tests read them, so they run last.
    items.sort(key=lambda item: _instruction_case(item) is not None)
    if config.getoption("device") != "cpu":
        skip = pytest.mark.skip(reason=CPU_ONLY_INSTRUCTIONS)
        for item in items:
            if _instruction_case(item) is not None:
                item.add_marker(skip)


CPU_ONLY_INSTRUCTIONS = (
    "the instruction lane counts CPU instructions of CPU runs; run it with --device cpu"
)


def _instruction_case(item: pytest.Item) -> InstructionCase | None:
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("icase") if callspec else None
    return case if isinstance(case, InstructionCase) else None


class InstructionCounts:
    """The run's callgrind worker, or why there is none (`unavailable`, shown as not measured)."""

    def __init__(self, run: CallgrindRun | None, unavailable: str = "") -> None:
        self.run, self.unavailable = run, unavailable

    def get(self, key: str) -> InstructionCount:
        assert self.run is not None
        counts = self.run.counts()
        if key not in counts:
            raise KeyError(f"the instruction worker did not count {key!r}")
        return counts[key]


@pytest.fixture(scope="session", autouse=True)
def instruction_counts(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InstructionCounts]:
    """Start the callgrind worker for every selected instruction test as the run begins."""
    cases = [c for c in map(_instruction_case, request.session.items) if c is not None]
    if request.config.getoption("device") != "cpu":
        yield InstructionCounts(None, CPU_ONLY_INSTRUCTIONS)
        return
    if not cases:
        yield InstructionCounts(None, "no instruction cases selected")
        return
    if valgrind_path() is None:
        yield InstructionCounts(None, f"valgrind is not installed; {VALGRIND_HINT}")
        return
    workdir = tmp_path_factory.mktemp("callgrind")
    cases = prepare_training_data(cases, workdir, request.getfixturevalue("mnist_root"))
    run = CallgrindRun(cases, workdir).start()
    try:
        yield InstructionCounts(run)
    finally:
        run.stop()


def pytest_gate_storage(config: pytest.Config, storage: Path) -> Path | None:
    """CUDA's baselines apart from the CPU's (baselines/cuda/), so that the two are never
    compared (the gates also refuse a baseline of another device)."""
    device = config.getoption("device")
    return storage / "cuda" if device.partition(":")[0] == "cuda" else None


def pytest_report_header(config: pytest.Config) -> str:
    tier = config.getoption("markexpr") or "gate (default; -m full for the whole grid)"
    device = config.getoption("device")
    modes = ",".join(parse_modes(config.getoption("exec_mode"), device))
    return (
        f"mnist-bench tier: {tier}; device: {device}; modes: {modes}; "
        f"baselines: {config.getoption('benchmark_storage')}"
    )


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """MNIST, fetched and verified once per session (`make test` and `make bench` fetch it
    before pytest starts, so this only checks it)."""
    from ..measure.data import ensure_mnist

    return ensure_mnist()


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> torch.device:
    """The device the suite runs on (--device), checked at start-up."""
    from ..measure.device import resolve_device

    return resolve_device(request.config.getoption("device"))


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """torch, threads, CPU and device facts in every saved run (the gates compare them)."""
    add_machine_info(machine_info, config.getoption("device", "cpu"))
