"""Lane: the data pipeline's tensors at every resolution.
The tests of mnist_models.suite.bench_data, collected under this file's name (the names of
the stored baseline's entries)."""

from mnist_models.suite.bench_data import *  # noqa: F401, F403
