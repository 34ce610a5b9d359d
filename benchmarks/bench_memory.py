"""Lane: tensor memory of training and inference. The tests of mnist_models.suite.bench_memory,
collected under this file's name (the names of the stored baseline's entries)."""

from mnist_models.suite.bench_memory import *  # noqa: F401, F403
