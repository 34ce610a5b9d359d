"""Lane: forward-pass latency. The tests of mnist_models.suite.bench_inference,
collected under this file's name (the names of the stored baseline's entries)."""

from mnist_models.suite.bench_inference import *  # noqa: F401, F403
