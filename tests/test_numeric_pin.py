"""The pinned numeric path's child process: the same bits every time, the path it took said, and
a failure that names the training and its cause (not a traceback from inside the child)."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from mnist_models.measure.numeric_pin import (
    PIN,
    PinnedSpec,
    PinnedTrainer,
    PinnedTrainingError,
    pinned_training,
)


def spec(mnist_root: Path, **changes: object) -> PinnedSpec:
    """A few steps of a small MLP: seconds, most of them loading torch."""
    small = PinnedSpec(
        model="mlp-32", resolution="resize:7", epochs=1, batch_size=64, seed=0, threads=1,
        mnist_root=str(mnist_root), steps=20,
    )  # fmt: skip
    return replace(small, **changes)


def test_a_seeded_training_on_the_pin_repeats_to_the_bit_and_says_its_path(
    mnist_root: Path,
) -> None:
    with PinnedTrainer() as trainer:
        first = trainer.train(spec(mnist_root))
        other = trainer.train(spec(mnist_root, seed=1))  # the same child, another training
        again = trainer.train(spec(mnist_root))
    alone = pinned_training(spec(mnist_root))  # a child of its own
    assert first == again == alone
    assert (other.loss, other.accuracy) != (first.loss, first.accuracy)
    for name, value in PIN.items():
        assert f"{name}={value}" in first.numeric_path
    assert " isa=" in first.numeric_path


def test_a_failing_pinned_training_names_it_and_the_cause(mnist_root: Path) -> None:
    with PinnedTrainer() as trainer:
        with pytest.raises(PinnedTrainingError, match=r"no-such-model@resize:7 failed") as err:
            trainer.train(spec(mnist_root, model="no-such-model"))
        assert "no-such-model" in str(err.value).splitlines()[-1]  # the child's own message
        assert trainer.train(spec(mnist_root)).accuracy > 0  # a fresh child for the next one


def test_a_child_killed_between_trainings_is_replaced_without_a_failure(mnist_root: Path) -> None:
    with PinnedTrainer() as trainer:
        first = trainer.train(spec(mnist_root))
        assert trainer._child is not None
        pid = trainer._child.pid
        os.kill(pid, signal.SIGKILL)  # from outside, while it waits for the next spec
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # dead, and left for Popen to reap
        assert trainer.train(spec(mnist_root)) == first
