"""Numerics of two environments: where the same seeded model's outputs first diverge, layer by
layer, beyond float32 rounding (`compare --env --numerics`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .environments import EnvPair, model_cases

# A layer's outputs differ "beyond float32 rounding" when the largest difference exceeds this
# many units in the last place of the layer's largest output: a reordered sum of K float32
# terms moves a result by about sqrt(K) ulp, and the largest reduction of the zoo (mlp-4096's
# first layer, K = 784) stays near 28.
ROUNDING_ULPS = 64


FLOAT32_EPS = 2.0**-23


@dataclass(frozen=True)
class LayerDiff:
    layer: str
    max_abs: float
    max_rel: float
    scale: float  # the largest |output| of the baseline's layer

    @property
    def identical(self) -> bool:
        return self.max_abs == 0.0

    @property
    def beyond_rounding(self) -> bool:
        return self.max_abs > ROUNDING_ULPS * FLOAT32_EPS * max(self.scale, 1e-30)


def compare_numerics(
    pair: EnvPair, models: Sequence[str], batch_size: int = 64
) -> dict[str, list[LayerDiff]]:
    """Per model, per leaf layer in execution order: how far the candidate environment's
    outputs are from the baseline's, on the same weights (this process's seeded model) and the
    same input."""
    import torch

    from ..measure.example_input import example_input
    from ..zoo.registry import get_model

    out: dict[str, list[LayerDiff]] = {}
    for model_id, resolution, rid, res in model_cases(models):
        weights = pair.file("weights.pt", get_model(model_id, res, seed=0).state_dict())
        x = pair.file("input.pt", example_input((1, res.size, res.size), batch_size))
        files = [str(pair.workdir / f"outputs-{side}.pt") for side in ("a", "b")]
        assert pair.workers is not None
        for worker, path in zip(pair.workers, files, strict=True):
            worker.request(
                "outputs", model=model_id, resolution=resolution, weights=weights, input=x, out=path
            )
        then, now = (torch.load(f, weights_only=True) for f in files)
        rows = []
        for layer in then["order"]:
            if layer not in now["outputs"]:
                continue
            ya, yb = then["outputs"][layer].double(), now["outputs"][layer].double()
            if ya.shape != yb.shape:
                rows.append(LayerDiff(layer, float("inf"), float("inf"), 0.0))
                continue
            diff = (ya - yb).abs()
            rel = diff / ya.abs().clamp_min(1e-12)
            rows.append(
                LayerDiff(
                    layer,
                    float(diff.max()) if diff.numel() else 0.0,
                    float(rel.max()) if rel.numel() else 0.0,
                    float(ya.abs().max()) if ya.numel() else 0.0,
                )
            )
        out[rid] = rows
    return out


def numerics_verdict(rows: list[LayerDiff]) -> str:
    """One line per model: identical, within rounding, or the first layer beyond it."""
    if all(r.identical for r in rows):
        return "identical to the bit in every layer"
    first = next((r for r in rows if r.beyond_rounding), None)
    if first is None:
        worst = max(rows, key=lambda r: r.max_rel)
        return f"within float32 rounding (largest at {worst.layer}: {worst.max_abs:.3g} absolute)"
    return (
        f"first beyond float32 rounding: {first.layer} (max abs {first.max_abs:.3g}, "
        f"max rel {first.max_rel:.3g})"
    )
