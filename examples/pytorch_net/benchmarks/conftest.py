"""mnist-bench's suite plugin: tiers, device, the instruction worker, fixtures, markers."""

from mnist_models.suite.plugin import *  # noqa: F401, F403
