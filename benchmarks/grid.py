"""The benchmark grid (mnist_models.suite.grid), for this folder's scripts."""

from mnist_models.suite.grid import *  # noqa: F401, F403
