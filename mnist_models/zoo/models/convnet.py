"""Convolutional family: conv+pool stages and a fully connected head.

LeNet-5 (28x28 and classic 32x32 forms) and the layer-count study's cnn7/9/11/13 are layouts of
this one class; a layout fixes kernels, paddings and pools, feature maps stay parameters.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn

from ...errors import ConfigError
from ..layers import LayerCount, conv_count, conv_out_size, linear_count, pool_count
from ..resolution import Resolution
from .common import (
    ACTIVATIONS,
    POOLINGS,
    LayerTotals,
    check_choice,
    check_range,
)

MAX_STAGES = 8
MAX_CHANNELS = 4096


@dataclass(frozen=True)
class ConvStage:
    """Conv(kernel, padding, stride 1) -> activation -> pool(pool, stride pool)."""

    channels: int
    kernel: int
    padding: int = 0
    pool: int = 2


@dataclass(frozen=True)
class Layout:
    """Kernels, paddings and pools of a named network; feature maps default to 6 then 16."""

    kernels: tuple[int, ...]
    paddings: tuple[int, ...]
    pools: tuple[int, ...]
    native: Resolution

    def stages(self, feature_maps: tuple[int, ...]) -> tuple[ConvStage, ...]:
        return tuple(
            ConvStage(c, k, p, m)
            for c, k, p, m in zip(
                feature_maps, self.kernels, self.paddings, self.pools, strict=True
            )
        )

    def default_feature_maps(self) -> tuple[int, ...]:
        return (6,) + (16,) * (len(self.kernels) - 1)


PAD32 = Resolution("pad", 32)
LAYOUTS: dict[str, Layout] = {
    "lenet5": Layout((5, 5), (0, 0), (2, 2), Resolution()),
    "lenet5-32": Layout((5, 5), (0, 0), (2, 2), PAD32),
    "cnn7": Layout((5, 5), (0, 0), (2, 2), PAD32),
    "cnn9": Layout((5, 5, 5), (2, 2, 2), (2, 2, 2), PAD32),
    "cnn11": Layout((3,) * 4, (1,) * 4, (2,) * 4, PAD32),
    "cnn13": Layout((3,) * 5, (1,) * 5, (1, 2, 2, 2, 2), PAD32),
}


@dataclass(frozen=True)
class ConvNetConfig(LayerTotals):
    """Stages of conv+pool, then Linear layers of widths `head`, then num_classes outputs."""

    stages: tuple[ConvStage, ...]
    head: tuple[int, ...] = (120, 84)
    activation: str = "relu"
    pooling: str = "max"
    input_size: int = 32  # side of the square input
    in_channels: int = 1
    num_classes: int = 10
    name: str = ""  # layout name, for the readable id

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        object.__setattr__(self, "head", tuple(self.head))
        check_range("number of conv stages", len(self.stages), 1, MAX_STAGES)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("pooling", self.pooling, POOLINGS)
        check_range("input_size", self.input_size, 1, 256)
        check_range("in_channels", self.in_channels, 1, 64)
        check_range("num_classes", self.num_classes, 2, 1000)
        for i, width in enumerate(self.head, start=1):
            check_range(f"width of head layer {i}", width, 1, 65536)
        size = self.input_size
        for i, st in enumerate(self.stages, start=1):
            check_range(f"stage {i} feature maps", st.channels, 1, MAX_CHANNELS)
            check_range(f"stage {i} kernel", st.kernel, 1, 31)
            check_range(f"stage {i} padding", st.padding, 0, st.kernel)
            check_range(f"stage {i} pool", st.pool, 1, 8)
            if st.kernel > size + 2 * st.padding:
                raise ConfigError(
                    f"stage {i}: kernel {st.kernel} is larger than its {size}x{size} input "
                    f"feature map (padding {st.padding}); use a smaller kernel, more padding, "
                    "fewer stages or a larger input resolution"
                )
            size = conv_out_size(size, st.kernel, st.padding)
            if st.pool > size:
                raise ConfigError(
                    f"stage {i}: pool {st.pool} is larger than its {size}x{size} feature map; "
                    "use fewer stages or a larger input resolution"
                )
            size = conv_out_size(size, st.pool, 0, st.pool)
        if self.name and self.name not in LAYOUTS:
            raise ConfigError(f"unknown layout name {self.name!r}; known: {', '.join(LAYOUTS)}")

    @property
    def feature_maps(self) -> tuple[int, ...]:
        return tuple(st.channels for st in self.stages)

    @property
    def id(self) -> str:
        layout = LAYOUTS.get(self.name)
        if (
            layout is not None
            and self.head == (120, 84)
            and self.stages == layout.stages(self.feature_maps)
        ):
            fm = self.feature_maps
            body = self.name
            if fm != layout.default_feature_maps():
                later = fm[1:]
                shown = (fm[0], later[0]) if len(set(later)) == 1 else fm
                body += "-" + "-".join(map(str, shown))
        else:
            body = "convnet-" + "-".join(
                f"c{s.channels}k{s.kernel}p{s.padding}m{s.pool}" for s in self.stages
            )
            body += "-fc" + "-".join(map(str, self.head)) if self.head else "-fc"
        mods = "".join(
            f":{v}"
            for v, default in ((self.activation, "relu"), (self.pooling, "max"))
            if v != default
        )
        return body + mods

    @property
    def native_resolution(self) -> Resolution:
        layout = LAYOUTS.get(self.name)
        return layout.native if layout else Resolution("resize", self.input_size)

    def layers(self) -> list[LayerCount]:
        """Analytic parameters, MACs and output shapes, named as in the built module."""
        out: list[LayerCount] = []
        size, channels = self.input_size, self.in_channels
        for i, st in enumerate(self.stages, start=1):
            conv = conv_count(f"conv{i}", channels, st.channels, st.kernel, st.padding, size)
            pool = pool_count(f"pool{i}", st.channels, st.pool, st.pool, conv.shape[-1])
            out += [conv, pool]
            size, channels = pool.shape[-1], st.channels
        widths = (channels * size * size, *self.head, self.num_classes)
        out += [linear_count(f"fc{i}", a, b) for i, (a, b) in enumerate(pairwise(widths), 1)]
        return out

    def build(self) -> ConvNet:
        return ConvNet(self)


class ConvNet(nn.Module):
    def __init__(self, config: ConvNetConfig) -> None:
        super().__init__()
        self.config = config
        act, pool = ACTIVATIONS[config.activation], POOLINGS[config.pooling]
        features: OrderedDict[str, nn.Module] = OrderedDict()
        channels = config.in_channels
        for i, st in enumerate(config.stages, start=1):
            features[f"conv{i}"] = nn.Conv2d(channels, st.channels, st.kernel, padding=st.padding)
            features[f"act{i}"] = act()
            features[f"pool{i}"] = pool(st.pool, stride=st.pool)
            channels = st.channels
        flat = config.layers()[2 * len(config.stages) - 1].shape
        widths = (flat[0] * flat[1] * flat[2], *config.head, config.num_classes)
        head: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
        for i, (a, b) in enumerate(pairwise(widths), start=1):
            head[f"fc{i}"] = nn.Linear(a, b)
            if i < len(widths) - 1:
                head[f"fc_act{i}"] = act()
        self.features = nn.Sequential(features)
        self.classifier = nn.Sequential(head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, S, S) -> (B, F, s, s) -> (B, num_classes)
        return self.classifier(self.features(x))
