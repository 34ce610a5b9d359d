"""Slowdowns of known size, and the sequential timing two pytest-benchmark runs amount to: the
tools benchmarks/gate_quality.py measures the gates' power and false alarms with (they are
not part of the product, so they live beside the script)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from mnist_models.ab.abtest import ABSettings
from mnist_models.errors import ConfigError
from mnist_models.measure.threads import num_threads
from mnist_models.measure.timing import time_calls


def time_sequential(
    baseline: Callable[[], object],
    candidate: Callable[[], object],
    calls: int,
    settings: ABSettings,
) -> tuple[float, float]:
    """Median per call of A, then of B, one after the other: what two separate pytest-benchmark
    runs compare (here in one session, so kinder to it than two real runs)."""
    with num_threads(settings.threads), torch.inference_mode():
        medians = []
        for fn in (baseline, candidate):
            for _ in range(max(4, calls // 10)):
                fn()
            medians.append(float(np.median(time_calls(fn, calls))))
    return medians[0], medians[1]


class ProportionalSlowdown(torch.nn.Module):
    """Wrap a model so each call also does extra work worth `fraction` of the model's own time.

    The extra work is real computation (a Python arithmetic loop: fine-grained, 30-50 ns a
    step), so it slows down with the machine like the model does, unlike a sleep; its length is
    set on construction from the model's measured time, less the wrapper's own call overhead.
    Used to measure the gate's power (benchmarks/gate_quality.py).
    """

    def __init__(self, model: torch.nn.Module, x: torch.Tensor, fraction: float, threads: int = 1):
        super().__init__()
        if not 0 < fraction < 10:
            raise ConfigError(f"slowdown fraction must be in (0, 10), got {fraction}")
        self.model = model
        self.fraction = fraction
        self.steps = 0
        with num_threads(threads), torch.inference_mode():
            for _ in range(20):
                model(x)
                self(x)
            bare = median_seconds(lambda: model(x), 301)
            overhead = median_seconds(lambda: self(x), 301) - bare  # the wrapper, no work yet
            per_step = median_seconds(lambda: spin(100_000), 11) / 100_000
        extra = fraction * bare - min(max(overhead, 0.0), 5e-6)
        self.steps = max(1, round(extra / per_step))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spin(self.steps)
        return self.model(x)


def spin(steps: int) -> int:
    total = 0
    for i in range(steps):
        total += i
    return total


def median_seconds(fn: Callable[[], object], calls: int) -> float:
    return float(np.median(time_calls(fn, calls))) * 1e-6
