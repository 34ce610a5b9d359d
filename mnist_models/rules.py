"""Gated metrics and their rules (direction, tolerance, bound), and what makes two machines
comparable. Shared by the pytest plugin (gates.py) and `mnist-models report`; no pytest here."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Metric:
    """A recorded figure and its gate: which way is better and how much worse is allowed.

    direction: "exact" (any change fails), "higher" or "lower" (is better). A change in the bad
    direction is allowed up to max(rel_tol x |baseline|, abs_tol). `bound` is an absolute limit
    that holds with or without a baseline: a floor for "higher", a ceiling for "lower".
    """

    name: str
    direction: str
    unit: str = ""
    rel_tol: float = 0.0
    abs_tol: float = 0.0
    bound: float | None = None
    timed: bool = False  # a time: not comparable with another machine's baseline

    def __post_init__(self) -> None:
        if self.direction not in ("exact", "higher", "lower"):
            raise ValueError(f"direction must be exact, higher or lower, got {self.direction!r}")

    def limit(self, baseline: float | None) -> float | None:
        """The worst value allowed, from the baseline (if any) and the bound."""
        candidates = []
        if baseline is not None and self.direction != "exact":
            slack = max(self.rel_tol * abs(baseline), self.abs_tol)
            candidates.append(baseline - slack if self.direction == "higher" else baseline + slack)
        if self.bound is not None:
            candidates.append(self.bound)
        if not candidates:
            return None
        return max(candidates) if self.direction == "higher" else min(candidates)

    def passes(self, now: float, baseline: float | None) -> bool:
        if self.direction == "exact":
            return baseline is None or now == baseline
        limit = self.limit(baseline)
        if limit is None:
            return True
        return now >= limit if self.direction == "higher" else now <= limit

    def allowed_text(self, baseline: float | None) -> str:
        if self.direction == "exact":
            return "exact"
        limit = self.limit(baseline)
        if limit is None:
            return "-"
        return f"{'>=' if self.direction == 'higher' else '<='} {self.format(limit)}"

    def format(self, value: float | None) -> str:
        if value is None:
            return "-"
        if self.unit == "%":
            return f"{100 * value:.2f}%"
        if self.unit == "s":
            return _format_seconds(value)
        if float(value).is_integer() and abs(value) >= 1:
            return f"{int(value):,}{' ' + self.unit if self.unit else ''}"
        return f"{value:.4g}{' ' + self.unit if self.unit else ''}"

    def change_text(self, now: float, baseline: float | None) -> str:
        if baseline is None:
            return "new"
        if self.unit == "%":
            return f"{100 * (now - baseline):+.2f}pp"
        if baseline == 0:
            return "+inf" if now else "0"
        return f"{(now - baseline) / abs(baseline):+.1%}"


def _format_seconds(value: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def exact(name: str, unit: str = "") -> Metric:
    return Metric(name, "exact", unit)


def higher(
    name: str,
    *,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
    floor: float | None = None,
    unit: str = "",
) -> Metric:
    return Metric(name, "higher", unit, rel_tol, abs_tol, floor)


def lower(
    name: str,
    *,
    rel_tol: float = 0.0,
    abs_tol: float = 0.0,
    ceiling: float | None = None,
    unit: str = "",
    timed: bool = False,
) -> Metric:
    return Metric(name, "lower", unit, rel_tol, abs_tol, ceiling, timed)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_kind(info: dict[str, Any]) -> dict[str, Any]:
    """What must match for times to be comparable: OS, Python, CPU model and count."""
    return {
        "system": info.get("system"),
        "python": ".".join(str(info.get("python_version", "")).split(".")[:2]),
        "machine": info.get("machine"),
        "cpu_model": info.get("cpu_model"),
        "cpu_count": info.get("cpu_count"),
    }
