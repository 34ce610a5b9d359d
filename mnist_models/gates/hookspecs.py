"""Hooks a project implements in its conftest to configure the gates (registered by plugin.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.hookspec(firstresult=True)
def pytest_gate_storage(config: pytest.Config, storage: Path) -> Path | str | None:
    """The folder of this run's baselines; `storage` is the ini's `gate_storage`, resolved.

    Return another folder (baselines of another device, say) or None to keep it. Example::

        def pytest_gate_storage(config, storage):
            if config.getoption("device") == "cuda":
                return storage / "cuda"
    """
