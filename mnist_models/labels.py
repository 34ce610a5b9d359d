"""How a model at a batch size is named in tables, A/B results, progress lines and caches: one
format for every layer (stdlib only, so torch-free reports use it too)."""

from __future__ import annotations


def batch_label(run_id: str, batch_size: int | None, what: str = "") -> str:
    """ "mlp-1024@28 bs64", or "mlp-1024@28 train bs64" with `what`."""
    return f"{run_id} {what + ' ' if what else ''}bs{batch_size}"
