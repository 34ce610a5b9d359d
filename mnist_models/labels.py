"""How a model at a batch size is named: `batch_label` in tables, A/B results, progress lines and
caches, `case_id` in the suite's test ids and instruction keys (the names its baselines are
stored under). Stdlib only, so torch-free reports use it too."""

from __future__ import annotations


def batch_label(run_id: str, batch_size: int | None, what: str = "") -> str:
    """ "mlp-1024@28 bs64", or "mlp-1024@28 train bs64" with `what`."""
    return f"{run_id} {what + ' ' if what else ''}bs{batch_size}"


def case_id(run_id: str, batch_size: int, *more: str) -> str:
    """ "mlp-1024@28-bs64", or "mlp-1024@28-bs64-e2" with more parts: a benchmark's pytest id."""
    return "-".join((run_id, f"bs{batch_size}", *more))
