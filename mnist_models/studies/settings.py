"""What every run of a study shares (the training settings, part of each run's key), and where
the run store lives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError


@dataclass(frozen=True)
class StudySettings:
    """What every run of a study shares; part of each row's cache key."""

    epochs: int = 2
    repeats: int = 1
    lr: float = 1e-3
    threads: int | None = None
    val_fraction: float = 0.2
    device: str = "cpu"  # cpu or cuda: where every run trains and is timed
    mode: str = "eager"  # how the timed forward passes run (device.MODES)

    def __post_init__(self) -> None:
        for name in ("epochs", "repeats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"--{name} must be an integer >= 1, got {value!r}")
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"--device must be cpu or cuda, got {self.device!r}")


# The one store of finished runs that every study reads: a run measured for one study (mlp-1024
# at batch 64 is in six) is not trained again for the next.
ENV_RUNS = "MNIST_BENCH_RUNS"


def default_store() -> Path:
    """$MNIST_BENCH_RUNS, else runs/ in the user cache beside the data (~/.cache/mnist-bench)."""
    import os

    if env := os.environ.get(ENV_RUNS):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "mnist-bench" / "runs"
