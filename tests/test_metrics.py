"""Metrics: sizes, latency statistics, memory and the energy formula."""

from __future__ import annotations

import pytest
import torch

from mnist_models import ConfigError, get_model
from mnist_models.measure.energy import EnergyModel
from mnist_models.measure.metrics import (
    count_params,
    cpu_time_percentiles,
    measure_latency,
    peak_memory,
    percentiles,
    size_bytes,
    tensor_memory,
)


def test_size_is_about_four_bytes_per_param_and_adam_triples_it() -> None:
    model = get_model("mlp-512")
    params = count_params(model)
    plain, with_adam = size_bytes(model), size_bytes(model, with_optimizer=True)
    assert 4 * params < plain < 4 * params * 1.01
    assert 3 * 4 * params < with_adam < 3 * 4 * params * 1.02
    assert size_bytes(model) == plain  # the live model was not touched


def test_percentiles_interpolate_order_statistics() -> None:
    p50, p90, p99 = percentiles([float(v) for v in range(1, 102)])  # 1..101
    assert (p50, p90, p99) == (51.0, 91.0, 100.0)
    with pytest.raises(ConfigError):
        percentiles([1.0])


def test_latency_stats_are_consistent() -> None:
    stats = measure_latency(
        get_model("mlp-16"), (1, 28, 28), batch_size=8, warmup=2, rounds=30, threads=1
    )
    assert (stats.batch_size, stats.rounds, stats.warmup, stats.threads) == (8, 30, 2, 1)
    assert 0 < stats.p50_us <= stats.p90_us <= stats.p99_us
    assert stats.per_sample_us == pytest.approx(stats.p50_us / 8)
    assert stats.throughput == pytest.approx(8e6 / stats.p50_us)
    with pytest.raises(ConfigError):
        measure_latency(get_model("mlp-16"), (1, 28, 28), rounds=1)


def test_peak_memory_sees_a_large_allocation() -> None:
    def allocate() -> float:
        block = torch.ones(64 * 1024 * 1024 // 4 * 4)  # 256 MiB of float32, touched
        return float(block[-1])

    stats, value = peak_memory(allocate)
    assert value == 1.0
    assert stats.increase_mib > 150
    assert stats.peak_rss_mib >= stats.baseline_rss_mib


def test_energy_formula() -> None:
    model = EnergyModel(watts_per_core=10, grid_g_per_kwh=500, pue=1.5)
    assert model.joules(seconds=3600, cores=2) == 10 * 2 * 3600 * 1.5
    assert model.co2_grams(seconds=3600, cores=2) == pytest.approx(0.03 * 500)
    with pytest.raises(ConfigError, match="pue"):
        EnergyModel(pue=0.5)


def test_tensor_memory_is_repeatable_and_sees_what_a_call_keeps() -> None:
    kept: list[torch.Tensor] = []

    def work(keep: bool) -> None:
        for _ in range(5):
            t = torch.ones(1000)  # 4,000 B, freed each iteration unless kept
            if keep:
                kept.append(t)
            del t

    first, _ = tensor_memory(lambda: work(False))
    again, _ = tensor_memory(lambda: work(False))
    assert first == again and first.peak_bytes == 4000 and first.retained_bytes == 0
    keeping, _ = tensor_memory(lambda: work(True))
    assert keeping.peak_bytes == 5 * 4000 and keeping.retained_bytes == 5 * 4000


def test_on_cpu_percentiles_leave_out_time_spent_waiting() -> None:
    import time

    class Sleepy(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            time.sleep(0.002)  # waiting, as for a core taken by a neighbour
            return x + 1

    p50, p90, p99 = cpu_time_percentiles(Sleepy(), torch.zeros(4), rounds=50, warmup=2)
    assert 0 < p50 <= p90 <= p99
    assert p99 < 1000  # microseconds: the 2 ms of sleep are not on-CPU time
