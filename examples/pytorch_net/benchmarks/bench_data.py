from mnist_models.suite.bench_data import *  # noqa: F401, F403 - the lane, run on this project's grid
