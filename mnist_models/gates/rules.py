"""Gated metrics and their rules (direction, tolerance, bound), and what makes two machines
comparable. Shared by the pytest plugin (gates.py) and `mnist-models report`; no pytest here."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from dataclasses import fields as dataclass_fields
from enum import StrEnum
from typing import Any

from .. import fields
from . import keys

# Where a stored baseline value says something about a value measured now: None (anywhere) or
# a determinism key (keys.py: the facts that change the figure, and no others).
KEYS = (None, *keys.NAMES)


class Direction(StrEnum):
    """Which way a gated figure is better; a plain string in the stored JSON."""

    EXACT = "exact"  # any change fails
    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True)
class Metric:
    """A recorded figure and its gate: which way is better and how much worse is allowed.

    direction: "exact" (any change fails), "higher" or "lower" (is better). A change in the bad
    direction is allowed up to max(rel_tol x |baseline|, abs_tol). `bound` is an absolute limit
    that holds with or without a baseline: a floor for "higher", a ceiling for "lower".
    `two_sided`: an improvement beyond the same tolerance fails too, so that a stored figure is
    refreshed when the code gets faster (PyTorch's instruction-count CI does the same).
    `key`: the determinism key under which a baseline's figure applies at all (KEYS; None:
    anywhere); `exact_key`: the key under which the figure repeats exactly, so any change fails
    there and the tolerance applies elsewhere. `timed` metrics are wall times, key "machine".
    `policy` names the combination, as the policy table shows it.
    """

    name: str
    direction: str
    unit: str = ""
    rel_tol: float = 0.0
    abs_tol: float = 0.0
    bound: float | None = None
    timed: bool = False  # a time: not comparable with another machine's baseline
    key: str | None = None
    exact_key: str | None = None
    two_sided: bool = False
    uses_baseline: bool = True  # False: a budget, only the bound applies
    # The relative tolerance against a baseline whose key differs only in a package version
    # (torch 2.14.1 -> 2.13.0, engine.VERSIONED): a declared cross-environment band. None: a
    # baseline from another version does not apply.
    across_versions: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.name, str) and type(self.name) is not str:  # a declared Field
            if not self.unit:
                object.__setattr__(self, "unit", getattr(self.name, "unit", ""))
            object.__setattr__(self, "name", str(self.name))
        # a declaration read back from a file is checked as strictly as one written in code: a
        # tolerance of "abc" or null must be refused, not crash a comparison or pass it
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.unit, str):
            raise ValueError(f"unit must be a string, got {self.unit!r}")
        for name in ("rel_tol", "abs_tol"):
            value = getattr(self, name)
            if not is_finite_number(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.bound is not None and not is_finite_number(self.bound):
            raise ValueError(f"bound must be a finite number or null, got {self.bound!r}")
        if self.across_versions is not None and (
            not is_finite_number(self.across_versions) or self.across_versions < 0
        ):
            raise ValueError(
                f"across_versions must be a finite number >= 0 or null, "
                f"got {self.across_versions!r}"
            )
        for name in ("timed", "two_sided", "uses_baseline"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.direction, str) or self.direction not in tuple(Direction):
            raise ValueError(f"direction must be exact, higher or lower, got {self.direction!r}")
        object.__setattr__(self, "direction", Direction(self.direction))
        if self.timed and self.key is None:
            object.__setattr__(self, "key", keys.MACHINE)
        for name in ("key", "exact_key"):
            if getattr(self, name) not in KEYS:
                raise ValueError(f"{name} must be one of {KEYS}, got {getattr(self, name)!r}")

    @property
    def policy(self) -> str:
        """The rule's name in the policy table: exact, exact under a key (a band elsewhere), a
        band (two-sided or one-sided), a floor or ceiling, a budget, a timed comparison."""
        if not self.uses_baseline:
            return "budget"
        if self.timed:
            return "timed"
        if self.direction == "exact":
            return "exact"
        if self.exact_key is not None:
            return (
                "exact under key"
                if self.exact_key == self.key
                else "exact under key, band elsewhere"
            )
        if self.rel_tol or self.abs_tol:
            return "two-sided band" if self.two_sided else "band"
        return "floor" if self.direction == "higher" else "ceiling"

    def to_dict(self) -> dict[str, Any]:
        """The declaration as stored beside the figure (extra_info["gates"][name])."""
        return {**asdict(self), "direction": str(self.direction)}

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Metric:
        """A stored declaration read back; fields added since it was written take their
        defaults, fields this version does not know are ignored (older and newer files load)."""
        if not isinstance(spec, dict):
            raise TypeError(f"a gate declaration is an object, got {type(spec).__name__}")
        from .formats import upgrade_declaration

        known = {f.name for f in dataclass_fields(cls)}
        return cls(**{k: v for k, v in upgrade_declaration(spec).items() if k in known})

    def limit(self, baseline: float | None) -> float | None:
        """The worst value allowed, from the baseline (if any) and the bound."""
        candidates = []
        if baseline is not None and self.direction != "exact" and self.uses_baseline:
            slack = max(self.rel_tol * abs(baseline), self.abs_tol)
            candidates.append(baseline - slack if self.direction == "higher" else baseline + slack)
        if self.bound is not None:
            candidates.append(self.bound)
        if not candidates:
            return None
        return max(candidates) if self.direction == "higher" else min(candidates)

    def best(self, baseline: float | None) -> float | None:
        """The best value allowed (two-sided gates only): beyond it the baseline is stale."""
        if not self.two_sided or baseline is None or self.direction == "exact":
            return None
        slack = max(self.rel_tol * abs(baseline), self.abs_tol)
        return baseline + slack if self.direction == "higher" else baseline - slack

    def passes(self, now: float, baseline: float | None) -> bool:
        if self.direction == "exact":
            return baseline is None or now == baseline
        limit = self.limit(baseline)
        best = self.best(baseline)
        if best is not None and (now > best if self.direction == "higher" else now < best):
            return False
        if limit is None:
            return True
        return now >= limit if self.direction == "higher" else now <= limit

    def as_exact(self) -> Metric:
        """This metric where it repeats exactly: any change fails; the bound still holds."""
        return replace(self, rel_tol=0.0, abs_tol=0.0, two_sided=True)

    def allowed_text(self, baseline: float | None) -> str:
        if self.direction == "exact" or (
            self.two_sided and baseline is not None and self.limit(baseline) == baseline
        ):
            floor = "" if self.bound is None else f", {self._bound_text()}"
            return "exact" + floor
        limit = self.limit(baseline)
        if limit is None:
            return "-"
        best = self.best(baseline)
        if best is not None:
            low, high = sorted((limit, best))
            return f"{self.format(low)} .. {self.format(high)}"
        return f"{'>=' if self.direction == 'higher' else '<='} {self.format(limit)}"

    def _bound_text(self) -> str:
        return f"{'>=' if self.direction == 'higher' else '<='} {self.format(self.bound)}"

    def format(self, value: float | None) -> str:
        if value is None:
            return "-"
        if self.unit == "%":
            return f"{100 * value:.2f}%"
        if self.unit == "s":
            return _format_seconds(value)
        if (float(value).is_integer() and abs(value) >= 1) or abs(value) >= 10_000:
            return f"{value:,.0f}{' ' + self.unit if self.unit else ''}"
        return f"{value:.4g}{' ' + self.unit if self.unit else ''}"

    def change_text(self, now: float, baseline: float | None) -> str:
        if baseline is None:
            return "new"
        if self.unit == "%":
            return f"{100 * (now - baseline):+.2f}pp"
        if baseline == 0:
            return "+inf" if now else "0"
        rel = (now - baseline) / abs(baseline)
        return f"{rel:+.3%}" if 0 < abs(rel) < 0.001 else f"{rel:+.1%}"


def is_finite_number(value: object) -> bool:
    """A finite int or float (not a bool; a 4,000-digit integer is refused, not overflowed)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _format_seconds(value: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def exact(name: str, unit: str = "", *, key: str | None = None) -> Metric:
    return Metric(name, "exact", unit, key=key)


def higher(
    name: str,
    *,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
    floor: float | None = None,
    unit: str = "",
    exact_key: str | None = None,
) -> Metric:
    return Metric(name, "higher", unit, rel_tol, abs_tol, floor, exact_key=exact_key)


def lower(
    name: str,
    *,
    rel_tol: float = 0.0,
    abs_tol: float = 0.0,
    ceiling: float | None = None,
    unit: str = "",
    timed: bool = False,
    key: str | None = None,
    exact_key: str | None = None,
    two_sided: bool = False,
    across_versions: float | None = None,
) -> Metric:
    return Metric(
        name,
        "lower",
        unit,
        rel_tol,
        abs_tol,
        ceiling,
        timed,
        key,
        exact_key,
        two_sided,
        across_versions=across_versions,
    )


def gated_metrics(extra_info: dict[str, Any]) -> dict[str, Metric]:
    """The gates a benchmark entry declared, by metric name: the one reader of
    extra_info["gates"] (the plugin writes it with Metric.to_dict)."""
    return {
        name: Metric.from_dict(spec) for name, spec in (extra_info.get(fields.GATES) or {}).items()
    }


def budget(name: str, ceiling: float, *, unit: str = "", key: str | None = None) -> Metric:
    """A ceiling declared beside a test that holds with or without a stored baseline."""
    return Metric(name, "lower", unit, bound=ceiling, key=key, uses_baseline=False)
