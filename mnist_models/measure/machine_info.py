"""What a run records about the machine it ran on, beyond pytest-benchmark's own fields: the
torch build, threads, CPU and device. suite/plugin.py adds it to every saved run; the
gates compare it with the baseline's (machine.machine_kind)."""

from __future__ import annotations

import os
from typing import Any

from ..machine import cpu_model


def add_machine_info(machine_info: dict[str, Any], device: str = "cpu") -> None:
    """torch and torchvision versions, thread count, CPU model and count, and the device the
    run is on (for CUDA: GPU name, memory, capability, driver, CUDA and cuDNN versions)."""
    import torch
    import torchvision

    from .device import device_info

    machine_info.update(
        torch=torch.__version__,
        torchvision=torchvision.__version__,
        torch_threads=torch.get_num_threads(),
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count(),
        isa=torch.backends.cpu.get_cpu_capability(),  # the ATen dispatch level (gates/keys.py)
        **device_info(device),
    )
