"""The benchmark suite's configuration: baseline storage in the repo, tiers, shared fixtures.

Tiers: without -m, only items marked `gate` run (the merge gate, within 15 minutes on 2 cores);
`-m full` runs the whole grid. Concern markers (counts, latency, training, memory) select one
module's worth and shard the full tier in CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

BASELINES = Path(__file__).resolve().parent / "baselines"
PYTEST_BENCHMARK_DEFAULT_STORAGE = "file://./.benchmarks"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Point pytest-benchmark at the baselines committed in the repo unless told otherwise, so
    # that `pytest benchmarks --benchmark-compare` works from a fresh clone with no other flag.
    if config.getoption("benchmark_storage") == PYTEST_BENCHMARK_DEFAULT_STORAGE:
        config.option.benchmark_storage = f"file://{BASELINES}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("markexpr"):
        return
    selected = [item for item in items if item.get_closest_marker("gate")]
    deselected = [item for item in items if not item.get_closest_marker("gate")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def pytest_report_header(config: pytest.Config) -> str:
    tier = config.getoption("markexpr") or "gate (default; -m full for the whole grid)"
    return f"mnist-bench tier: {tier}; baselines: {config.getoption('benchmark_storage')}"


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """MNIST, fetched and verified once per session (data preparation counts in the budget)."""
    from mnist_models.data import ensure_mnist

    return ensure_mnist()
