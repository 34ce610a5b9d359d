"""The training loop: it learns, it is deterministic, it records what it did."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mnist_models import ConfigError, get_model
from mnist_models.measure.data import MNISTData, load_mnist
from mnist_models.measure.threads import num_threads
from mnist_models.measure.train import TrainConfig, evaluate, train


@pytest.fixture(scope="module")
def small_data(mnist_root: Path) -> MNISTData:
    """4,000 training and 1,000 validation images at 14x14: enough to learn, fast to train."""
    data = load_mnist("resize:14", root=mnist_root)
    return replace(
        data,
        train_x=data.train_x[:4000],
        train_y=data.train_y[:4000],
        val_x=data.val_x[:1000],
        val_y=data.val_y[:1000],
    )


def test_it_learns_and_records_history(small_data: MNISTData) -> None:
    model = get_model("mlp-64", "resize:14")
    _, before = evaluate(model, small_data.val_x, small_data.val_y)
    result = train(model, small_data, TrainConfig(epochs=2, batch_size=32, threads=1))
    assert [e.epoch for e in result.history] == [1, 2]
    assert result.history[1].train_loss < result.history[0].train_loss
    assert result.history[-1].val_accuracy > max(before, 0.8)
    assert result.train_samples == 4000 and result.threads == 1
    assert result.train_seconds == pytest.approx(sum(e.seconds for e in result.history))


def test_same_seed_same_weights(small_data: MNISTData) -> None:
    weights = []
    for seed in (5, 5, 6):
        model = get_model("mlp-32", "resize:14", seed=seed)
        train(model, small_data, TrainConfig(epochs=1, batch_size=128, seed=seed, threads=1))
        weights.append(model.net.fc1.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])


def _stochastic(kind: str) -> torch.nn.Module:
    """Small models with what the zoo lacks: dropout (draws from torch's global generator in
    every training step) and batch norm (running statistics, a train/eval difference)."""
    torch.manual_seed(0)
    middle = torch.nn.Dropout(0.5) if kind == "dropout" else torch.nn.BatchNorm1d(32)
    return torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(196, 32),
        middle,
        torch.nn.ReLU(),
        torch.nn.Linear(32, 10),
    )


@pytest.mark.parametrize("kind", ["dropout", "batchnorm"])
def test_a_model_that_draws_at_random_trains_to_the_same_bits(
    small_data: MNISTData, kind: str
) -> None:
    config = TrainConfig(epochs=1, batch_size=128, seed=3, threads=1)
    states = []
    for noise in (1, 2):
        torch.manual_seed(noise)  # the caller's random state differs between the runs
        model = _stochastic(kind)
        before = torch.random.get_rng_state()
        train(model, small_data, config)
        assert torch.equal(torch.random.get_rng_state(), before), "caller's RNG not restored"
        states.append(model.state_dict())
    assert states[0].keys() == states[1].keys()
    for name in states[0]:
        assert torch.equal(states[0][name], states[1][name]), name
    other = _stochastic(kind)
    train(other, small_data, replace(config, seed=4))
    assert not torch.equal(other[1].weight, states[0]["1.weight"])


def test_threads_are_restored() -> None:
    before = torch.get_num_threads()
    with num_threads(1) as used:
        assert used == torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr must be in"),
        ({"threads": 0}, "threads"),
        ({"seed": -1}, "seed"),
    ],
)
def test_invalid_train_config(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_the_test_pass_gate_sees_an_evaluation_that_does_per_sample_work(
    small_data: MNISTData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The training lane's test_pass_cost: evaluate() in multiples of the same forward passes
    alone. An evaluation one image at a time costs many times its batches; the ceiling is 2x."""
    from mnist_models.suite import bench_training

    model = get_model("mlp-32", small_data.resolution, seed=0)
    evaluate(model, small_data.test_x, small_data.test_y)  # warm, as the lane's accuracy is
    _, cost = bench_training._test_pass(model, small_data)
    assert cost > 0

    def one_at_a_time(model, x, y, batch_size=1):  # the regression: batch size 1
        return evaluate(model, x, y, batch_size=batch_size)

    monkeypatch.setattr(bench_training, "evaluate", one_at_a_time)
    _, slow = bench_training._test_pass(model, small_data)
    assert slow > 5 * bench_training.TEST_PASS.bound, slow  # per sample: tens of times over
    assert slow > 5 * cost, (slow, cost)
