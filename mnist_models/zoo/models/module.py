"""A model given as any `nn.Module` factory, such as a user's own: its per-layer figures are
measured from the module (parameters by `numel`, MACs by torch's FlopCounterMode, output
shapes by forward hooks) where the package's families compute them by formula. A declared
count is checked against the measured one."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from torch import nn

from ...errors import ConfigError
from ..layers import LayerCount
from ..resolution import NATIVE, Resolution
from .common import LayerTotals

NUM_CLASSES = 10  # MNIST's digits: what every lane's loss and accuracy expect


@dataclass(frozen=True)
class ModuleConfig(LayerTotals):
    """A named factory; `input_size` other than 28 only for a factory that takes `input_size=`.
    `origin` says where it was registered (an entry point, a module), for `mnist-models list`."""

    name: str
    factory: Callable[..., nn.Module] = field(repr=False)
    input_size: int = NATIVE
    declared_params: int | None = None
    declared_macs: int | None = None
    origin: str = ""

    def __post_init__(self) -> None:
        if not callable(self.factory):
            raise ConfigError(
                f"model {self.name!r}: the factory must be callable, got "
                f"{type(self.factory).__name__}"
            )
        if self.input_size != NATIVE and not self.sized:
            raise ConfigError(
                f"model {self.name!r} takes {NATIVE}x{NATIVE} input only: its factory has no "
                "input_size parameter (add one to run it at other resolutions)"
            )

    @property
    def sized(self) -> bool:
        """Whether the factory builds the model for another input size (`input_size=`)."""
        try:
            return "input_size" in inspect.signature(self.factory).parameters
        except (TypeError, ValueError):
            return False

    @property
    def id(self) -> str:
        return self.name

    @property
    def native_resolution(self) -> Resolution:
        return Resolution()

    def build(self) -> nn.Module:
        try:
            model = self.factory(input_size=self.input_size) if self.sized else self.factory()
        except Exception as err:  # a user's code: say whose, in one line
            raise ConfigError(
                f"model {self.name!r}: its factory failed: {type(err).__name__}: {err}"
            ) from None
        if not isinstance(model, nn.Module):
            raise ConfigError(
                f"model {self.name!r}: its factory returned {type(model).__name__}, not an "
                "nn.Module"
            )
        return model

    def layers(self) -> list[LayerCount]:
        found = measured_layers(self)
        params, macs = sum(x.params for x in found), sum(x.macs for x in found)
        for what, declared, got in (
            ("parameters", self.declared_params, params),
            ("MACs", self.declared_macs, macs),
        ):
            if declared is not None and declared != got:
                raise ConfigError(
                    f"model {self.name!r}: {declared:,} {what} declared, {got:,} measured "
                    f"from the module at {self.input_size}x{self.input_size}; fix the "
                    "declaration or the model"
                )
        return found


@lru_cache(maxsize=64)
def measured_layers(config: ModuleConfig) -> list[LayerCount]:
    """One forward pass of one sample through a fresh module: each leaf module's own
    parameters, MACs and output shape; parameters held by non-leaf modules as one more row."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = config.build()
    shapes: dict[str, tuple[int, ...]] = {}
    leaves = {n: m for n, m in model.named_modules() if n and not any(m.children())}

    def hook(name: str) -> Callable[..., None]:
        def record(_module: nn.Module, _inputs: object, output: object) -> None:
            if isinstance(output, torch.Tensor):
                shapes[name] = tuple(output.shape[1:])

        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in leaves.items()]
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(
            f"model {config.name!r} has no trainable parameters: the lanes train it and gate "
            "its size; give it at least one layer with weights"
        )
    counter = FlopCounterMode(display=False)
    size = config.input_size
    try:
        with counter, torch.no_grad():
            out = model.eval()(torch.zeros(1, 1, size, size))
    except Exception as err:
        raise ConfigError(
            f"model {config.name!r}: a forward pass of a 1x{config.input_size}x"
            f"{config.input_size} input failed: {type(err).__name__}: {err}"
        ) from None
    finally:
        for handle in handles:
            handle.remove()
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != (1, NUM_CLASSES):
        raise ConfigError(
            f"model {config.name!r}: a (1, 1, {size}, {size}) input gave an output of shape "
            f"{shape}; the lanes need (batch, {NUM_CLASSES}) logits, one per digit (end the "
            f"model with a layer of {NUM_CLASSES} outputs)"
        )
    # keys are "<RootClass>.<module path>"; the root's own entry holds everything
    per_leaf = {
        key.partition(".")[2]: sum(ops.values()) // 2
        for key, ops in counter.get_flop_counts().items()
    }
    total = counter.get_total_flops() // 2
    rows = []
    for name, module in leaves.items():  # by full path: a layer nested in a Sequential too
        own = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(
            LayerCount(
                name,
                type(module).__name__.lower(),
                own,
                per_leaf.get(name, 0),
                shapes.get(name, (0,)),
            )
        )
    rest = sum(p.numel() for p in model.parameters()) - sum(r.params for r in rows)
    if rest:
        rows.append(LayerCount("(held by containers)", "parameters", rest, 0, (0,)))
    unassigned = total - sum(r.macs for r in rows)
    if unassigned:  # operations outside leaf modules (a matmul in forward itself)
        rows.append(LayerCount("(in forward)", "ops", 0, unassigned, (0,)))
    return rows
