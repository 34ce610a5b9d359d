"""The accuracy the issue promises after 2 epochs at batch 64 (seeded: the same on every run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_models import get_config, get_model
from mnist_models.measure.data import load_mnist
from mnist_models.measure.train import TrainConfig, evaluate, train


@pytest.mark.slow
@pytest.mark.parametrize("model_id, floor", [("mlp-1024", 0.967), ("lenet5", 0.980)])
def test_two_epoch_accuracy(mnist_root: Path, model_id: str, floor: float) -> None:
    _, res = get_config(model_id)
    data = load_mnist(res, root=mnist_root)
    model = get_model(model_id, res)
    train(model, data, TrainConfig(epochs=2, batch_size=64, seed=0, threads=2))
    _, accuracy = evaluate(model, data.test_x, data.test_y)
    assert accuracy >= floor, f"{model_id}: {accuracy:.4f} < {floor}"
