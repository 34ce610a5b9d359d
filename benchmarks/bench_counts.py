"""Lane: parameters, MACs, FLOPs and size (exact). The tests of mnist_models.suite.bench_counts,
collected under this file's name (the names of the stored baseline's entries)."""

from mnist_models.suite.bench_counts import *  # noqa: F401, F403
