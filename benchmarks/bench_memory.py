"""Peak memory of one training step (forward, backward, Adam's first step) at batch 64.

memory-profiler samples this process's RSS while the step runs; the gated figure is the
increase over the RSS just before it (lower is better).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmarks.grid import GATE_TRAINING, Case, architecture_cases
from mnist_models import get_model
from mnist_models.gates import lower
from mnist_models.metrics import example_input, peak_memory
from mnist_models.train import num_threads

pytestmark = [pytest.mark.memory, pytest.mark.full]

BATCH_SIZE = 64
THREADS = 1
# Chosen from the measured spread between runs (README): allocator rounding moves a few MiB.
PEAK = lower("peak_rss_increase_mib", rel_tol=0.25, abs_tol=16.0, unit="MiB")


def _params() -> list:
    return [
        pytest.param(case, id=case.id, marks=[pytest.mark.gate] if case.id in GATE_TRAINING else [])
        for case in architecture_cases()
    ]


@pytest.mark.benchmark(group="memory")
@pytest.mark.parametrize("case", _params())
def test_peak_memory(case: Case, benchmark, gate) -> None:
    model = get_model(case.model, case.res, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), fused=True)
    x = example_input(case.input_shape, BATCH_SIZE)
    y = torch.arange(BATCH_SIZE) % 10

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    with num_threads(THREADS):
        stats, _ = benchmark.pedantic(peak_memory, args=(step,), rounds=1, iterations=1)
    benchmark.extra_info.update(
        model=case.config.id,
        resolution=case.res.id,
        batch_size=BATCH_SIZE,
        threads=THREADS,
        **stats.as_dict(),
    )
    gate.record(PEAK, stats.increase_mib)
