"""What the studies measure: parameters, MACs/FLOPs, size, latency, accuracy, memory, CO2eq.

FLOPs are 2 x MACs throughout (torch's FlopCounterMode convention); see docs/reference.md,
"FLOP convention".
"""

from __future__ import annotations

import copy
import ctypes
import gc
import io
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..errors import ConfigError
from .example_input import example_input
from .threads import num_threads
from .timing import percentiles, time_calls


def count_params(model: nn.Module) -> int:
    """Sum of numel over all parameters."""
    return sum(p.numel() for p in model.parameters())


def _device(model: nn.Module) -> str:
    return str(next(iter(model.parameters())).device)


def flop_counts(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, dict[str, int]]:
    """(total MACs, MACs per leaf module name) for one sample, from torch's FlopCounterMode."""
    counter = FlopCounterMode(display=False)
    was_training = model.training
    model.eval()
    with counter, torch.no_grad():
        model(example_input(input_shape, device=_device(model)))
    model.train(was_training)
    leaves = {name for name, mod in model.named_modules() if name and not any(mod.children())}
    per_layer: dict[str, int] = {}
    for key, ops in counter.get_flop_counts().items():
        path = key.partition(".")[2]  # keys are "<RootClass>.<module path>"
        if path in leaves:
            per_layer[path.rsplit(".", 1)[-1]] = sum(ops.values()) // 2
    return counter.get_total_flops() // 2, per_layer


def thop_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """thop's MAC count on a deep copy (thop adds buffers and hooks to the module it profiles).

    thop also counts one op per AvgPool output element; conv and linear are counted as here.
    """
    with warnings.catch_warnings():
        # thop 0.1.1 compares versions with distutils' deprecated LooseVersion at import time
        warnings.simplefilter("ignore", DeprecationWarning)
        import thop

    sample = example_input(input_shape, device=_device(model))
    macs, _ = thop.profile(copy.deepcopy(model), inputs=(sample,), verbose=False)
    return int(macs)


# the layers whose MACs thop and FlopCounterMode count alike (matrix products, convolutions)
_COUNTED_ALIKE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def thop_extra(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """What thop counts beyond FlopCounterMode, by layer type: thop gives BatchNorm, pooling
    and activations ops of their own, FlopCounterMode counts matrix products and convolutions
    only (the zoo's formulas agree with it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import thop

    profiled = copy.deepcopy(model)
    sample = example_input(input_shape, device=_device(model))
    *_, tree = thop.profile(profiled, inputs=(sample,), verbose=False, ret_layer_info=True)
    extra: dict[str, int] = {}
    stack = [("", tree)]
    while stack:  # thop's per-module ops, nested as the modules are
        prefix, layer = stack.pop()
        for name, (ops, _, children) in layer.items():
            path = f"{prefix}{name}"
            if children:
                stack.append((f"{path}.", children))
                continue
            module = profiled.get_submodule(path)
            if int(ops) and not isinstance(module, _COUNTED_ALIKE):
                kind = type(module).__name__
                extra[kind] = extra.get(kind, 0) + int(ops)
    return extra


def size_bytes(model: nn.Module, *, with_optimizer: bool = False) -> int:
    """Bytes of the serialized state_dict; with Adam's state (exp_avg, exp_avg_sq) when asked."""
    state: dict[str, Any] = {"model": model.state_dict()}
    if with_optimizer:
        clone = copy.deepcopy(model)
        optimizer = torch.optim.Adam(clone.parameters())
        for p in clone.parameters():
            p.grad = torch.zeros_like(p)
        optimizer.step()  # Adam creates its state lazily, on the first step
        state = {"model": clone.state_dict(), "optimizer": optimizer.state_dict()}
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getbuffer().nbytes


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latency of a forward pass at one batch size, in microseconds."""

    batch_size: int
    rounds: int
    warmup: int
    threads: int
    p50_us: float
    p90_us: float
    p99_us: float
    mean_us: float
    device: str = "cpu"
    mode: str = "eager"
    setup_s: float = 0.0  # compilation or graph capture, before timing (never in the figures)

    @property
    def per_sample_us(self) -> float:
        return self.p50_us / self.batch_size

    @property
    def throughput(self) -> float:
        """Samples per second at the median call time."""
        return self.batch_size * 1e6 / self.p50_us

    def as_dict(self) -> dict[str, float]:
        out = asdict(self)
        out.update(per_sample_us=self.per_sample_us, throughput=self.throughput)
        return out


@torch.inference_mode()
def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, ...],
    batch_size: int = 1,
    *,
    warmup: int = 20,
    rounds: int = 200,
    threads: int | None = 1,
    mode: str = "eager",
) -> LatencyStats:
    """Time `rounds` forward calls on a prebuilt input after `warmup` untimed ones, on the
    model's device, in an execution mode (device.py: CUDA is timed with CUDA events)."""
    from . import device as dev

    if batch_size < 1 or rounds < 2 or warmup < 0:
        raise ConfigError(
            f"need batch_size >= 1, rounds >= 2, warmup >= 0; got {batch_size}, {rounds}, {warmup}"
        )
    model.eval()
    where = next(iter(model.parameters())).device
    x = example_input(input_shape, batch_size, device=str(where))
    with num_threads(threads) as used:
        prepared = dev.prepare_forward(model, x, mode)
        samples = dev.per_call_us(prepared.call, rounds, warmup, where)
    p50, p90, p99 = percentiles(samples)
    return LatencyStats(
        batch_size,
        rounds,
        warmup,
        used,
        p50,
        p90,
        p99,
        statistics.fmean(samples),
        where.type,
        mode,
        prepared.setup_s,
    )


@torch.inference_mode()
def cpu_time_percentiles(
    model: nn.Module, x: torch.Tensor, *, rounds: int = 500, warmup: int = 20, threads: int = 1
) -> tuple[float, float, float]:
    """(p50, p90, p99) microseconds of on-CPU time per forward call (this thread's CPU clock).

    Time the process spent waiting for a core is not in it: on a machine where a neighbour
    takes turns on the cores, wall-clock p99 is the scheduler's slice (4-6 ms seen here for
    100-600 us calls), on-CPU p99 is still the model's own tail.
    """
    with num_threads(threads):
        return percentiles(time_calls(lambda: model(x), rounds, warmup, time.thread_time_ns))


@dataclass(frozen=True)
class MemoryStats:
    """Process RSS in MiB (memory-profiler): before the call, the peak during it, the increase."""

    baseline_rss_mib: float
    peak_rss_mib: float

    @property
    def increase_mib(self) -> float:
        return max(self.peak_rss_mib - self.baseline_rss_mib, 0.0)

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "increase_mib": self.increase_mib}


@lru_cache(maxsize=1)
def _libc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        # A fixed mmap threshold (M_MMAP_THRESHOLD = -3) turns off glibc's dynamic one, which
        # keeps large freed blocks in the heap: then RSS increases would depend on test order.
        libc.mallopt(-3, 128 * 1024)
        return libc
    except (OSError, AttributeError):  # not glibc: measurements are still made, less repeatable
        return None


def release_free_memory() -> None:
    """Return freed heap memory to the OS so that the next RSS baseline is comparable."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def peak_memory(fn: Callable[[], Any], *, interval: float = 0.005) -> tuple[MemoryStats, Any]:
    """Run fn() while sampling this process's RSS; (stats, fn's return value)."""
    from memory_profiler import memory_usage

    release_free_memory()

    baseline = memory_usage(os.getpid(), interval=interval, timeout=interval * 2, max_usage=True)
    peak, value = memory_usage(
        (fn, (), {}), interval=interval, max_usage=True, retval=True, include_children=False
    )
    return MemoryStats(float(baseline), float(max(peak, baseline))), value


@dataclass(frozen=True)
class TensorMemory:
    """Tensor memory allocated while a call ran, from torch.profiler's allocation events.

    Deterministic where RSS is not: the same code allocates the same sizes in the same order.
    `peak_bytes` is the most bytes allocated during the call and alive at once (tensors that
    existed before the call are not counted); `retained_bytes` is what was still alive at its
    end (for a training run: the optimizer state and anything kept across steps).
    """

    peak_bytes: int
    retained_bytes: int
    allocations: int
    # where the tensors alive at the peak and at the end were allocated (allocation_sites.py)
    sites: dict[str, dict[str, list[int]]] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, int]:
        return {"peak_bytes": self.peak_bytes, "retained_bytes": self.retained_bytes,
                "allocations": self.allocations}  # fmt: skip

    def attribution(self, which: str) -> dict[str, Any]:
        """The breakdown of the peak or the retained figure for a gate's `attribution` field."""
        sites = self.sites.get(which)
        if sites is None:
            return {}
        return {"per": 1, "source": "torch.profiler", "count": "tensors", "site": sites}


def tensor_memory(fn: Callable[[], Any], *, sites: bool = True) -> tuple[TensorMemory, Any]:
    """Run fn() under torch.profiler with memory profiling; (tensor memory, fn's return value).
    With `sites`, Python stacks are recorded too (about 1.7x the profiled time of a training
    run here), and the result says where the tensors alive at the peak and at the end came
    from."""
    from torch.profiler import ProfilerActivity, profile

    from .allocation_sites import allocation_sites

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, with_stack=sites) as prof:
        value = fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    # recording order, made sure by time (a stable sort keeps that order for equal times)
    sizes = [e.nbytes() for e in sorted(events, key=lambda e: e.start_ns())]  # < 0: a free
    live = peak = allocations = 0
    for size in sizes:
        live += size
        peak = max(peak, live)
        allocations += size > 0
    where = allocation_sites(prof) if sites else {}
    return TensorMemory(peak, live, allocations, where), value
