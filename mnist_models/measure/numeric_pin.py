"""The pinned numeric path of the seeded trainings: MKL's COMPATIBLE branch, ATen and oneDNN at
AVX2, one thread, so that a seeded training gives the same bits on an Intel Xeon and an AMD EPYC
(measured: docs/determinism-keys.md, "A pinned numeric path"). The variables are read when
torch loads, so the trainings run in a child process (`python -m` this module, one spec per
line on its stdin)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MnistBenchError

if TYPE_CHECKING:
    from .data import MNISTData

PIN = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


class PinnedTrainingError(MnistBenchError):
    """The pinned training's child process failed: its last lines say why."""


@dataclass(frozen=True)
class PinnedSpec:
    """One seeded training as the training lane runs it (`steps`: the first steps x batch
    samples only, one epoch; None: every sample, `epochs` epochs)."""

    model: str
    resolution: str
    epochs: int
    batch_size: int
    seed: int
    threads: int
    mnist_root: str
    steps: int | None = None


@dataclass(frozen=True)
class PinnedResult:
    loss: float  # the last epoch's training loss
    accuracy: float  # on the test set
    numeric_path: str  # the pin and the ATen level it gave ("... isa=AVX2")


class PinnedTrainer:
    """A child process on the pinned numeric path that trains one spec per request (torch is
    loaded once, not per training); its environment is otherwise this one's, so a user's model
    registry reaches it. Use as a context manager, or close() it."""

    def __init__(self) -> None:
        self._child: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()  # the child's stderr: read when it fails

    def train(self, spec: PinnedSpec) -> PinnedResult:
        """One seeded training under PIN; a PinnedTrainingError naming the cause if it fails."""
        if self._child is not None and self._child.poll() is not None:
            self._stop()  # it ended (a failure, or killed between trainings): start a fresh one
            self._child = None
        if self._child is None:
            self._log.seek(0)
            self._log.truncate()  # a failure's tail is the new child's own
            # the package this process runs, first: the child trains the same code
            here = str(Path(__file__).resolve().parents[2])
            paths = [here, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
            self._child = subprocess.Popen(
                [sys.executable, "-m", __name__],
                env={**os.environ, **PIN, "PYTHONPATH": os.pathsep.join(paths)},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                text=True,
            )
        assert self._child.stdin is not None and self._child.stdout is not None
        try:
            self._child.stdin.write(json.dumps(asdict(spec)) + "\n")
            self._child.stdin.flush()
        except BrokenPipeError:
            pass  # it ended: said below
        line = self._child.stdout.readline()
        if not line:
            self._stop()
            self._log.seek(0)
            tail = "\n".join(self._log.read().decode(errors="replace").strip().splitlines()[-5:])
            raise PinnedTrainingError(
                f"the pinned training of {spec.model}@{spec.resolution} failed (exit "
                f"{self._child.returncode}); train it unpinned (`mnist-models run {spec.model}`) "
                f"to see the cause:\n{tail}"
            )
        return PinnedResult(**json.loads(line))

    def _stop(self) -> None:
        """Close the child's stdin (its loop ends) and its stdout; wait for it."""
        assert self._child is not None and self._child.stdin and self._child.stdout
        try:
            self._child.stdin.close()
        except BrokenPipeError:
            pass
        self._child.stdout.close()
        self._child.wait()

    def close(self) -> None:
        if self._child is not None:
            self._stop()
        self._log.close()

    def __enter__(self) -> PinnedTrainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pinned_training(spec: PinnedSpec) -> PinnedResult:
    """One seeded training under PIN in a child process of its own."""
    with PinnedTrainer() as trainer:
        return trainer.train(spec)


@functools.cache
def _data(resolution: str, root: str, seed: int) -> MNISTData:
    """The split at `resolution`, loaded once per child (the short trainings share theirs)."""
    from .data import load_mnist

    return load_mnist(resolution, root=Path(root), seed=seed)


def _child(spec: PinnedSpec) -> PinnedResult:
    import torch

    from ..zoo.registry import get_model
    from .train import TrainConfig, evaluate, train

    torch.set_num_threads(spec.threads)  # the test-set pass too, not only train()
    data = _data(spec.resolution, spec.mnist_root, spec.seed)
    if spec.steps is not None:
        data = data.first(spec.steps * spec.batch_size)
    model = get_model(spec.model, spec.resolution, seed=spec.seed)
    config = TrainConfig(
        epochs=spec.epochs, batch_size=spec.batch_size, seed=spec.seed, threads=spec.threads
    )
    result = train(model, data, config)
    _, accuracy = evaluate(model, data.test_x, data.test_y)
    pin = " ".join(f"{k}={os.environ.get(k, '')}" for k in PIN)
    path = f"{pin} isa={torch.backends.cpu.get_cpu_capability()}"
    return PinnedResult(result.history[-1].train_loss, accuracy, path)


if __name__ == "__main__":
    for request in sys.stdin:  # one spec per line, one result per line, until stdin closes
        print(json.dumps(asdict(_child(PinnedSpec(**json.loads(request))))), flush=True)
