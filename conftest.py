"""Root pytest configuration shared by tests/ and benchmarks/."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Building and counting a torch module takes milliseconds to a second: no per-example deadline,
# so a slow machine never fails a property test.
settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=40
)
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=100)
settings.load_profile("default")


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """MNIST, fetched and verified once per session (`make test` and `make bench` fetch it
    before pytest starts, so this only checks it)."""
    from mnist_models.measure.data import ensure_mnist

    return ensure_mnist()
