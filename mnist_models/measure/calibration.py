"""A fixed reference workload, timed beside each benchmark, to cancel machine-wide drift.

On shared machines whole stretches of a run go 1.5-2x slower (CPU steal, a busy neighbour):
every benchmark timed in such a stretch moves together. Timing the same small forward pass
right before and after a benchmark and dividing by it turns "microseconds" into "multiples of
the reference", which such stretches leave (mostly) unchanged. See docs/latency-gates.md.

The reference uses raw torch ops, never the project's model classes: a regression in those
must not slow the yardstick too.
"""

from __future__ import annotations

import statistics
import time
from functools import lru_cache

import torch
import torch.nn.functional as F

from .threads import num_threads
from .timing import time_calls

REFERENCE_ID = "784-256-10 ReLU MLP forward in raw torch ops, batch 8"


@lru_cache(maxsize=1)
def _reference() -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 784, generator=gen)
    w1, b1 = torch.randn(256, 784, generator=gen) * 0.03, torch.zeros(256)
    w2, b2 = torch.randn(10, 256, generator=gen) * 0.06, torch.zeros(10)
    return x, w1, b1, w2, b2


def _reference_call(
    x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor
) -> torch.Tensor:
    return F.linear(F.relu(F.linear(x, w1, b1)), w2, b2)


@torch.inference_mode()
def reference_seconds(
    threads: int = 1, rounds: int = 200, warmup: int = 20, *, cpu: bool = False
) -> float:
    """Median seconds of one reference forward pass, measured now; with `cpu`, of on-CPU time
    (this thread's CPU clock), to divide on-CPU figures by."""
    args = _reference()
    clock = time.thread_time_ns if cpu else time.perf_counter_ns
    with num_threads(threads):
        samples = time_calls(lambda: _reference_call(*args), rounds, warmup, clock)
    return statistics.median(samples) * 1e-6


@torch.inference_mode()
def device_reference_seconds(device: torch.device, rounds: int = 200, warmup: int = 20) -> float:
    """Median seconds of one reference forward pass on a GPU, timed with CUDA events like the
    benchmarks (device.per_call_us). Small models on a GPU are bound by kernel launches, whose
    speed moves with the host's CPU and the GPU's clocks (an idle H200 runs at 345 MHz, a busy
    one at 1980): the reference, launched the same way, moves with them."""
    from .device import per_call_us

    args = [t.to(device) for t in _reference()]
    samples = per_call_us(lambda: _reference_call(*args), rounds, warmup, device)
    return statistics.median(samples) * 1e-6
