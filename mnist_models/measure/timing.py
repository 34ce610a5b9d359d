"""The one timing loop and the one percentile convention of this tool (numpy and the standard
library only).

Every figure called p50/p90/p99 here, from `run`, the benchmarks, `compare` or a study, is the
q-quantile by linear interpolation between order statistics: numpy's default ("linear"), the
same as `statistics.quantiles(..., method="inclusive")`. Of 200 samples, p99 lies between the
198th and 199th smallest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import ConfigError


def time_calls(
    fn: Callable[[], object],
    calls: int,
    warmup: int = 0,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> list[float]:
    """Microseconds of each of `calls` calls of fn, after `warmup` untimed ones, on `clock`
    (wall time by default; time.thread_time_ns for this thread's on-CPU time)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(calls):
        start = clock()
        fn()
        samples.append((clock() - start) / 1e3)
    return samples


def quantile(samples: Sequence[float] | np.ndarray, q: float) -> float | np.ndarray:
    """The q-quantile (0 <= q <= 1) by linear interpolation between order statistics: of a
    sequence, a float; of a 2-D array, one per row (a partial sort: fast enough inside a
    bootstrap of thousands of resamples)."""
    a = np.asarray(samples, dtype=float) if not isinstance(samples, np.ndarray) else samples
    n = a.shape[-1]
    if n == 0 or not 0 <= q <= 1:
        raise ValueError(f"need samples and 0 <= q <= 1, got {n} samples and q={q}")
    pos = q * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    part = np.partition(a, (lo, hi), axis=-1)
    value = part[..., lo] + (pos - lo) * (part[..., hi] - part[..., lo])
    return float(value) if np.ndim(value) == 0 else value


def percentiles(samples_us: Sequence[float]) -> tuple[float, float, float]:
    """(p50, p90, p99) of per-call times (at least 2)."""
    if len(samples_us) < 2:
        raise ConfigError(f"need at least 2 latency samples, got {len(samples_us)}")
    return quantile(samples_us, 0.5), quantile(samples_us, 0.9), quantile(samples_us, 0.99)
