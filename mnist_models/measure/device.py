"""Where a model runs (cpu or cuda), how its forward pass is run (eager, CUDA graph, compiled),
and a clock that is right for each.

CUDA work is asynchronous: host time around a call measures its launch, not its work. On CUDA
every per-call time here comes from CUDA events recorded around the call and read after a
synchronise; pytest-benchmark's own timer is replaced by one that synchronises first
(`sync_perf_counter`). Graph capture and compilation happen before timing and are reported
apart from latency (`Prepared.setup_s`).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:  # torch is imported where it is used: the CLI's parser reads DEVICES, MODES
    import torch
    from torch import nn

DEVICES = ("cpu", "cuda")
MODES = ("eager", "cuda-graph", "compile")
DEFAULT_DEVICE = "cpu"
DEFAULT_MODE = "eager"


def resolve_device(name: str | torch.device) -> torch.device:
    """A torch.device for "cpu", "cuda" or "cuda:N", or a ConfigError that says what to do."""
    import torch

    text = str(name).strip().lower()
    kind, _, index = text.partition(":")
    if kind not in DEVICES or (index and (kind != "cuda" or not index.isdigit())):
        raise ConfigError(f"unknown device {str(name)!r}; choose cpu, cuda or cuda:N")
    if kind == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA support"
        raise ConfigError(
            f"--device {text}: no CUDA GPU is visible (torch {torch.__version__}, {build}); "
            "run with --device cpu, or on a machine with an NVIDIA GPU and a CUDA build of torch"
        )
    device = torch.device(text if index else "cuda:0")
    if device.index >= torch.cuda.device_count():
        raise ConfigError(
            f"--device {text}: only {torch.cuda.device_count()} CUDA device(s) are visible"
        )
    return device


def check_mode(mode: str, device: torch.device | str) -> str:
    """The execution mode if it can run on `device`; a ConfigError naming the choices if not."""
    if mode not in MODES:
        raise ConfigError(f"unknown execution mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "cuda-graph" and str(device).partition(":")[0] != "cuda":
        raise ConfigError(
            "execution mode cuda-graph needs --device cuda (CUDA graphs replay GPU work)"
        )
    return mode


def where_parts(device: torch.device | str, mode: str = DEFAULT_MODE) -> tuple[str, ...]:
    """The device and mode, each only where not the default (cpu, eager): what tells results
    apart in run ids and cache keys while CPU eager names stay as they were."""
    kind = str(device).partition(":")[0]
    return tuple(p for p, d in ((kind, DEFAULT_DEVICE), (mode, DEFAULT_MODE)) if p != d)


def synchronize(device: torch.device | str) -> None:
    """Wait for the device's queued work (nothing to wait for on the CPU)."""
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def sync_perf_counter() -> float:
    """pytest-benchmark's timer on CUDA: synchronise, then read the host clock, so a round's
    time is the time of its GPU work and not of its launches."""
    import torch

    torch.cuda.synchronize()
    return time.perf_counter()


# --- machine info ------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _driver_version() -> str:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "unknown (no nvidia-smi)"
    try:
        out = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unknown ({type(err).__name__})"
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout else "unknown"


def device_info(device: torch.device | str) -> dict[str, Any]:
    """What a result records of its device: for CUDA the GPU's name, memory and capability, the
    driver, and the CUDA and cuDNN versions torch was built with."""
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        return {"device": "cpu"}
    props = torch.cuda.get_device_properties(device)
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "device": "cuda",
        "gpu_name": props.name,
        "gpu_memory_bytes": int(props.total_memory),
        "gpu_capability": f"{props.major}.{props.minor}",
        "gpu_multiprocessors": int(props.multi_processor_count),
        "gpu_driver": _driver_version(),
        "cuda_version": torch.version.cuda,
        "cudnn_version": cudnn,
    }


# --- timing ------------------------------------------------------------------------------------


def per_call_us(
    fn: Callable[[], object], rounds: int, warmup: int, device: torch.device | str
) -> list[float]:
    """Microseconds of each of `rounds` calls after `warmup` untimed ones: the host clock on
    the CPU; on CUDA, CUDA events around each call, read after it finished (each call starts
    on an idle GPU, as a request does, so its kernels' launch gaps are in its time)."""
    import torch

    if torch.device(device).type != "cuda":
        from .timing import time_calls

        return time_calls(fn, rounds, warmup)
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize(device)
    samples = []
    for _ in range(rounds):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) * 1e3)  # elapsed_time is in milliseconds
    return samples


@contextmanager
def quiet_profile(activities: list[Any], **options: Any) -> Iterator[Any]:
    """torch.profiler.profile with the profiler's own UserWarnings ignored (torch 2.11 raised
    one, fatal under -W error). Callers run the profiled code once before, unprofiled, so its
    own warnings still show."""
    from torch.profiler import profile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with profile(activities=activities, **options) as prof:
            yield prof


def gpu_ops_per_call(
    fn: Callable[[], object], device: torch.device | str, calls: int = 4, *,
    breakdown: dict[str, Any] | None = None,
) -> float:  # fmt: skip
    """GPU operations (kernels, copies, memsets) one call runs, counted by torch's profiler over
    `calls` calls after one untimed one. The GPU's counterpart of the CPU lane's instruction
    count: the same number on every run of the same code, GPU and torch, however busy the host,
    and one added operation in a forward pass (an input check, a copy) changes it. `breakdown`,
    when given, is filled with the count per kernel (a gate's attribution)."""
    import torch
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity

    device = torch.device(device)
    if device.type != "cuda":
        raise ConfigError("gpu_ops_per_call counts CUDA operations; on the CPU use instructions")
    fn()
    torch.cuda.synchronize(device)
    with quiet_profile([ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize(device)
    names = [e.name[:100] for e in prof.events() if e.device_type == DeviceType.CUDA]
    return _counted(names, calls, "kernel", breakdown)


def _counted(names: list[str], calls: int, group: str, breakdown: dict[str, Any] | None) -> float:
    """len(names) per call; into `breakdown` the count of each name, as attribution.py reads
    it (the count is the cost too: what moves is how many)."""
    if breakdown is not None:
        table: dict[str, list[int]] = {}
        for name in names:
            entry = table.setdefault(name, [0, 0])
            entry[0] += 1
            entry[1] += 1
        breakdown.update(per=calls, source="torch.profiler", **{group: table})
    return len(names) / calls


def cpu_ops_per_call(
    fn: Callable[[], object], calls: int = 4, *, breakdown: dict[str, Any] | None = None
) -> float:
    """ATen operators one call dispatches (every level: `aten::linear` and the `aten::addmm`
    inside it), counted by torch's profiler over `calls` calls after one uncounted one. Exact
    where instruction counts are not: it does not depend on where the files lie or on the
    heap, so one added operation (an input check's `isnan` and `any`, a ReLU) changes it on
    any model, however large. `breakdown`, when given, is filled with the count per operator."""
    from torch.profiler import ProfilerActivity

    fn()
    with quiet_profile([ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            fn()
    names = [event.name for event in prof.events() if event.name.startswith("aten::")]
    return _counted(names, calls, "operator", breakdown)


@dataclass(frozen=True)
class DeviceMemory:
    """Device memory of one call from the CUDA caching allocator, in bytes: the most allocated
    at once during the call above what was allocated before it, and what it left allocated."""

    peak_bytes: int
    retained_bytes: int

    def as_dict(self) -> dict[str, int]:
        return {"peak_bytes": self.peak_bytes, "retained_bytes": self.retained_bytes}


def device_memory(fn: Callable[[], Any], device: torch.device | str) -> tuple[DeviceMemory, Any]:
    """Run fn() with the allocator's peak reset first; (its device memory, fn's value)."""
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        raise ConfigError("device_memory measures CUDA memory; use metrics.tensor_memory on CPU")
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    value = fn()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - before
    return DeviceMemory(peak, torch.cuda.memory_allocated(device) - before), value


# --- execution modes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A forward pass ready to time: `call()` runs it once on the prepared input. `setup_s` is
    what preparing cost (compilation, graph capture), never part of any latency figure."""

    call: Callable[[], torch.Tensor]
    mode: str
    setup_s: float


def prepare_forward(model: nn.Module, x: torch.Tensor, mode: str = DEFAULT_MODE) -> Prepared:
    """The forward pass of `model` on `x` in an execution mode (callers run `call` under
    torch.inference_mode, as prepared here):

    eager       the module called as it is;
    cuda-graph  captured once into a CUDA graph after warm-up on a side stream, then replayed
                (one launch per call instead of one per kernel); the input is the graph's
                static copy of x;
    compile     torch.compile'd; the first calls (which compile) are in setup_s.
    """
    import torch

    check_mode(mode, x.device)
    model.eval()
    if mode == "eager":
        return Prepared(lambda: model(x), mode, 0.0)
    with torch.inference_mode():
        return _prepare(model, x, mode)


def _prepare(model: nn.Module, x: torch.Tensor, mode: str) -> Prepared:
    import torch

    device = x.device
    start = time.perf_counter()
    if mode == "eager":
        return Prepared(lambda: model(x), mode, 0.0)
    if mode == "compile":
        with warnings.catch_warnings():
            # modules that compilation imports warn about torch's own deprecations (torch 2.11:
            # torch.jit.script_method); not the user's code, and fatal under -W error
            warnings.simplefilter("ignore", DeprecationWarning)
            # inductor's hint to enable TF32: the eager figures are full fp32 too, so they compare
            warnings.filterwarnings("ignore", message=".*TensorFloat32.*", category=UserWarning)
            compiled = torch.compile(model)
            for _ in range(2):  # the first call compiles, the second checks nothing recompiles
                compiled(x)
        synchronize(device)
        return Prepared(lambda: compiled(x), mode, time.perf_counter() - start)
    static_x = x.clone()
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up: cuBLAS/cuDNN handles and workspaces exist before capture
            model(static_x)
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = model(static_x)
    graph.replay()
    synchronize(device)

    def replay() -> torch.Tensor:
        graph.replay()
        return static_out

    return Prepared(replay, mode, time.perf_counter() - start)
