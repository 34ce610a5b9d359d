"""The record of one measured run: its fields defined once, for `run --json`, the run store
and the studies' results (torch-free: readers of stored runs need no torch)."""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class RunRecord:
    """One measured run, as `run --json` prints it, studies store it and reports read it: the
    one place its fields are defined. `from_dict` reads stored rows of older versions (fields
    added since take their defaults) and newer ones (unknown fields are kept aside in `extra`)."""

    model: str
    resolution: str
    run_id: str
    params: int
    macs: int
    flops: int
    size_bytes: int
    size_with_adam_bytes: int
    epochs: int
    batch_size: int
    lr: float
    seed: int
    val_fraction: float
    threads: int
    accuracy: float
    train_samples: int
    train_seconds: float
    epoch_seconds: float
    history: list[dict[str, Any]]
    latency_us_p50: float
    latency_us_p90: float
    latency_us_p99: float
    latency_batched: dict[str, Any]
    train_energy_j: float
    train_co2_g: float
    inference_co2_g: float
    energy_model: dict[str, float]
    version: str
    device: str = "cpu"
    device_info: dict[str, Any] = field(default_factory=dict)
    mode: str = "eager"
    setup_s: float = 0.0
    test_pass_s: float | None = None  # evaluate() over the test set (runs before it: None)
    extra: dict[str, Any] = field(default_factory=dict)  # fields of a newer version, kept

    def __post_init__(self) -> None:
        # a stored row with a sound checksum can still hold a string where a figure belongs:
        # every field is checked against its declared type (the run store then recomputes it)
        for f in fields(self):
            value, kind = getattr(self, f.name), str(f.type).split("[")[0]
            if not _is_a(value, kind):
                raise ValueError(f"a run record's {f.name} must be {kind}, got {value!r:.60}")

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**self.extra, **out}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> RunRecord:
        names = {f.name for f in fields(cls)} - {"extra"}
        missing = [
            f.name
            for f in fields(cls)
            if f.name in names
            and f.name not in row
            and f.default is MISSING
            and f.default_factory is MISSING
        ]
        if missing:
            raise ValueError(f"a run record needs {', '.join(missing)}")
        known = {k: v for k, v in row.items() if k in names}
        return cls(**known, extra={k: v for k, v in row.items() if k not in names})


def _is_a(value: object, kind: str) -> bool:
    """`value` is of the declared field type `kind` (int, float, str, list, dict, or one of
    them `| None`)."""
    if kind.endswith(" | None"):
        return value is None or _is_a(value, kind.removesuffix(" | None"))
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    return isinstance(value, {"str": str, "list": list, "dict": dict}.get(kind, object))
