"""The benchmark suite as pytest modules: a benchmarks folder collects each lane by importing it
(`from mnist_models.suite.bench_memory import *`) and loads the plugin from its conftest.py,
so a project guards its own models with every lane without copying this repository's files."""

import pytest

# the lanes, one module each (their tests, parameters and rules)
LANES = ("counts", "data", "inference", "instructions", "memory", "training")

# the lanes' asserts (analytic counts against the module's) explain themselves when they fail
pytest.register_assert_rewrite(*(f"{__name__}.bench_{lane}" for lane in LANES))
