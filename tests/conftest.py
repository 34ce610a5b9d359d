"""Fixtures for the unit tests: the real dataset once per session, tiny synthetic MNIST files."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from mnist_models.measure import data as data_mod

XDIST_VARIABLES = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


@pytest.fixture(scope="session", autouse=True)
def _inner_runs_are_not_xdist_workers() -> Iterator[None]:
    """`make test` runs on xdist workers, and pytest-benchmark turns itself off in any process
    that sees PYTEST_XDIST_WORKER: the pytest runs these tests start (in-process or as
    subprocesses) are not workers, so they do not see it."""
    saved = {name: os.environ.pop(name) for name in XDIST_VARIABLES if name in os.environ}
    yield
    os.environ.update(saved)


def write_idx(path: Path, tensor: torch.Tensor) -> None:
    """Write a uint8 tensor in MNIST's IDX format (magic 0x08 = ubyte, then dims)."""
    dims = tensor.shape
    header = struct.pack(">HBB", 0, 0x08, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    path.write_bytes(header + tensor.to(torch.uint8).numpy().tobytes())


@pytest.fixture
def fake_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A root with tiny valid IDX files whose MD5s are what the checker expects."""
    raw = data_mod.raw_dir(tmp_path)
    raw.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    for split, n in (("train", 60), ("t10k", 20)):
        write_idx(
            raw / f"{split}-images-idx3-ubyte", torch.randint(0, 256, (n, 28, 28), generator=gen)
        )
        write_idx(raw / f"{split}-labels-idx1-ubyte", torch.arange(n) % 10)
    md5 = {name: data_mod._md5(raw / name) for name in data_mod.MD5}
    monkeypatch.setattr(data_mod, "MD5", md5)
    return tmp_path


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `mnist-models ARGV...` in-process: (exit status, stdout, stderr), argparse's usage
    errors included."""
    from mnist_models.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        return int(code or 0), out, err

    return run


@pytest.fixture(autouse=True)
def _own_run_store(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Studies run by the tests keep their runs in a store of the session, never the user's."""
    from mnist_models.studies.settings import ENV_RUNS

    monkeypatch.setenv(ENV_RUNS, str(tmp_path_factory.getbasetemp() / "runs"))
