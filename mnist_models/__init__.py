"""mnist-bench's model zoo, data pipeline, trainer and metrics for small MNIST classifiers."""

from .errors import ConfigError, DataError, MnistBenchError, OutputError
from .registry import get_config, get_model, list_models, parse_model_id, register_model, run_id
from .resolution import Resolution, parse_resolution

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "MnistBenchError",
    "OutputError",
    "Resolution",
    "get_config",
    "get_model",
    "list_models",
    "parse_model_id",
    "parse_resolution",
    "register_model",
    "run_id",
]
