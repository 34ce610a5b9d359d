"""The models a project adds to the benchmark suite's gate tier: every model registered from
outside the package (entry points, MNIST_BENCH_MODELS) and the ids listed under
`[tool.mnist-bench] models` in the pyproject.toml of the folder pytest runs in. Each of them
joins every gate-tier lane (counts, latency, instructions, memory, training), so guarding a
new model is: declare it, record its baseline (`make accept`), commit."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError

TABLE = "tool.mnist-bench"


@lru_cache(maxsize=4)
def _declared(pyproject: str) -> tuple[str, ...]:
    path = Path(pyproject)
    if not path.is_file():
        return ()
    try:
        table = tomllib.loads(path.read_text()).get("tool", {}).get("mnist-bench", {})
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: cannot read [{TABLE}]: {err}") from None
    models = table.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise ConfigError(
            f"{path}: [{TABLE}] models must be a list of model ids, e.g. "
            f'models = ["pytorch-net", "mlp-300x2"]; got {models!r}'
        )
    return tuple(models)


def guarded_models(root: Path | None = None) -> tuple[str, ...]:
    """The extra models of the gate tier, in order, each once; each id checked (a ConfigError
    naming the file for an unknown one)."""
    from .registry import external_models, get_config

    pyproject = (root or Path.cwd()) / "pyproject.toml"
    declared = _declared(str(pyproject.resolve()))
    for model_id in declared:
        try:
            get_config(model_id)
        except ConfigError as err:
            raise ConfigError(f"{pyproject}: [{TABLE}] models: {err}") from None
    return tuple(dict.fromkeys([*external_models(), *declared]))
