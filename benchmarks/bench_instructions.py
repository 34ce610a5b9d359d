"""Lane: CPU instructions of forward passes and training steps.
The tests of mnist_models.suite.bench_instructions, collected under this file's name (the names of
the stored baseline's entries)."""

from mnist_models.suite.bench_instructions import *  # noqa: F401, F403
