"""Multi-layer perceptron family: any depth and width, or an explicit list of hidden widths."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn

from ..layers import LayerCount, linear_count
from ..resolution import Resolution
from .common import ACTIVATIONS, LayerTotals, check_choice, check_range

MAX_WIDTH = 65536
MAX_DEPTH = 64


@dataclass(frozen=True)
class MLPConfig(LayerTotals):
    """Flatten -> (Linear -> activation) per hidden width -> Linear(num_classes)."""

    hidden: tuple[int, ...]
    activation: str = "relu"
    input_size: int = 28  # side of the square single-channel input
    num_classes: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        check_range("depth (number of hidden layers)", len(self.hidden), 1, MAX_DEPTH)
        for i, width in enumerate(self.hidden, start=1):
            check_range(f"width of hidden layer {i}", width, 1, MAX_WIDTH)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_range("input_size", self.input_size, 1, 128)
        check_range("num_classes", self.num_classes, 2, 1000)

    @property
    def id(self) -> str:
        h = self.hidden
        if len(h) == 1:
            body = str(h[0])
        elif len(set(h)) == 1:
            body = f"{h[0]}x{len(h)}"
        else:
            body = "-".join(map(str, h))
        suffix = "" if self.activation == "relu" else f":{self.activation}"
        return f"mlp-{body}{suffix}"

    @property
    def native_resolution(self) -> Resolution:
        return Resolution()

    def layers(self) -> list[LayerCount]:
        """Analytic parameters and MACs, layer by layer, named as in the built module."""
        sizes = (self.input_size * self.input_size, *self.hidden, self.num_classes)
        return [
            linear_count(f"fc{i}", fan_in, fan_out)
            for i, (fan_in, fan_out) in enumerate(pairwise(sizes), start=1)
        ]

    def build(self) -> MLP:
        return MLP(self)


class MLP(nn.Module):
    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        sizes = (config.input_size * config.input_size, *config.hidden, config.num_classes)
        layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
        for i, (fan_in, fan_out) in enumerate(pairwise(sizes), start=1):
            layers[f"fc{i}"] = nn.Linear(fan_in, fan_out)
            if i < len(sizes) - 1:
                layers[f"act{i}"] = ACTIVATIONS[config.activation]()
        self.net = nn.Sequential(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 1, S, S) -> (B, num_classes)


def mlp_id(width: int, depth: int = 1, activation: str = "relu") -> str:
    """The id of `depth` hidden layers of `width` units: "mlp-1024", "mlp-512x3" (MLPConfig.id)."""
    return MLPConfig(hidden=(width,) * depth, activation=activation).id
