"""`mnist-models init`: set a user's repository up for the gates, as examples/pytorch_net is.

Writes the pytest settings and `[tool.mnist-bench]` into pyproject.toml (created, or the tables
appended), the model's entry point where `--model` names one, and `benchmarks/` with the
conftest and a line per lane. It refuses to overwrite anything a user wrote and checks every
declared model (it imports and measures it) before it writes a file.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_text_atomic
from ..errors import ConfigError
from .args import Parser

LANES = ("counts", "data", "inference", "instructions", "memory", "training")
ENTRY_POINT_TABLE = '[project.entry-points."mnist_bench.models"]'
PYTEST_SETTINGS = """\
[tool.pytest.ini_options]
addopts = "--strict-markers -ra"
python_files = ["test_*.py", "bench_*.py"]  # bench_*.py: the lanes under benchmarks/
gate_storage = "benchmarks/baselines"       # the committed baselines (opts the gates in)
gate_baseline_command = "pytest benchmarks --gate-accept"
gate_accept_command = "pytest '{nodeid}' --gate-accept"
"""
CONFTEST = '''\
"""mnist-bench's suite plugin: tiers, device, the instruction worker, fixtures, markers."""

from mnist_models.suite.plugin import *  # noqa: F401, F403
'''
LANE = """\
from mnist_models.suite.bench_{lane} import *  # noqa: F401, F403 - the lane, on this project's grid
"""


@dataclass(frozen=True)
class Declared:
    """One `--model NAME=module:factory`."""

    name: str
    target: str

    @property
    def top(self) -> str:
        """The top-level package or module the factory lives in."""
        return self.target.partition(":")[0].split(".")[0]


def add_parser(sub: argparse._SubParsersAction, common: Parser) -> None:
    """Register the command and its options."""
    p = sub.add_parser(
        "init",
        help="set a repository up for the gates: pytest settings, benchmarks/, your model",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--model", action="append", default=[], metavar="NAME=module:factory",
        help="a model of this repository (any callable returning an nn.Module); repeatable",
    )  # fmt: skip
    p.add_argument(
        "--guard", action="append", default=[], metavar="ID",
        help="a model id to guard besides the declared ones, e.g. mlp-300x2 (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--resolution", action="append", default=[], metavar="RES",
        help="where the models run: 28, resize:N, crop:N, pad:N (repeatable; default 28)",
    )  # fmt: skip
    p.add_argument("--dir", type=Path, default=Path("."), help="the repository (default: here)")
    p.set_defaults(func=command)


def _declared(values: list[str]) -> list[Declared]:
    out = []
    for value in values:
        name, sep, target = value.partition("=")
        module, colon, attr = target.partition(":")
        if not sep or not colon or not name.strip() or not module.strip() or not attr.strip():
            raise ConfigError(
                f"--model {value!r}: give NAME=package.module:factory, e.g. "
                "--model mynet=mypkg.models:Net"
            )
        out.append(Declared(name.strip(), target.strip()))
    return out


def _check_models(root: Path, declared: list[Declared], ids: list[str], res: list[str]) -> None:
    """Import, register and measure every model at every resolution: a bad one is refused
    (with the registry's one-line reason) before any file is written."""
    from ..zoo.registry import _load_factory, get_config, list_models, register_module
    from ..zoo.resolution import parse_resolution

    for r in res:
        parse_resolution(r)
    sys.path.insert(0, str(root))
    try:
        known = set(list_models())
        for d in declared:
            if d.name in known:
                raise ConfigError(
                    f"--model {d.name}: the name is already the model of "
                    f"{_origin(d.name)}; choose another name"
                )
            fix = f"--model {d.name}=... must import from {root} (is the module there?)"
            register_module(d.name, _load_factory(d.target, f"--model {d.name}", fix))
            known.add(d.name)
        for model in [d.name for d in declared] + ids:
            for r in res:
                try:
                    get_config(model, r)[0].layers()  # built, run once, its output checked
                except ConfigError as err:
                    flag = "--model" if model in {d.name for d in declared} else "--guard"
                    where = "" if str(err).startswith(("model", model)) else f"{flag} {model}: "
                    raise ConfigError(f"{where}{err}") from None
    finally:
        sys.path.remove(str(root))


def _origin(name: str) -> str:
    from ..zoo.registry import model_origin

    origin = model_origin(name)
    return "the package (mnist-models list)" if origin == "mnist_models" else origin


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _grid_table(models: list[str], res: list[str]) -> str:
    return (
        "[tool.mnist-bench]\n"
        f"models = {_toml_list(models)}  # each joins every gate-tier lane\n"
        f"resolutions = {_toml_list(res)}\n"
        "zoo = false  # the package's own models are not this project's to guard\n"
    )


def _package_settings(root: Path, declared: list[Declared]) -> str:
    """[build-system], [project] and the packages to install, for a repository without a
    pyproject.toml: `pip install -e .` then registers the models' entry points."""
    packages, modules = [], []
    for top in dict.fromkeys(d.top for d in declared):
        if (root / top).is_dir():
            packages.append(top)
        elif (root / f"{top}.py").is_file():
            modules.append(top)
        else:
            raise ConfigError(
                f"--model: {top!r} is neither a folder nor a {top}.py in {root}; run init in "
                "the repository that holds it"
            )
    name = "".join(c if c.isalnum() else "-" for c in root.resolve().name.lower()).strip("-")
    text = (
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name or "models"}"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["torch"]\n\n[tool.setuptools]\n'
    )
    if packages:
        text += f"packages = {_toml_list(packages)}\n"
    if modules:
        text += f"py-modules = {_toml_list(modules)}\n"
    return text


INI_SETTINGS = """\
python_files = test_*.py bench_*.py
gate_storage = benchmarks/baselines
gate_baseline_command = pytest benchmarks --gate-accept
gate_accept_command = pytest '{nodeid}' --gate-accept
"""


def pytest_home(root: Path, table: dict) -> str:
    """Where this repository keeps its pytest settings already ("" where it keeps none): init
    then leaves them alone and says what to add there."""
    for name, section in (("pytest.ini", ""), (".pytest.ini", ""), ("tox.ini", "[pytest]"),
                          ("setup.cfg", "[tool:pytest]")):  # fmt: skip
        path = root / name
        if path.is_file() and (not section or section in path.read_text(errors="replace")):
            return f"{path} {section or '[pytest]'}"
    return (
        f"{root / 'pyproject.toml'} [tool.pytest.ini_options]"
        if "pytest" in table.get("tool", {})
        else ""
    )


def plan(
    root: Path, declared: list[Declared], ids: list[str], res: list[str]
) -> tuple[dict[Path, str], str]:
    """Every file init writes and its whole new text, and what the user adds by hand (the
    pytest settings, where they are kept elsewhere already); a ConfigError, before anything
    is written, where it would overwrite a user's file or setting."""
    files: dict[Path, str] = {}
    bench = root / "benchmarks"
    for path in [bench / "conftest.py", *(bench / f"bench_{lane}.py" for lane in LANES)]:
        if path.exists():
            raise ConfigError(f"{path} exists: init writes no file over yours; move it away")
        lane = path.stem.removeprefix("bench_")
        files[path] = CONFTEST if path.name == "conftest.py" else LANE.format(lane=lane)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text() if pyproject.is_file() else ""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{pyproject}: not valid TOML ({err}); fix it first") from None
    if "mnist-bench" in table.get("tool", {}):
        raise ConfigError(
            f"{pyproject} has [tool.mnist-bench] already: this repository is set up (edit the "
            "table to change its grid)"
        )
    home = pytest_home(root, table)
    by_hand = ""
    if home:
        lines = (
            INI_SETTINGS
            if not home.endswith("[tool.pytest.ini_options]")
            else "".join(line + "\n" for line in PYTEST_SETTINGS.splitlines()[2:])
        )
        by_hand = f"add to {home} (bench_*.py beside your own python_files):\n{lines}"
    entry_points = table.get("project", {}).get("entry-points", {}).get("mnist_bench.models", {})
    if declared and text and "project" not in table:
        raise ConfigError(
            f"{pyproject} has no [project] table, so `pip install -e .` cannot register "
            f"--model {declared[0].name}: declare it in your packaging (entry point group "
            "mnist_bench.models) or with MNIST_BENCH_MODELS, and run init with --guard NAME"
        )
    added = [d for d in declared if entry_points.get(d.name) != d.target]
    if any(d.name in entry_points for d in added):
        d = next(d for d in added if d.name in entry_points)
        raise ConfigError(
            f"{pyproject}: the entry point {d.name} is {entry_points[d.name]!r} already, not "
            f"{d.target!r}; change it there or choose another name"
        )
    parts = [text.rstrip("\n") + "\n"] if text.strip() else []
    if declared and not text.strip():
        parts.append(_package_settings(root, declared))
    if added:
        if entry_points:
            raise ConfigError(
                f"{pyproject} declares mnist_bench.models entry points already; add "
                + ", ".join(f'{d.name} = "{d.target}"' for d in added)
                + " there yourself, and run init with --guard NAME"
            )
        lines = "".join(f'{d.name} = "{d.target}"\n' for d in added)
        parts.append(f"# mnist-bench finds the models here once installed (pip install -e .)\n"
                     f"{ENTRY_POINT_TABLE}\n{lines}")  # fmt: skip
    models = list(dict.fromkeys([d.name for d in declared] + ids))
    parts += [_grid_table(models, res)] + ([] if home else [PYTEST_SETTINGS])
    files[pyproject] = "\n".join(parts)
    try:  # what it writes is valid TOML, or nothing is written
        tomllib.loads(files[pyproject])
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(
            f"{pyproject}: its tables cannot be appended as they are written there ({err}); "
            f"add these yourself:\n{''.join(parts[1:])}"
        ) from None
    return files, by_hand


def command(args: argparse.Namespace) -> int:
    root = args.dir
    if not root.is_dir():
        raise ConfigError(f"--dir {root}: no such folder")
    declared = _declared(args.model)
    res = list(dict.fromkeys(args.resolution)) or ["28"]
    if not declared and not args.guard:
        raise ConfigError(
            "name the models to guard: --model NAME=module:factory (a model of this "
            "repository) or --guard ID (e.g. mlp-300x2)"
        )
    files, by_hand = plan(root, declared, list(args.guard), res)
    _check_models(root.resolve(), declared, list(args.guard), res)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
        print(f"wrote {path}")
    if by_hand:
        print(f"\nyour pytest settings stay where they are: {by_hand}", end="")
    steps = [("pip install -e .", "registers your models (their entry points)")] if declared else []
    steps += [
        ("pytest benchmarks --gate-accept", "records the baselines: commit benchmarks/"),
        ("pytest benchmarks --benchmark-compare", "the gate: fails where a figure got worse"),
    ]
    width = max(len(cmd) for cmd, _ in steps)
    print("\nNext:\n" + "\n".join(f"  {cmd:<{width}}  # {why}" for cmd, why in steps))
    return 0
