"""The one model registry: readable ids -> frozen configs -> modules.

Id grammar (resolution is separate, see resolution.py):
  mlp-1024            one hidden layer of 1024
  mlp-512x3           three hidden layers of 512
  mlp-512-256-120-84  explicit hidden widths
  lenet5, lenet5-32, cnn7, cnn9, cnn11, cnn13          named conv layouts
  cnn9-6-20           feature maps: first stage 6, later stages 20 (or one number per stage)
  ...:tanh, ...:sigmoid, ...:avg                        modifiers (activation, pooling)
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .models.convnet import LAYOUTS, ConvNetConfig
from .models.mlp import MLPConfig, mlp_id
from .models.module import ModuleConfig
from .resolution import Resolution, parse_resolution

ModelConfig = MLPConfig | ConvNetConfig | ModuleConfig

_NAMED: dict[str, Callable[[], ModelConfig]] = {}
_ORIGIN: dict[str, str] = {}
# Users' models: `[project.entry-points."mnist_bench.models"]` in their pyproject.toml, each
# `name = "package.module:factory"` (any callable returning an nn.Module), read on first use.
ENTRY_POINT_GROUP = "mnist_bench.models"
ENV_MODELS = "MNIST_BENCH_MODELS"
_NAME = re.compile(r"[a-z][a-z0-9_.-]*")
_entry_points_loaded = False
_MODIFIERS = {
    "relu": ("activation", "relu"),
    "tanh": ("activation", "tanh"),
    "sigmoid": ("activation", "sigmoid"),
    "max": ("pooling", "max"),
    "avg": ("pooling", "avg"),
}
_GRAMMAR = (
    "mlp-W, mlp-WxD, mlp-W1-W2-..., lenet5, lenet5-32, cnn7, cnn9, cnn11, cnn13, "
    "cnnN-F1-F2, optionally followed by :tanh, :sigmoid, :avg"
)


def register_model(name: str) -> Callable[[Callable[[], ModelConfig]], Callable[[], ModelConfig]]:
    """Register a named variant: a zero-argument function returning its config."""

    def wrap(fn: Callable[[], ModelConfig]) -> Callable[[], ModelConfig]:
        if name in _NAMED:
            raise ValueError(f"model {name!r} is already registered")
        _NAMED[name] = fn
        return fn

    return wrap


def register_module(
    name: str,
    factory: Callable[..., nn.Module],
    *,
    params: int | None = None,
    macs: int | None = None,
    origin: str = "",
) -> None:
    """Register any `nn.Module` factory under `name` (lowercase): its parameters, MACs and
    per-layer shapes are measured from the module; `params`/`macs`, when given, are checked
    against the measured ones. A factory with an `input_size` parameter runs at every
    resolution, one without at 28x28 only."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"model name must be lowercase letters, digits, '-', '_' or '.', starting with a "
            f"letter, got {name!r}"
        )
    if name.startswith("mlp-") or _parse_conv(name) is not None:
        raise ConfigError(f"model name {name!r} is an id of the package's grammar; choose another")
    where = origin or getattr(factory, "__module__", "") or "register_module"

    def config() -> ModuleConfig:
        return ModuleConfig(name, factory, declared_params=params, declared_macs=macs, origin=where)

    register_model(name)(config)
    _ORIGIN[name] = where


def _load_factory(value: str, where: str, fix: str) -> Callable[..., nn.Module]:
    """`package.module:attribute` imported; a ConfigError naming `where` and `fix` if not."""
    from importlib import import_module

    module, sep, attr = value.strip().partition(":")
    if not sep or not module or not attr:
        raise ConfigError(f"{where}: {value!r} is not of the form package.module:factory; {fix}")
    try:
        obj: Any = import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as err:
        raise ConfigError(
            f"{where}: {value!r} does not load: {type(err).__name__}: {err}; {fix}"
        ) from None
    return obj


def _load_entry_points() -> None:
    """Register, once, the models declared outside the package: the installed distributions'
    entry points (ENTRY_POINT_GROUP) and ENV_MODELS (`name=package.module:factory,...`, which
    the workers of the instruction lane and of `compare` inherit)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _NAMED:
            continue  # registered already (the same distribution seen twice on sys.path)
        factory = _load_factory(
            ep.value,
            f"entry point {ep.name} = {ep.value!r} ({ENTRY_POINT_GROUP})",
            "fix it or uninstall the distribution that declares it",
        )
        register_module(ep.name, factory, origin=f"entry point {ep.value}")
    for item in filter(None, (x.strip() for x in os.environ.get(ENV_MODELS, "").split(","))):
        name, sep, value = item.partition("=")
        where = f"{ENV_MODELS} entry {item!r}"
        if not sep:
            raise ConfigError(f"{where}: give name=package.module:factory")
        name = name.strip()
        if name in _NAMED:
            if _ORIGIN.get(name, "").rpartition(" ")[2] == value.strip():
                continue  # the same factory declared twice (an entry point and the variable)
            raise ConfigError(
                f"{where}: the name {name!r} is already the model of "
                f"{_ORIGIN.get(name, 'the package (mnist-models list)')}; choose another name"
            )
        factory = _load_factory(value, where, "fix the variable (the module must be importable)")
        try:
            register_module(name, factory, origin=f"{ENV_MODELS} {value.strip()}")
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None


def external_models() -> list[str]:
    """The named models registered from outside the package (entry points, ENV_MODELS,
    register_module): the suite's gate tier guards each of them (suite/grid.py)."""
    _load_entry_points()
    return list(_ORIGIN)


def list_models() -> list[str]:
    """Named variants, in registration order (any id of the grammar is accepted by get_model),
    with the installed distributions' models (entry points) after the package's own."""
    _load_entry_points()
    return list(_NAMED)


def model_origin(name: str) -> str:
    """Where a named model comes from: `mnist_models` for the package's own."""
    _load_entry_points()
    return _ORIGIN.get(name, "mnist_models")


def _parse_mlp(body: str) -> MLPConfig:
    if m := re.fullmatch(r"(\d+)x(\d+)", body):
        return MLPConfig(hidden=(int(m[1]),) * int(m[2]))
    if re.fullmatch(r"\d+(-\d+)*", body):
        return MLPConfig(hidden=tuple(int(w) for w in body.split("-")))
    raise ConfigError(f"bad MLP id 'mlp-{body}'; use mlp-W, mlp-WxD or mlp-W1-W2-... (W >= 1)")


def _parse_conv(base: str) -> ConvNetConfig | None:
    for name in sorted(LAYOUTS, key=len, reverse=True):
        if base == name or base.startswith(name + "-"):
            layout = LAYOUTS[name]
            rest = base[len(name) + 1 :]
            fm = layout.default_feature_maps()
            if rest:
                if not re.fullmatch(r"\d+(-\d+)*", rest):
                    return None
                nums = tuple(int(n) for n in rest.split("-"))
                n_stages = len(layout.kernels)
                if len(nums) == 2:
                    fm = (nums[0],) + (nums[1],) * (n_stages - 1)
                elif len(nums) == n_stages:
                    fm = nums
                else:
                    raise ConfigError(
                        f"{name} takes 2 feature-map numbers (first stage, later stages) or "
                        f"{n_stages} (one per stage), got {len(nums)} in {base!r}"
                    )
            return ConvNetConfig(stages=layout.stages(fm), input_size=layout.native.size, name=name)
    return None


def parse_model_id(model_id: str) -> ModelConfig:
    """Turn an id of the grammar into its config at the model's native input size."""
    if not isinstance(model_id, str) or not model_id.strip():
        raise ConfigError(f"model id must be a non-empty string, got {model_id!r}")
    base, *mods = model_id.strip().lower().split(":")
    _load_entry_points()  # first: a declaration that reuses a zoo id is refused, never ignored
    if base in _NAMED:
        config: ModelConfig | None = _NAMED[base]()
    elif base.startswith("mlp-"):
        config = _parse_mlp(base[4:])
    else:
        config = _parse_conv(base)
    if config is None:
        raise ConfigError(
            f"unknown model {model_id!r}; use one of {_GRAMMAR} "
            "(`mnist-models list` shows the named ones)"
        )
    chosen: dict[str, str] = {}
    for mod in mods:
        if mod not in _MODIFIERS:
            raise ConfigError(
                f"unknown modifier ':{mod}' in {model_id!r}; use :{', :'.join(_MODIFIERS)}"
            )
        field, value = _MODIFIERS[mod]
        if field in chosen:
            raise ConfigError(
                f"conflicting modifiers ':{chosen[field]}' and ':{mod}' in {model_id!r}: give one "
                f"{field}"
            )
        chosen[field] = mod
        if not hasattr(config, field):
            raise ConfigError(f"modifier ':{mod}' does not apply to {base!r} (it has no {field})")
        config = dataclasses.replace(config, **{field: value})
    return config


def get_config(
    model_id: str, resolution: str | Resolution | None = None
) -> tuple[ModelConfig, Resolution]:
    """Config sized for `resolution` (the model's native one when None), and that resolution."""
    config = parse_model_id(model_id)
    res = config.native_resolution if resolution is None else parse_resolution(resolution)
    if res.size != config.input_size:
        try:
            config = dataclasses.replace(config, input_size=res.size)
        except ConfigError as err:
            raise ConfigError(f"{config.id} at resolution {res.id}: {err}") from None
    return config, res


def get_model(
    model_id: str, resolution: str | Resolution | None = None, *, seed: int | None = 0
) -> nn.Module:
    """Build the module for an id; weights are initialised from `seed` (None: global RNG)."""
    config, _ = get_config(model_id, resolution)
    return build_model(config, seed=seed)


def build_model(config: ModelConfig, *, seed: int | None = 0) -> nn.Module:
    """Build the module of a parsed config (get_config), weights from `seed`: a caller that
    has the config builds without parsing the id again."""
    from .memory_check import require_memory

    require_memory(4 * config.params, f"the weights of {config.id} ({config.params:,} parameters)")
    if seed is None:
        return config.build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return config.build()


def run_id(config: ModelConfig, resolution: Resolution) -> str:
    """Id of a model at a resolution: pytest ids, cache keys, baseline names, report rows."""
    return f"{config.id}@{resolution.id}"


# Named variants: the study's reference models and a tiny one for fast tests.
for _width, _depth in ((16, 1), (128, 1), (512, 1), (1024, 1), (512, 3), (1024, 2)):
    register_model(mlp_id(_width, _depth))(lambda w=_width, d=_depth: MLPConfig(hidden=(w,) * d))
for _layout in LAYOUTS:
    register_model(_layout)(lambda name=_layout: _parse_conv(name))
