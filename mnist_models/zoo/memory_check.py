"""Refuse work that cannot fit in memory before it starts, with the figures, instead of a
traceback from deep inside torch after minutes of training (or a machine swapping to death)."""

from __future__ import annotations

import math
import os
from typing import Any

from ..errors import ConfigError

FLOAT_BYTES = 4
HEADROOM = 0.9  # leave a tenth of what is available to everything else


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def available_bytes(device: str = "cpu") -> int | None:
    """Memory available now: MemAvailable of /proc/meminfo (psutil elsewhere), or the GPU's
    free memory on CUDA; None where it cannot be told."""
    if str(device).startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except (ImportError, OSError):
        return None


def require_memory(needed: float, what: str, *, device: str = "cpu", fix: str = "") -> None:
    """A ConfigError naming the need and what is available when `needed` bytes cannot fit."""
    if os.environ.get("MNIST_BENCH_NO_MEMORY_CHECK"):
        return
    available = available_bytes(device)
    if available is None or needed <= HEADROOM * available:
        return
    where = "on the GPU" if str(device).startswith("cuda") else "here"
    raise ConfigError(
        f"{what}: needs about {format_bytes(needed)}, but {format_bytes(available)} of memory is "
        f"available {where}; {fix or 'choose a smaller model'}"
    )


def activation_bytes(config: Any, batch_size: int) -> int:
    """Bytes of one forward pass's input and layer outputs at a batch size (float32)."""
    per_sample = config.input_size**2 + sum(math.prod(layer.shape) for layer in config.layers())
    return FLOAT_BYTES * per_sample * batch_size
