"""Model families: one class per family, configured by a frozen dataclass."""

from .convnet import LAYOUTS, ConvNet, ConvNetConfig, ConvStage
from .mlp import MLP, MLPConfig

__all__ = ["LAYOUTS", "MLP", "ConvNet", "ConvNetConfig", "ConvStage", "MLPConfig"]
