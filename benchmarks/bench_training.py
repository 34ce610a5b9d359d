"""Lane: training time, accuracy and loss. The tests of mnist_models.suite.bench_training,
collected under this file's name (the names of the stored baseline's entries)."""

from mnist_models.suite.bench_training import *  # noqa: F401, F403
