"""The benchmark grid: one factor at a time around a default, as the studies did, plus a small
combined grid. Cases are (model id, resolution) pairs named by their run id."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .. import get_config, run_id
from ..errors import ConfigError
from ..zoo import REPRESENTATIVE_MODELS
from ..zoo.factors import (  # noqa: F401 - the grid's factors, re-exported
    ACTIVATIONS,
    BATCH_SIZES,
    CNN_FIRST,
    CNN_LATER,
    DEPTHS,
    POOLINGS,
    RESOLUTIONS,
    WIDTHS,
)
from ..zoo.grid_config import grid_config
from ..zoo.models.mlp import mlp_id
from ..zoo.registry import ModelConfig
from ..zoo.resolution import Resolution

DEFAULT_MLP = "mlp-1024"
DEPTH_WIDTH = 512


@dataclass(frozen=True)
class Case:
    model: str
    resolution: str | None = None

    @cached_property
    def resolved(self) -> tuple[ModelConfig, Resolution]:
        return get_config(self.model, self.resolution)

    @property
    def config(self) -> ModelConfig:
        return self.resolved[0]

    @property
    def res(self) -> Resolution:
        return self.resolved[1]

    @property
    def id(self) -> str:
        return run_id(*self.resolved)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (1, self.res.size, self.res.size)


def _unique(cases: list[Case]) -> list[Case]:
    seen: dict[str, Case] = {}
    for case in cases:
        seen.setdefault(case.id, case)
    return list(seen.values())


def architecture_cases() -> list[Case]:
    """Every architecture and resolution of the grid, each once."""
    project = grid_config()
    cases = [Case(m, r) for m in project.models for r in project.resolutions]
    if not project.zoo:  # [tool.mnist-bench] zoo = false: the project's models only
        return _unique(cases)
    cases += [Case(mlp_id(w)) for w in WIDTHS]
    cases += [Case(mlp_id(DEPTH_WIDTH, d)) for d in DEPTHS]
    cases += [Case(DEFAULT_MLP, r) for r in RESOLUTIONS]
    cases += [
        Case(mlp_id(w, d), r)
        for r in ("28", "resize:14", "crop:14")
        for d in (1, 4)
        for w in (128, 1024)
    ]
    cases += [
        Case(f"{net}:{act}:{pool}")
        for net in ("lenet5", "lenet5-32")
        for act in ACTIVATIONS
        for pool in POOLINGS
    ]
    cases += [
        Case(f"cnn{n}-{first}-{later}")
        for n in (7, 9, 11, 13)
        for first in CNN_FIRST
        for later in CNN_LATER
    ]
    return _unique(cases)


# The gate tier trains this representative set and the project's own models at each of their
# resolutions (2 epochs, batch 64); the full tier all the grid.
BATCH_SIZE_TRAINING = 64


def gate_training() -> tuple[str, ...]:
    """The run ids the gate tier trains."""
    project = grid_config()
    zoo = [run_id(*get_config(m)) for m in REPRESENTATIVE_MODELS] if project.zoo else []
    own = [run_id(*get_config(m, r)) for m in project.models for r in project.resolutions]
    return tuple(dict.fromkeys([*zoo, *own]))


# Execution modes of the latency benchmarks. torch.compile takes seconds per model and batch
# size, so the gate tier compiles the models the anchor table names; -m full all.
COMPILE_GATE = ("mlp-1024@28", "lenet5@28")


def parse_modes(option: str | None, device: str) -> tuple[str, ...]:
    """The execution modes selected by --exec-mode (None: eager on cpu, every mode on cuda),
    checked against the device."""
    from ..measure.device import MODES, check_mode

    if option is None:
        return MODES if device == "cuda" else ("eager",)
    modes = tuple(dict.fromkeys(m.strip() for m in option.split(",") if m.strip()))
    if not modes:
        raise ConfigError(f"--exec-mode {option!r} names no mode; choose among {', '.join(MODES)}")
    for mode in modes:
        check_mode(mode, device)
    return modes
