"""The part of the benchmark grid a project owns, from `[tool.mnist-bench]` in the
pyproject.toml of the folder pytest runs in:

    [tool.mnist-bench]
    models = ["pytorch-net"]         # ids that join every gate-tier lane (default: none)
    resolutions = ["28", "crop:20"]  # where the project's models run (default: ["28"])
    zoo = false                      # run the package's own grid too (default: true)

Every model registered from outside the package (entry points, MNIST_BENCH_MODELS) joins as if
listed. So guarding a new model is: declare it, record its baseline (`make accept`), commit."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError

TABLE = "tool.mnist-bench"
KEYS = ("models", "resolutions", "zoo")


@dataclass(frozen=True)
class GridConfig:
    """What `[tool.mnist-bench]` declares, checked."""

    models: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ("28",)
    zoo: bool = True


def _ids(path: Path, table: dict, key: str, example: str) -> tuple[str, ...] | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{path}: [{TABLE}] {key} must be a list of strings, e.g. {example}; "
                          f"got {value!r}")  # fmt: skip
    return tuple(dict.fromkeys(value))


@lru_cache(maxsize=4)
def _declared(pyproject: str) -> GridConfig:
    path = Path(pyproject)
    if not path.is_file():
        return GridConfig()
    try:
        table = tomllib.loads(path.read_text()).get("tool", {}).get("mnist-bench", {})
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: cannot read [{TABLE}]: {err}") from None
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ConfigError(f"{path}: [{TABLE}] has no key {unknown[0]!r}; the keys are "
                          f"{', '.join(KEYS)}")  # fmt: skip
    zoo = table.get("zoo", True)
    if not isinstance(zoo, bool):
        raise ConfigError(f"{path}: [{TABLE}] zoo must be true or false, got {zoo!r}")
    models = _ids(path, table, "models", 'models = ["pytorch-net", "mlp-300x2"]')
    resolutions = _ids(path, table, "resolutions", 'resolutions = ["28", "resize:14"]')
    if resolutions == ():
        raise ConfigError(f"{path}: [{TABLE}] resolutions is empty; leave it out for 28x28")
    return GridConfig(models or (), resolutions or ("28",), zoo)


def grid_config(root: Path | None = None) -> GridConfig:
    """The project's grid: its models (declared, then registered from outside the package),
    each id and resolution checked (a ConfigError naming the file for a bad one)."""
    from .registry import external_models, get_config
    from .resolution import parse_resolution

    pyproject = (root or Path.cwd()) / "pyproject.toml"
    declared = _declared(str(pyproject.resolve()))
    for res in declared.resolutions:
        try:
            parse_resolution(res)
        except ConfigError as err:
            raise ConfigError(f"{pyproject}: [{TABLE}] resolutions: {err}") from None
    models = tuple(dict.fromkeys([*external_models(), *declared.models]))
    for model_id in models:
        for res in (None, *declared.resolutions):  # the id itself, then each resolution
            try:
                get_config(model_id, res)
            except ConfigError as err:
                named = res is None or str(err).startswith(model_id)  # it says where already
                where = "" if named else f"{model_id} at {res}: "
                raise ConfigError(f"{pyproject}: [{TABLE}] models: {where}{err}") from None
    return GridConfig(models, declared.resolutions, declared.zoo)


def guarded_models(root: Path | None = None) -> tuple[str, ...]:
    """The project's models of the gate tier, in order, each once."""
    return grid_config(root).models
