"""This repository's benchmark suite: the package's suite plugin (tiers, device, instruction
worker, fixtures); CUDA's baselines apart (its pytest_gate_storage)."""

from mnist_models.suite.plugin import *  # noqa: F401, F403
