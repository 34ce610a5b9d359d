"""The MNIST model of PyTorch's examples (`pytorch/examples`, `mnist/main.py`), written from its
description: two 3x3 convolutions (1->32, 32->64), a 2x2 max-pool, dropout 0.25, a 9216->128
linear layer, dropout 0.5, 128->10 and log-softmax. 1,199,882 parameters. A model mnist-bench
did not ship, registered through the `mnist_bench.models` entry point of this folder's
pyproject.toml."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)
