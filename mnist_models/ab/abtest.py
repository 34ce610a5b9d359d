"""Interleaved A/B latency comparison with a bootstrap decision rule.

Two runs of the same code on a shared machine differ by 15-30% (and here up to 2x,
docs/latency-gates.md), because the machine's speed drifts. Timing the baseline (A) and the
candidate (B) alternately, in short blocks, in one process, on the same input makes drift hit
both sides alike; what is left is compared with a paired bootstrap interval and a minimum
effect size, so a change is called slower only when it is both significant and large enough to
matter.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..errors import ConfigError
from ..measure.threads import num_threads
from ..measure.timing import quantile, time_calls
from ..verdicts import Verdict

METRICS = ("p50", "p90", "p99")


@dataclass(frozen=True)
class ABSettings:
    """How to time and how to decide; the defaults were chosen by benchmarks/gate_quality.py."""

    threads: int = 1
    warmup_s: float = 0.3
    seconds: float = 2.0  # measuring time per comparison, both sides together
    block_s: float = 0.005  # one block: this long a run of calls of one side
    min_pairs: int = 30
    confidence: float = 0.95
    resamples: int = 2000
    # The smallest change worth failing a merge for, per statistic: a significant change below
    # it passes. Tails are noisier, so they need a larger change before they fail on their own.
    min_effect: dict[str, float] = field(
        default_factory=lambda: {"p50": 0.05, "p90": 0.08, "p99": 0.25}
    )
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ConfigError(f"threads must be an integer >= 1, got {self.threads!r}")
        for name in ("warmup_s", "seconds", "block_s"):
            if not getattr(self, name) >= 0 or (name != "warmup_s" and getattr(self, name) == 0):
                raise ConfigError(f"{name} must be a positive number of seconds")
        if not 0.5 < self.confidence < 1:
            raise ConfigError(f"confidence must be in (0.5, 1), got {self.confidence}")
        if self.min_pairs < 5 or self.resamples < 100:
            raise ConfigError("min_pairs must be >= 5 and resamples >= 100")
        unknown = set(self.min_effect) - set(METRICS)
        if unknown:
            raise ConfigError(f"min_effect keys must be among {METRICS}, got {sorted(unknown)}")

    def recorded(self) -> dict[str, object]:
        """What a result file records of how the timing and the decision were done."""
        keys = ("threads", "warmup_s", "seconds", "block_s", "confidence", "min_effect")
        return {k: getattr(self, k) for k in keys}


@dataclass(frozen=True)
class Estimate:
    """Candidate over baseline for one statistic, with its bootstrap interval."""

    metric: str
    baseline_us: float
    candidate_us: float
    ratio: float
    low: float
    high: float
    min_effect: float

    @property
    def verdict(self) -> str:
        """FAIL (slower): significant and at least min_effect; better (faster): the mirror;
        else same."""
        if self.low > 1 and self.ratio > 1 + self.min_effect:
            return Verdict.FAIL
        if self.high < 1 and self.ratio < 1 / (1 + self.min_effect):
            return Verdict.BETTER
        return Verdict.SAME

    def describe(self) -> str:
        return (
            f"{100 * (self.ratio - 1):+.1f}% "
            f"[{100 * (self.low - 1):+.1f}%, {100 * (self.high - 1):+.1f}%]"
        )


@dataclass(frozen=True)
class ABResult:
    """One comparison: what was timed, how, and the estimate per statistic."""

    label: str
    batch_size: int
    threads: int
    pairs: int
    calls_per_block: int
    seconds: float
    estimates: dict[str, Estimate]
    # the verdict of a first timing that failed, where the row was timed again to confirm it
    # and this (second) timing is the one kept ("" where it was timed once)
    first: str = ""

    @property
    def verdict(self) -> str:
        verdicts = {e.verdict for e in self.estimates.values()}
        if Verdict.FAIL in verdicts:
            return Verdict.FAIL
        return Verdict.BETTER if Verdict.BETTER in verdicts else Verdict.SAME

    @property
    def failed(self) -> bool:
        return self.verdict == Verdict.FAIL

    def as_dict(self) -> dict:
        out = asdict(self)
        out["estimates"] = {
            k: {**asdict(e), "verdict": e.verdict} for k, e in self.estimates.items()
        }
        out["verdict"] = self.verdict
        return out


def time_interleaved(
    baseline: Callable[[], object],
    candidate: Callable[[], object],
    settings: ABSettings,
    *,
    grad: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-call microseconds, shape (pairs, calls_per_block), for each side, both in this
    process; the garbage collector is off while timing, as in pyperf. `grad`: the calls train
    (autograd on), else they run under inference_mode."""
    enabled = gc.isenabled()
    with num_threads(settings.threads), torch.inference_mode(not grad):
        gc.disable()
        try:
            return interleave(
                lambda n: np.asarray(time_calls(baseline, n)),
                lambda n: np.asarray(time_calls(candidate, n)),
                settings,
            )
        finally:
            if enabled:
                gc.enable()


BlockRunner = Callable[[int], np.ndarray]  # n -> the microseconds of each of n calls


def interleave(
    run_a: BlockRunner, run_b: BlockRunner, settings: ABSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Warm both sides up, size the blocks, then time blocks alternately: A B, B A, A B, ... so
    that a linear drift within a pair favours neither side. A runner times `n` calls of its
    side and returns their microseconds: in this process, or in another environment's worker
    (environments.py), which is idle while the other side's block runs."""
    deadline = time.perf_counter() + settings.warmup_s
    warm = 0
    while warm < 4 or time.perf_counter() < deadline:
        run_a(1)
        run_b(1)
        warm += 1
    one_call = float(np.median(run_a(5))) * 1e-6
    calls = max(1, min(1000, round(settings.block_s / max(one_call, 1e-7))))
    pairs = max(settings.min_pairs, math.ceil(settings.seconds / (2 * calls * one_call)))
    a = np.empty((pairs, calls))
    b = np.empty((pairs, calls))
    for i in range(pairs):
        if i % 2 == 0:
            a[i] = run_a(calls)
            b[i] = run_b(calls)
        else:
            b[i] = run_b(calls)
            a[i] = run_a(calls)
    return a, b


def _quantile_ratio(a: np.ndarray, b: np.ndarray, q: float, idx: np.ndarray) -> np.ndarray:
    """Ratio of pooled quantiles for each resample of pair indices (chunked to bound memory)."""
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    out = np.empty(len(idx))
    chunk = max(1, 4_000_000 // a.size)
    for start in range(0, len(idx), chunk):
        sel = idx[start : start + chunk]
        qa = quantile(a32[sel].reshape(len(sel), -1), q)
        qb = quantile(b32[sel].reshape(len(sel), -1), q)
        out[start : start + chunk] = qb / qa
    return out


def decide(
    a: np.ndarray, b: np.ndarray, settings: ABSettings, *, label: str = "", batch_size: int = 1
) -> ABResult:
    """Estimate candidate/baseline for p50, p90, p99 with paired bootstrap intervals.

    p50: the median over pairs of (median of B's block / median of A's block): each pair was
    timed back to back, so drift cancels pair by pair. p90/p99: ratio of the quantiles of all
    calls of each side. Intervals: percentile bootstrap over pairs (whole pairs are resampled,
    keeping each A block with the B block timed beside it).
    """
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] < 5:
        raise ConfigError(
            f"need two (pairs >= 5, calls) arrays of one shape, got {a.shape} and {b.shape}"
        )
    pairs = a.shape[0]
    rng = np.random.default_rng(settings.seed)
    idx = rng.integers(0, pairs, size=(settings.resamples, pairs))
    alpha = (1 - settings.confidence) / 2
    per_pair = np.median(b, axis=1) / np.median(a, axis=1)
    boot = {"p50": np.median(per_pair[idx], axis=1)}
    point = {"p50": float(np.median(per_pair))}
    levels = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
    for metric in ("p90", "p99"):
        q = levels[metric]
        point[metric] = float(quantile(b.ravel(), q) / quantile(a.ravel(), q))
        boot[metric] = _quantile_ratio(a, b, q, idx)
    bounds = {m: tuple(np.quantile(boot[m], [alpha, 1 - alpha])) for m in METRICS}
    return _assemble(
        a.ravel(), b.ravel(), point, bounds, settings, label, batch_size, pairs, a.shape[1]
    )


def _assemble(
    all_a: np.ndarray,
    all_b: np.ndarray,
    point: dict[str, float],
    bounds: dict[str, tuple[float, float]],
    settings: ABSettings,
    label: str,
    batch_size: int,
    pairs: int,
    calls_per_block: int,
) -> ABResult:
    """The result of either rule: per statistic its ratio and interval, beside both sides'
    pooled quantiles."""
    levels = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
    estimates = {
        metric: Estimate(
            metric=metric,
            baseline_us=float(quantile(all_a, levels[metric])),
            candidate_us=float(quantile(all_b, levels[metric])),
            ratio=float(point[metric]),
            low=float(bounds[metric][0]),
            high=float(bounds[metric][1]),
            min_effect=settings.min_effect.get(metric, math.inf),
        )
        for metric in METRICS
    }
    return ABResult(
        label=label,
        batch_size=batch_size,
        threads=settings.threads,
        pairs=pairs,
        calls_per_block=calls_per_block,
        seconds=float(all_a.sum() + all_b.sum()) / 1e6,
        estimates=estimates,
    )


def student_t_quantile(p: float, df: int) -> float:
    """The p-quantile (p > 0.5) of Student's t with df degrees of freedom: bisection on its CDF,
    integrated numerically (accurate to 1e-4 for df >= 1; numpy only, no scipy)."""
    if not 0.5 < p < 1 or df < 1:
        raise ConfigError(f"student_t_quantile needs 0.5 < p < 1 and df >= 1, got p={p}, df={df}")
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def upper_tail(x: float) -> float:  # P(T > x) for x >= 0, by the substitution t = x / u
        u = np.linspace(1e-9, 1.0, 20001)
        t = x / u
        density = np.exp(log_c - (df + 1) / 2 * np.log1p(t * t / df)) * x / (u * u)
        return float(np.trapezoid(density, u))

    lo, hi = 0.0, 1.0
    while upper_tail(hi) > 1 - p:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if upper_tail(mid) > 1 - p else (lo, mid)
    return (lo + hi) / 2


def decide_rounds(
    rounds: list[tuple[np.ndarray, np.ndarray]],
    settings: ABSettings,
    *,
    label: str = "",
    batch_size: int = 1,
) -> ABResult:
    """Like `decide`, for a comparison timed in rounds, each in a fresh pair of processes
    (environments.py): within a round drift cancels pair by pair, but each process's memory
    layout moves its speed by several percent (A/A, mlp-1024 at batch 1: 0.85 to 1.06 between
    pairs of processes, 0.97 to 1.09 between rounds in one pair). So the rounds are the
    independent units: the estimate is the geometric mean of their ratios and its interval
    Student's t over the rounds' log ratios (pyperf samples the layout with worker processes the
    same way). Not a bootstrap: over 5 rounds a percentile bootstrap is about 0.63 times as wide
    as t with 4 degrees of freedom, and under act one A/A comparison in CI failed on it (lenet5
    bs1 p90 +9.4% [+2.0%, +17.0%])."""
    if len(rounds) < 3:
        raise ConfigError(f"need at least 3 rounds, got {len(rounds)}")
    levels = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
    logs: dict[str, np.ndarray] = {}
    for metric in METRICS:
        values = []
        for a, b in rounds:
            if metric == "p50":
                values.append(np.median(np.median(b, axis=1) / np.median(a, axis=1)))
            else:
                q = levels[metric]
                values.append(quantile(b.ravel(), q) / quantile(a.ravel(), q))
        logs[metric] = np.log(np.asarray(values, dtype=float))
    n = len(rounds)
    t = student_t_quantile(1 - (1 - settings.confidence) / 2, n - 1)
    all_a = np.concatenate([a.ravel() for a, _ in rounds])
    all_b = np.concatenate([b.ravel() for _, b in rounds])
    point = {m: float(np.exp(logs[m].mean())) for m in METRICS}
    bounds = {}
    for m in METRICS:
        half = t * float(logs[m].std(ddof=1)) / math.sqrt(n)
        bounds[m] = (float(np.exp(logs[m].mean() - half)), float(np.exp(logs[m].mean() + half)))
    pairs = sum(a.shape[0] for a, _ in rounds)
    return _assemble(
        all_a, all_b, point, bounds, settings, label, batch_size, pairs, rounds[0][0].shape[1]
    )


def compare_callables(
    baseline: Callable[[], object],
    candidate: Callable[[], object],
    settings: ABSettings | None = None,
    *,
    label: str = "",
    batch_size: int = 1,
    grad: bool = False,
) -> ABResult:
    """Time both alternately, then decide."""
    settings = settings or ABSettings()
    a, b = time_interleaved(baseline, candidate, settings, grad=grad)
    return decide(a, b, settings, label=label, batch_size=batch_size)
