"""The fixed, seeded input every measurement of a forward pass feeds a model: its own module,
because the instruction worker imports it and what the worker imports is part of what the
counts measure (metrics.py, beside it, holds everything else the lanes measure and changes
more often)."""

from __future__ import annotations

import torch


def example_input(
    input_shape: tuple[int, ...], batch_size: int = 1, seed: int = 0, device: str = "cpu"
) -> torch.Tensor:
    """A fixed, seeded input batch of shape (batch_size, *input_shape).

    On the meta device (shapes only) counting works without allocating the weights.
    """
    if torch.device(device).type == "meta":
        return torch.empty((batch_size, *input_shape), device="meta")
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((batch_size, *input_shape), generator=gen).to(device)
