"""Root pytest configuration shared by tests/ and benchmarks/."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from mnist_models.suite.plugin import mnist_root, register_markers  # noqa: F401 - shared fixture

# Building and counting a torch module takes milliseconds to a second: no per-example deadline,
# so a slow machine never fails a property test.
settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=40
)
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=100)
settings.load_profile("default")


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)  # tests import the lanes' parameters, marks included
