"""`mnist-models init`: what it writes into a user's repository, and what it refuses to touch.
In-process, on small repositories under tmp_path; the whole path from an empty folder to a
failing gate is tests/test_lanes.py (the user's repository)."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnist_models.cli.init import LANES
from mnist_models.zoo import registry

NET = """\
from torch import nn


def make(outputs=10, input_size=28):
    return nn.Sequential(nn.Flatten(), nn.Linear(input_size**2, 16), nn.BatchNorm1d(16), nn.ReLU(),
                         nn.Dropout(0.1), nn.Linear(16, outputs))


def five():
    return make(5)
"""
OWN_PYPROJECT = '[project]\nname = "theirs"\nversion = "1.0"\n\n[tool.ruff]\nline-length = 99\n'


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A user's repository holding the package `tinynet`; the registry is this test's own."""
    monkeypatch.setattr(registry, "_NAMED", dict(registry._NAMED))
    monkeypatch.setattr(registry, "_ORIGIN", dict(registry._ORIGIN))
    monkeypatch.setattr(registry, "_entry_points_loaded", True)
    (tmp_path / "tinynet").mkdir()
    (tmp_path / "tinynet" / "__init__.py").write_text(NET)
    yield tmp_path
    sys.modules.pop("tinynet", None)


def written(repo: Path) -> list[str]:
    return sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if "tinynet" not in p.parts)


def test_init_writes_the_settings_the_lanes_and_the_entry_point(cli, repo: Path) -> None:
    args = ["--model", "tiny=tinynet:make", "--guard", "mlp-32", "--resolution", "28"]
    code, out, err = cli("init", "--dir", str(repo), *args, "--resolution", "crop:20")
    assert code == 0, err
    bench = [f"benchmarks/bench_{lane}.py" for lane in LANES]
    assert written(repo) == sorted(
        ["benchmarks", "benchmarks/conftest.py", *bench, "pyproject.toml"]
    )
    assert (
        "from mnist_models.suite.plugin import *" in (repo / "benchmarks/conftest.py").read_text()
    )
    assert (
        "mnist_models.suite.bench_memory import *"
        in (repo / "benchmarks/bench_memory.py").read_text()
    )
    toml = tomllib.loads((repo / "pyproject.toml").read_text())
    assert toml["project"]["entry-points"]["mnist_bench.models"] == {"tiny": "tinynet:make"}
    assert toml["tool"]["setuptools"]["packages"] == ["tinynet"]
    assert toml["tool"]["mnist-bench"] == {
        "models": ["tiny", "mlp-32"], "resolutions": ["28", "crop:20"], "zoo": False
    }  # fmt: skip
    ini = toml["tool"]["pytest"]["ini_options"]
    assert ini["gate_storage"] == "benchmarks/baselines"
    assert "bench_*.py" in ini["python_files"]
    # the three commands that follow, in order
    lines = [line.split("#")[0].strip() for line in out.splitlines() if "#" in line]
    assert lines == [
        "pip install -e .",
        "pytest benchmarks --gate-accept",
        "pytest benchmarks --benchmark-compare",
    ]


def test_init_appends_its_tables_to_a_users_pyproject(cli, repo: Path) -> None:
    (repo / "pyproject.toml").write_text(OWN_PYPROJECT)
    code, _, err = cli("init", "--dir", str(repo), "--model", "tiny=tinynet:make")
    assert code == 0, err
    text = (repo / "pyproject.toml").read_text()
    assert text.startswith(OWN_PYPROJECT)  # every line of theirs kept, in place
    toml = tomllib.loads(text)
    assert toml["tool"]["ruff"] == {"line-length": 99}
    assert toml["project"]["entry-points"]["mnist_bench.models"] == {"tiny": "tinynet:make"}
    assert "setuptools" not in toml["tool"]  # their packaging is theirs


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ({"benchmarks/conftest.py": "# theirs\n"}, [], "benchmarks/conftest.py exists"),
        ({"pyproject.toml": "[tool.black]\n"}, [], "has no [project] table"),
        ({"pyproject.toml": OWN_PYPROJECT + "[tool.mnist-bench]\nzoo = false\n"}, [],
         "has [tool.mnist-bench] already"),
        ({"pyproject.toml": "[project\n"}, [], "not valid TOML"),
        ({"pyproject.toml": 'project = {name = "x", version = "1"}\n'}, [],
         "cannot be appended as they are written there"),
        ({}, ["--model", "tiny=tinynet"], "give NAME=package.module:factory"),
        ({}, ["--model", "lenet5=tinynet:make"], "already the model of the package"),
        ({}, ["--model", "tiny=tinynet:missing"], "does not load"),
        ({}, ["--model", "tiny=tinynet:five"], "need (batch, 10) logits"),
        ({}, ["--model", "tiny=tinynet:make", "--resolution", "crop:40"], "crop"),
        ({}, ["--guard", "mlp-0"], "mlp-0"),
    ],
    ids=["own-conftest", "no-project", "own-grid", "bad-toml", "inline-project",
         "bad-declaration", "zoo-name", "no-factory", "five-outputs", "bad-resolution", "bad-id"],
)  # fmt: skip
def test_init_refuses_before_writing_anything(
    cli, repo: Path, setup: dict[str, str], args: list[str], message: str
) -> None:
    for name, text in setup.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    code, out, err = cli("init", "--dir", str(repo), *(args or ["--model", "tiny=tinynet:make"]))
    assert code == 2, out + err
    assert message in err, err
    assert "Traceback" not in err
    after = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    assert after == before  # nothing written, nothing changed
    assert not (repo / "benchmarks").exists() or "benchmarks/conftest.py" in setup


def test_init_needs_a_model(cli, repo: Path) -> None:
    code, _, err = cli("init", "--dir", str(repo))
    assert code == 2 and "--model NAME=module:factory" in err, err


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("pytest.ini", "[pytest]\naddopts = -q\n", "pytest.ini [pytest]"),
        ("tox.ini", "[tox]\n[pytest]\naddopts = -q\n", "tox.ini [pytest]"),
        ("setup.cfg", "[tool:pytest]\naddopts = -q\n", "setup.cfg [tool:pytest]"),
        ("pyproject.toml", OWN_PYPROJECT + "[tool.pytest.ini_options]\naddopts = '-q'\n",
         "pyproject.toml [tool.pytest.ini_options]"),
    ],
)  # fmt: skip
def test_pytest_settings_kept_elsewhere_stay_there_and_init_says_what_to_add(
    cli, repo: Path, name: str, text: str, where: str
) -> None:
    """pytest reads one file: settings written into pyproject.toml would replace a user's
    pytest.ini, tox.ini or setup.cfg; init leaves them alone and prints the lines to add."""
    (repo / name).write_text(text)
    if name != "pyproject.toml":
        (repo / "pyproject.toml").write_text(OWN_PYPROJECT)
    code, out, err = cli("init", "--dir", str(repo), "--model", "tiny=tinynet:make")
    assert code == 0, err
    assert (repo / name).read_text().startswith(text.split("\n[tool.pytest")[0])  # theirs, kept
    assert f"add to {repo / name.split()[0]} {where.split(' ', 1)[1]}" in out, out
    assert "gate_storage" in out.split("add to", 1)[1]
    toml = tomllib.loads((repo / "pyproject.toml").read_text())
    assert toml["tool"]["mnist-bench"]["models"] == ["tiny"]
    pytest_table = toml["tool"].get("pytest", {}).get("ini_options", {})
    assert "gate_storage" not in pytest_table  # their pytest table, or none, unchanged
    assert (repo / "benchmarks" / "conftest.py").is_file()
