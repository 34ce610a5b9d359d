"""The conv/pool output-size rule out = floor((W - K + 2P) / S) + 1 against real modules."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from mnist_models.zoo.layers import conv_count, conv_out_size, linear_count, pool_count


@given(
    size=st.integers(1, 40),
    kernel=st.integers(1, 9),
    padding=st.integers(0, 4),
    stride=st.integers(1, 4),
)
def test_conv_out_size_matches_conv2d(size: int, kernel: int, padding: int, stride: int) -> None:
    expected = conv_out_size(size, kernel, padding, stride)
    conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding)
    if expected < 1:
        with pytest.raises(RuntimeError):
            conv(torch.zeros(1, 1, size, size))
        return
    assert conv(torch.zeros(1, 1, size, size)).shape[-1] == expected


@given(size=st.integers(1, 40), kernel=st.integers(1, 6), stride=st.integers(1, 6))
def test_pool_out_size_matches_maxpool_and_avgpool(size: int, kernel: int, stride: int) -> None:
    if kernel > size:
        return
    expected = conv_out_size(size, kernel, 0, stride)
    x = torch.zeros(1, 1, size, size)
    assert nn.MaxPool2d(kernel, stride)(x).shape[-1] == expected
    assert nn.AvgPool2d(kernel, stride)(x).shape[-1] == expected


def test_counts_of_single_layers() -> None:
    conv = conv_count("c", 1, 6, 5, 0, 28)
    assert (conv.params, conv.macs, conv.shape) == (156, 24 * 24 * 6 * 25, (6, 24, 24))
    fc = linear_count("f", 784, 10)
    assert (fc.params, fc.macs, fc.flops) == (7850, 7840, 15680)
    assert pool_count("p", 6, 2, 2, 24).shape == (6, 12, 12)
