"""This machine, as the gates and the measurements name it: the CPU reader (model, vendor), the
machine kind that decides whether two runs' times compare, and its label. The one reader of
/proc/cpuinfo; no torch."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def _cpuinfo(field: str) -> str | None:
    """The first value of `field` in /proc/cpuinfo (None off Linux or when it is absent)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name ("AMD EPYC 9R14 96-Core Processor")."""
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_vendor() -> str:
    """The CPU's vendor ("GenuineIntel", "AuthenticAMD")."""
    return _cpuinfo("vendor_id") or platform.processor() or "unknown"


def kind_name(info: dict[str, Any] | None = None) -> str:
    """A machine kind as budgets name it: CPU model and count ("AMD EPYC x2"); this machine's
    when `info` is None."""
    if info is None:
        info = {"cpu_model": cpu_model(), "cpu_count": os.cpu_count()}
    return f"{info.get('cpu_model')} x{info.get('cpu_count')}"


def machine_kind(info: dict[str, Any]) -> dict[str, Any]:
    """What must match for times to be comparable: OS, Python (implementation and version, as
    pytest-benchmark's machine id has them), CPU model and count, the device (runs from before
    the device axis were on the CPU) and the GPU model."""
    return {
        "system": info.get("system"),
        "implementation": info.get("python_implementation", "CPython"),
        "python": ".".join(str(info.get("python_version", "")).split(".")[:2]),
        "machine": info.get("machine"),
        "cpu_model": info.get("cpu_model"),
        "cpu_count": info.get("cpu_count"),
        "device": info.get("device", "cpu"),
        "gpu_name": info.get("gpu_name"),
    }


def same_machine(info_then: dict[str, Any], info_now: dict[str, Any]) -> bool:
    """The one same-machine rule (the plugin, `report` and the machine note use it): the two
    runs' machine kinds match, so their times compare."""
    return machine_kind(info_then) == machine_kind(info_now)
