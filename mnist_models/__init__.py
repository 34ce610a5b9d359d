"""mnist-bench's model zoo, data pipeline, trainer and metrics for small MNIST classifiers.

Names are imported lazily, so `import mnist_models.atomic` (or the CLI's --help) does not pay
for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ConfigError": "errors",
    "DataError": "errors",
    "MnistBenchError": "errors",
    "OutputError": "errors",
    "Resolution": "zoo.resolution",
    "parse_resolution": "zoo.resolution",
    "get_config": "zoo.registry",
    "get_model": "zoo.registry",
    "list_models": "zoo.registry",
    "parse_model_id": "zoo.registry",
    "register_model": "zoo.registry",
    "register_module": "zoo.registry",
    "model_origin": "zoo.registry",
    "run_id": "zoo.registry",
    "TrainConfig": "measure.train",
    "train": "measure.train",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'mnist_models' has no attribute {name!r}")
