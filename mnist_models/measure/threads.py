"""torch's intra-op thread count, set for a block and restored: every measurement states it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ..errors import ConfigError


@contextmanager
def num_threads(threads: int | None) -> Iterator[int]:
    """Run the block with torch's intra-op thread count set (None keeps the current one)."""
    previous = torch.get_num_threads()
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"threads must be an integer >= 1, got {threads!r}")
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)
