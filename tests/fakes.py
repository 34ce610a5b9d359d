"""Complete stored runs without training one: the fields of a RunRecord as JSON, for the tests of
the run store, the studies and the records (from before the device fields were added, so the
defaults of newer fields are exercised too)."""

from __future__ import annotations

from typing import Any

BASE_ROW: dict[str, Any] = {
    "model": "mlp-16", "resolution": "28", "run_id": "mlp-16@28", "params": 12_730,
    "macs": 12_704, "flops": 25_408, "size_bytes": 53_277, "size_with_adam_bytes": 158_067,
    "epochs": 1, "batch_size": 64, "lr": 1e-3, "seed": 0, "val_fraction": 0.2, "threads": 1,
    "accuracy": 0.9, "train_samples": 48_000, "train_seconds": 1.0, "epoch_seconds": 1.0,
    "history": [], "latency_us_p50": 10.0, "latency_us_p90": 11.0, "latency_us_p99": 12.0,
    "latency_batched": {}, "train_energy_j": 12.0, "train_co2_g": 0.0016,
    "inference_co2_g": 1e-8, "energy_model": {"watts_per_core": 12.0}, "version": "0.1.0",
}  # fmt: skip


def run_row(**fields: Any) -> dict[str, Any]:
    """A complete stored run with the given fields overridden."""
    return {**BASE_ROW, **fields}
