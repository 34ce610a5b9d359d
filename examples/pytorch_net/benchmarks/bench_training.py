from mnist_models.suite.bench_training import *  # noqa: F401, F403 - the lane, run on this project's grid
