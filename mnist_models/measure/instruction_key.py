"""What an instruction count depends on, and what the worker is given so that it depends on
nothing else: the instruction key (recorded with every count; a baseline is compared only where
it matches), the pinned ISA path and the worker's environment (docs/determinism-keys.md)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess

from .callgrind import LAYOUT_BOUND

# The worker pins torch's kernel libraries to the SSE path every x86-64 CPU has: counts that
# do not depend on the host's vector units, 50x faster under valgrind (docs/deterministic-gates.md).
ISA_PINS = {
    "MKL_CBWR": "COMPATIBLE",  # MKL's SSE2 code path, the same on Intel and AMD
    "ONEDNN_MAX_CPU_ISA": "SSE41",  # oneDNN (convolutions)
    "ATEN_CPU_CAPABILITY": "default",  # ATen's vectorised elementwise kernels
}


# what the counts leave out, as the key names it
LEFT_OUT = ",".join(LAYOUT_BOUND)


def valgrind_path() -> str | None:
    return shutil.which("valgrind")


def valgrind_version() -> str:
    path = valgrind_path()
    if path is None:
        return "missing"
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().removeprefix("valgrind-") or "unknown"


def instruction_key(cpu_capability: str) -> dict[str, str]:
    """What an instruction count depends on (measured, docs/deterministic-gates.md).

    The torch build (its kernels), the ISA level ATen and oneDNN dispatch to as seen under
    valgrind (`cpu_capability`; valgrind hides AVX-512, so AVX2 on most x86 hosts; forcing
    ATEN_CPU_CAPABILITY=default moved mlp-1024's count by tens of percent), the CPU vendor
    (recorded; under the ISA pins an AMD and an Intel host count alike within the bands, so it
    does not refuse a comparison: engine.UNDER_THE_PINS), the Python minor version (the
    interpreter's own work per module call) and valgrind's version. Thread count is always 1.
    `left_out` names what the counts leave out (callgrind.LAYOUT_BOUND): a count made with
    another set is not compared.
    """
    import torch

    from ..machine import cpu_vendor  # here, not at the top: the worker imports this module

    return {
        "torch": torch.__version__,
        "python": ".".join(platform.python_version().split(".")[:2]),
        "machine": platform.machine(),
        "cpu_vendor": cpu_vendor(),
        "cpu_capability": cpu_capability,
        "valgrind": valgrind_version(),
        "left_out": LEFT_OUT,
    }


# What the worker inherits from whoever starts it: what selects the code it runs (the loader's
# and Python's search paths, a user's registered models), nothing else. The rest of its
# environment is fixed (make_launch_folder writes PATH, HOME, TMPDIR and VIRTUAL_ENV): the
# environment lies on the process's stack, and a CI job's own PATH and HOME moved batch-1
# counts by 0.54% with the code unchanged (docs/determinism-keys.md, "Counts and paths").
INHERITED = ("LD_LIBRARY_PATH", "PYTHONPATH", "MNIST_BENCH_MODELS")
FIXED_ENV = {"LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", **ISA_PINS}


def worker_environment() -> dict[str, str]:
    """The instruction worker's environment before its launch folder adds its paths: the same
    in every run of one checkout, whatever test, terminal or CI job starts it."""
    return {**{k: v for k in INHERITED if (v := os.environ.get(k))}, **FIXED_ENV}


def compact_key(key: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in key.items())
