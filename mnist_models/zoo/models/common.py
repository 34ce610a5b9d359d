"""Pieces shared by the model families: activations, pooling and range checks."""

from __future__ import annotations

from torch import nn

from ...errors import ConfigError
from ..layers import LayerCount, totals

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
POOLINGS: dict[str, type[nn.Module]] = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def check_range(field: str, value: int, low: int, high: int) -> None:
    """Raise ConfigError naming `field` unless low <= value <= high (and value is an int)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{field} must be an integer in {low}..{high}, got {value!r}")


def check_choice(field: str, value: str, choices: dict[str, object]) -> None:
    if value not in choices:
        raise ConfigError(f"{field} must be one of {', '.join(choices)}, got {value!r}")


class LayerTotals:
    """Mixin for the config dataclasses: params and MACs summed from their layers()."""

    def layers(self) -> list[LayerCount]:
        raise NotImplementedError

    @property
    def params(self) -> int:
        return totals(self.layers())[0]

    @property
    def macs(self) -> int:
        return totals(self.layers())[1]
