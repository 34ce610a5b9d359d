"""Peak tensor memory of the project's own `train()` and of an inference call, and what each
leaves allocated, gated exactly.

torch.profiler records every tensor allocation and free; the peak of what is alive at once is
the same number on every run of the same code (docs/deterministic-gates.md), where process RSS moves
by megabytes with the allocator's history. So a change to `train()` that keeps tensors alive
across steps, or a layer whose activations grow, changes the gated figure. Process RSS of the
same training run (memory-profiler) is recorded beside it, informative only.

On CUDA (--device cuda) the figures are the CUDA caching allocator's: the peak of
`torch.cuda.max_memory_allocated` above what was allocated before the call (the peak is reset
per case), and what the call left allocated, after one untimed run that creates the cuBLAS and
cuDNN workspaces.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from .. import fields, get_model
from ..gates.rules import Metric, exact, lower
from ..measure.data import load_mnist
from ..measure.device import cpu_ops_per_call, device_memory
from ..measure.example_input import example_input
from ..measure.metrics import peak_memory, tensor_memory
from ..measure.threads import num_threads
from ..measure.train import TrainConfig, train
from .grid import BATCH_SIZE_TRAINING, Case, architecture_cases, gate_training

pytestmark = [pytest.mark.not_a_timing("a profiled pass"), pytest.mark.memory, pytest.mark.full]

THREADS = 1
TRAIN_STEPS = 300  # enough steps that a leak of a few KiB per step shows
INFERENCE_BATCH = 64
# Exact under the kernels key (torch build, ISA level, threads): oneDNN picks its convolution
# kernels and scratch buffers by ISA level; at one level the figures are identical across CPU
# models (docs/determinism-keys.md).
TRAIN_PEAK = exact(fields.TRAIN_PEAK, "B", key="kernels")
TRAIN_RETAINED = exact(fields.TRAIN_RETAINED, "B", key="kernels")
INFERENCE_PEAK = exact(fields.INFERENCE_PEAK, "B", key="kernels")
# What RETENTION_CALLS forward passes leave allocated once their outputs are dropped: 0 B for a
# model that keeps nothing; a cache of its outputs (a debugging list) keeps every call's.
INFERENCE_RETAINED = exact(fields.INFERENCE_RETAINED, "B", key="kernels")
RETENTION_CALLS = 5
# ATen operators per forward call (device.cpu_ops_per_call): exact under one build, where an
# added operation fails on any model (the instruction bands cannot see a fixed cost of 35,000
# instructions on a model of 13.5 million, docs/deterministic-gates.md)
INFERENCE_OPS = exact(fields.INFERENCE_OPS, key="build")


def _gpu_bytes(name: str, rel_tol: float = 0.0):
    # Where a figure repeats exactly on the same GPU and torch it is gated exactly there;
    # another GPU or torch may pick other cuDNN/cuBLAS workspaces (10%).
    return lower(
        name,
        rel_tol=rel_tol or 0.10,
        unit="B",
        key="machine",
        exact_key=None if rel_tol else "numerics",
    )


# The training peak is not exact on a GPU: on one H200, mlp-1024's was 74,076,160 B in the
# gate run and 74,682,368 B (+0.8%) in a run of that test alone. What the trainer keeps across
# steps shows in the retained figure, which was 0 B in both and stays exact.
GPU_TRAIN_PEAK = _gpu_bytes(fields.TRAIN_PEAK_GPU, rel_tol=0.02)
GPU_TRAIN_RETAINED = _gpu_bytes(fields.TRAIN_RETAINED_GPU)
GPU_INFERENCE_PEAK = _gpu_bytes(fields.INFERENCE_PEAK_GPU)


def _explained(benchmark, metric: Metric, breakdown: dict) -> None:
    """Store where the figure's tensors were allocated: a failing row names the site that
    moved (gates/attribution.py)."""
    if breakdown:
        benchmark.extra_info.setdefault(fields.ATTRIBUTION, {})[metric.name] = breakdown


def _params(gated: set[str] | None) -> list:
    return [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.gate] if gated is None or case.id in gated else [],
        )
        for case in architecture_cases()
    ]


@pytest.mark.benchmark(group="memory")
@pytest.mark.parametrize("case", _params(set(gate_training())))
def test_training_memory(case: Case, benchmark, gate, mnist_root: Path, device) -> None:
    data = load_mnist(case.res, root=mnist_root, seed=0)
    n = TRAIN_STEPS * BATCH_SIZE_TRAINING
    subset = data.first(n)
    config = TrainConfig(epochs=1, batch_size=BATCH_SIZE_TRAINING, seed=0, threads=THREADS)
    if device.type == "cuda":
        resident = subset.to(device)

        def run() -> object:
            return train(get_model(case.model, case.res, seed=0).to(device), resident, config)

        run()  # workspaces and the fused-Adam kernels exist before the measured run
        gpu, _ = benchmark.pedantic(device_memory, args=(run, device), rounds=1, iterations=1)
        benchmark.extra_info.update(
            {
                fields.MODEL: case.config.id,
                fields.RESOLUTION: case.res.id,
                fields.BATCH_SIZE: BATCH_SIZE_TRAINING,
                fields.STEPS: TRAIN_STEPS,
                fields.DEVICE: "cuda",
            }
        )
        gate.record(GPU_TRAIN_PEAK, gpu.peak_bytes)
        gate.record(GPU_TRAIN_RETAINED, gpu.retained_bytes)
        return
    tensors, _ = benchmark.pedantic(
        tensor_memory,
        args=(lambda: train(get_model(case.model, case.res, seed=0), subset, config),),
        rounds=1,
        iterations=1,
    )
    rss, _ = peak_memory(lambda: train(get_model(case.model, case.res, seed=0), subset, config))
    benchmark.extra_info.update(
        {
            fields.MODEL: case.config.id,
            fields.RESOLUTION: case.res.id,
            fields.BATCH_SIZE: BATCH_SIZE_TRAINING,
            fields.STEPS: TRAIN_STEPS,
            fields.THREADS: THREADS,
            fields.TRAIN_ALLOCATIONS: tensors.allocations,
            fields.PEAK_RSS_INCREASE_MIB: rss.increase_mib,  # informative: RSS is not repeatable
            fields.PEAK_RSS_MIB: rss.peak_rss_mib,
        }
    )
    _explained(benchmark, TRAIN_PEAK, tensors.attribution("peak"))
    _explained(benchmark, TRAIN_RETAINED, tensors.attribution("retained"))
    gate.record(TRAIN_PEAK, tensors.peak_bytes)
    gate.record(TRAIN_RETAINED, tensors.retained_bytes)


@pytest.mark.benchmark(group="memory")
@pytest.mark.parametrize("case", _params(None))
def test_inference_memory(case: Case, benchmark, gate, device) -> None:
    model = get_model(case.model, case.res, seed=0).to(device).eval()
    x = example_input(case.input_shape, INFERENCE_BATCH, device=str(device))

    def forward() -> torch.Tensor:
        with num_threads(THREADS), torch.inference_mode():
            return model(x)

    forward()  # first-call allocations (kernel workspaces) are not the model's
    if device.type == "cuda":
        gpu, _ = benchmark.pedantic(device_memory, args=(forward, device), rounds=1, iterations=1)
        benchmark.extra_info.update(
            {
                fields.MODEL: case.config.id,
                fields.RESOLUTION: case.res.id,
                fields.BATCH_SIZE: INFERENCE_BATCH,
                fields.DEVICE: "cuda",
                fields.INFERENCE_RETAINED_GPU: gpu.retained_bytes,  # the output, while held
            }
        )
        gate.record(GPU_INFERENCE_PEAK, gpu.peak_bytes)
        return
    tensors, _ = benchmark.pedantic(tensor_memory, args=(forward,), rounds=1, iterations=1)

    def calls() -> None:
        for _ in range(RETENTION_CALLS):
            forward()  # each output dropped as soon as it is made

    kept, _ = tensor_memory(calls)
    dispatched: dict = {}
    ops = cpu_ops_per_call(forward, breakdown=dispatched)
    benchmark.extra_info.update(
        {
            fields.MODEL: case.config.id,
            fields.RESOLUTION: case.res.id,
            fields.BATCH_SIZE: INFERENCE_BATCH,
            fields.THREADS: THREADS,
            fields.INFERENCE_ALLOCATIONS: tensors.allocations,
            fields.RETENTION_CALLS: RETENTION_CALLS,
        }
    )
    _explained(benchmark, INFERENCE_PEAK, tensors.attribution("peak"))
    _explained(benchmark, INFERENCE_RETAINED, kept.attribution("retained"))
    _explained(benchmark, INFERENCE_OPS, dispatched)
    gate.record(INFERENCE_PEAK, tensors.peak_bytes)
    gate.record(INFERENCE_RETAINED, kept.retained_bytes)
    gate.record(INFERENCE_OPS, ops)
