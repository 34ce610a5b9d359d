"""Analytic per-layer accounting (parameters, MACs, output shapes) shared by every model family.

MACs count the multiply-accumulates of convolutions and linear layers only, the convention of
the studies and of torch's FlopCounterMode (FLOPs = 2 x MACs); biases, activations and pooling
are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass


def conv_out_size(size: int, kernel: int, padding: int = 0, stride: int = 1) -> int:
    """Output side of a convolution or pooling window: floor((W - K + 2P) / S) + 1."""
    return (size - kernel + 2 * padding) // stride + 1


@dataclass(frozen=True)
class LayerCount:
    """One layer's analytic figures; `shape` is the output shape without the batch dimension."""

    name: str
    kind: str
    params: int
    macs: int
    shape: tuple[int, ...]

    @property
    def flops(self) -> int:
        return 2 * self.macs


def linear_count(name: str, fan_in: int, fan_out: int) -> LayerCount:
    return LayerCount(name, "linear", fan_in * fan_out + fan_out, fan_in * fan_out, (fan_out,))


def conv_count(
    name: str, in_ch: int, out_ch: int, kernel: int, padding: int, size: int
) -> LayerCount:
    out = conv_out_size(size, kernel, padding)
    params = out_ch * in_ch * kernel * kernel + out_ch
    macs = out * out * out_ch * in_ch * kernel * kernel
    return LayerCount(name, "conv", params, macs, (out_ch, out, out))


def pool_count(name: str, channels: int, kernel: int, stride: int, size: int) -> LayerCount:
    out = conv_out_size(size, kernel, 0, stride)
    return LayerCount(name, "pool", 0, 0, (channels, out, out))


def totals(layers: list[LayerCount]) -> tuple[int, int]:
    """(parameters, MACs) summed over layers."""
    return sum(layer.params for layer in layers), sum(layer.macs for layer in layers)
