"""The layer rules of the package, checked on every run (an import-linter contract, as a test):
which subpackage may import which, torch kept out of the gates and the reports, relative
imports inside the package (`compare` imports another revision's copy beside this one), and
the gate plugin harmless in a pytest session that does not use it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "mnist_models"

# Each layer and what it may import from the package. Base modules (errors, atomic, labels, table,
# console, fields: the output schema, machine: this machine's kind, the package root) are shared
# by all and import nothing but each other.
BASE = {"errors", "atomic", "labels", "console", "table", "verdicts", "fields", "machine"}
BASE |= {"__init__"}
ALLOWED = {
    "base": {"base"},
    "zoo": {"base", "zoo"},
    "gates": {"base", "gates"},  # the pytest plugin: no torch, no models
    "reporting": {"base", "gates", "reporting"},  # reads saved runs: no torch
    "measure": {"base", "zoo", "gates", "measure"},  # gates: the metrics a measure declares
    "ab": {"base", "zoo", "measure", "gates", "ab"},  # gates: the one engine judges counts
    "studies": {"base", "zoo", "measure", "reporting", "studies"},
    "cli": {"base", "zoo", "measure", "ab", "gates", "reporting", "studies", "cli"},
    # the benchmark suite (pytest modules a benchmarks folder imports): models, measures, gates,
    # and ab for the timed rows it times A/B against the base revision (suite/timed_ab.py)
    "suite": {"base", "zoo", "measure", "gates", "ab", "suite"},
}
TORCH_FREE = ("gates", "reporting")


def layer(module: str) -> str:
    """The layer of a dotted module name inside the package ("mnist_models.zoo.registry")."""
    parts = module.split(".")[1:]
    if not parts or parts[0] in BASE:
        return "base"
    if not (PACKAGE / parts[0]).is_dir() and not (PACKAGE / f"{parts[0]}.py").is_file():
        return "base"  # a name the package root exports, such as __version__
    if parts[0] == "__main__":
        return "cli"
    return parts[0]


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1 and parts[-2] != "mnist_models":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(module: str, path: Path) -> list[tuple[int, str, int]]:
    """(line, imported module, level) of every import in the file, functions included."""
    package = module.split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{a.name}" for a in node.names] if not node.module else []
                # "from . import data" imports a module: judge the module, not the package
                out += [(node.lineno, n, node.level) for n in names] or [
                    (node.lineno, target, node.level)
                ]
            else:
                out.append((node.lineno, node.module or "", 0))
    return out


ALL = modules()


@pytest.mark.parametrize("module", sorted(ALL))
def test_each_module_imports_only_from_the_layers_below(module: str) -> None:
    own = layer(module)
    assert own in ALLOWED, f"{module}: layer {own!r} has no rule; add it to ALLOWED"
    wrong = [
        f"line {line}: {target} ({layer(target)})"
        for line, target, _ in imports(module, ALL[module])
        if target.startswith("mnist_models.") and layer(target) not in ALLOWED[own]
    ]
    assert not wrong, f"{module} ({own}) may import only {sorted(ALLOWED[own])}: {wrong}"


@pytest.mark.parametrize("module", sorted(m for m in ALL if layer(m) in TORCH_FREE))
def test_gates_and_reports_never_import_torch(module: str) -> None:
    found = [
        f"line {line}: {target}"
        for line, target, level in imports(module, ALL[module])
        if level == 0 and target.split(".")[0] in ("torch", "torchvision", "thop")
    ]
    assert not found, f"{module} imports torch: {found}"


def test_importing_the_plugin_and_the_reports_loads_no_torch() -> None:
    names = [m for m in ALL if layer(m) in TORCH_FREE]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert "torch" not in done.stdout.strip().strip("[]").replace("'", "").split(", "), done.stdout


@pytest.mark.parametrize("module", sorted(ALL))
def test_package_modules_import_each_other_relatively(module: str) -> None:
    """`compare` imports another revision's package under another name beside this one: an
    absolute `mnist_models.x` import there would reach this checkout's module instead."""
    absolute = [
        f"line {line}: {target}"
        for line, target, level in imports(module, ALL[module])
        if level == 0 and target.startswith("mnist_models.")
    ]
    assert not absolute, f"{module} imports the package absolutely: {absolute}"


def test_the_layer_table_names_every_subpackage() -> None:
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")} - {"models"}
    assert subpackages <= set(ALLOWED), subpackages - set(ALLOWED)


# --- the plugin in a session that is not ours ---------------------------------------------------

BLOCKER = '''
import sys


class _Missing:
    """pytest-benchmark is not installed here."""

    def find_spec(self, name, path=None, target=None):
        if name == "pytest_benchmark" or name.startswith("pytest_benchmark."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, _Missing())
'''


def _foreign_session(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in another project, without pytest-benchmark, with our plugin loaded as its
    entry point would load it."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_trivial.py").write_text("def test_sum():\n    assert 1 + 1 == 2\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "mnist_models.gates.plugin", "-q", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )


def test_the_plugin_is_harmless_without_pytest_benchmark(tmp_path: Path) -> None:
    done = _foreign_session(tmp_path, "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "mnist-bench gates" not in done.stdout  # nothing to report: no gate used


def test_the_plugin_leaves_another_projects_markers_alone(tmp_path: Path) -> None:
    """-m with a word this project never registered selects nothing (pytest's exit 5); only a
    session that uses the gate fixture gets the unknown-marker usage error."""
    done = _foreign_session(tmp_path, "-p", "no:cacheprovider", "-m", "their_own_marker")
    assert done.returncode == 5, done.stdout + done.stderr
    assert "unknown marker" not in done.stdout + done.stderr


def test_every_package_folder_has_an_init_that_git_keeps() -> None:
    # mnist_models/studies/__init__.py was once ignored by a `studies/` line meant for the output
    # folder: a fresh clone had a namespace folder there, skipped by ruff and by a wheel build
    folders = sorted({p.parent for p in PACKAGE.rglob("*.py")})
    inits = [folder / "__init__.py" for folder in folders]
    assert [p for p in inits if not p.exists()] == []
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: nothing can be ignored")
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *map(str, inits)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert ignored.returncode == 1, f"ignored by git: {ignored.stdout.split()}"


def _defined(name: str) -> list[str]:
    """The modules of the base and of the gates' consumers (gates, reporting, cli) defining
    `name`."""
    found = []
    for module, path in ALL.items():
        if layer(module) not in ("base", "gates", "reporting", "cli"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        if any(
            isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name
            for node in ast.walk(tree)
        ):
            found.append(module)
    return found


def test_one_gate_evaluator_one_record_one_store() -> None:
    """Gate semantics live in the engine alone: one evaluator and one record type (record.py),
    one comparison of two runs, and only the store reads or writes a saved run (every consumer
    goes through them)."""
    assert _defined("evaluate") == ["mnist_models.gates.engine"]
    assert _defined("_verdict") == ["mnist_models.gates.engine"]
    assert _defined("GateRecord") == ["mnist_models.gates.record"]
    assert _defined("compare_runs") == ["mnist_models.gates.engine"]
    assert _defined("markdown_table") == ["mnist_models.table"]
    assert _defined("cpu_model") == ["mnist_models.machine"]
    assert _defined("key_mismatch") == ["mnist_models.gates.engine"]
    for name in ("load_run_file", "find_baseline", "baseline_file", "merge", "median_run"):
        assert _defined(name) == ["mnist_models.gates.store"], name
    assert not (REPO / "benchmarks" / "baseline.py").exists()  # the old second writer


BLOCK_TORCH = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "thop"):
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Block())
from mnist_models.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "argv", [["--help"], ["report", "--help"], ["history", "--help"], "report"]
)
def test_the_parser_and_the_report_tool_start_without_torch(argv) -> None:
    """The README says the report tool loads without torch: building the parser must not
    import it, and neither may comparing two saved runs."""
    baseline = str(REPO / "benchmarks/baselines/Linux-CPython-3.11-64bit/0001_baseline.json")
    args = ["report", baseline, "--against", baseline] if argv == "report" else argv
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH, *args], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def _spelled_fields(tree: ast.AST, anywhere: set[str], as_key: set[str]) -> list[tuple[int, str]]:
    """(line, name) of every string constant equal to a name in `anywhere`, and of every use of
    a name in `as_key` as a key: a dict key, a subscript, the first argument of get, setdefault
    or pop, the left side of `in`, a keyword of `extra_info.update(...)`. Docstrings and
    f-string parts do not count (prose may name a field)."""
    skip: set[int] = set()
    keys: set[int] = set()
    found = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
        if isinstance(node, ast.Dict):
            keys.update(id(k) for k in node.keys if k is not None)
        elif isinstance(node, ast.Subscript):
            keys.add(id(node.slice))
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In | ast.NotIn):
            keys.add(id(node.left))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("get", "setdefault", "pop") and node.args:
                keys.add(id(node.args[0]))
            if node.func.attr == "update" and "extra_info" in ast.unparse(node.func.value):
                found += [
                    (node.lineno, kw.arg) for kw in node.keywords if kw.arg in anywhere | as_key
                ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if node.value in anywhere or (node.value in as_key and id(node) in keys):
                found.append((node.lineno, node.value))
    return sorted(found)


def test_no_field_name_is_spelled_outside_the_schema() -> None:
    """Every recorded figure's name is written once, in mnist_models/fields.py; the rest of the
    package (benchmarks, gates, reports, tables, plots, records) says `fields.ACCURACY`. Names
    that are also ordinary words of the code are held to the rule where they are used as keys:
    the context (model, resolution, batch_size...), which is a parameter name everywhere, in the
    suite that writes it and the reports that read it; and the figures that share their name
    with a lane, a scope or a folder kind (instructions, history, calls), everywhere."""
    from mnist_models import fields

    shared = {"instructions", "history", "calls"}
    # keys of other structures that happen to share a field's name
    not_fields = {
        ("mnist_models/suite/plugin.py", "instructions"): "the lane descriptions, by lane name",
        ("mnist_models/reporting/outputs.py", "kind"): "the output folder marker's own key",
        ("mnist_models/gates/formats.py", "timer"): "pytest-benchmark's own options key",
        (
            "mnist_models/ab/envworker.py",
            "calls",
        ): "its request's key (it runs without the package)",
    }
    figures = {str(f) for f in fields.ALL} - {str(f) for f in fields.CONTEXT}
    context = {str(f) for f in fields.CONTEXT}
    spelled = []
    for module, path in ALL.items():
        if module == "mnist_models.fields":
            continue
        as_key = shared | (context if layer(module) in ("suite", "reporting") else set())
        tree = ast.parse(path.read_text())
        for line, name in _spelled_fields(tree, figures - shared, as_key):
            if (str(path.relative_to(REPO)), name) in not_fields:
                continue
            spelled.append(f"{path.relative_to(REPO)}:{line} {name!r}")
    assert spelled == [], "use the declared fields (mnist_models/fields.py):\n" + "\n".join(spelled)


# Where the base modules and the gates' consumers (gates, reporting, cli) read a file, and what
# it is. A saved run, a baseline or compare's JSON is read by the store alone (gates/store.py);
# nothing else here opens one.
FILE_READERS = {
    "mnist_models.gates.store": "saved runs, baselines, compare's JSON",
    "mnist_models.machine": "/proc/cpuinfo (the CPU model and vendor)",
    "mnist_models.atomic": "none: it opens the file it writes",
    "mnist_models.reporting.history": "the history store (JSON lines of its own)",
    "mnist_models.reporting.outputs": "an output folder's marker",
    "mnist_models.cli.baseline": "pyproject.toml (the gate ini options)",
    "mnist_models.cli.init": "the pyproject.toml of a user's repository (init appends to it)",
    "mnist_models.cli.study": "the summary.md it has just written",
}


def _reads_files(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("read_text", "read_bytes") or (name == "open" and not _is_os(func)):
                return True
            if (
                name == "load"
                and isinstance(func, ast.Attribute)
                and ast.unparse(func.value) == "json"
            ):
                return True
    return False


def _is_os(func: ast.expr) -> bool:
    return isinstance(func, ast.Attribute) and ast.unparse(func.value) == "os"


def test_only_the_store_opens_baseline_and_run_files() -> None:
    """Every file read in the gates, the reports and the CLI is in FILE_READERS, and only the
    store validates a saved run (validate_run, load_run_file's body)."""
    readers = {
        module
        for module, path in ALL.items()
        if layer(module) in ("base", "gates", "reporting", "cli")
        and _reads_files(ast.parse(path.read_text()))
    }
    assert readers == set(FILE_READERS), (
        "a new file reader: name it in FILE_READERS or use the store"
    )
    callers = {
        module
        for module, path in ALL.items()
        if module != "mnist_models.gates.schema"
        and any(
            isinstance(n, ast.Name | ast.Attribute)
            and getattr(n, "id", getattr(n, "attr", "")) == "validate_run"
            for n in ast.walk(ast.parse(path.read_text()))
        )
    }
    assert callers == {"mnist_models.gates.store"}


def test_the_environment_worker_runs_without_the_package() -> None:
    """ab/envworker.py is started as a script by another environment's interpreter: it imports
    that environment's installed package by name, never relatively (a relative import fails
    there, before any work)."""
    path = ALL["mnist_models.ab.envworker"]
    found = imports("mnist_models.ab.envworker", path)
    assert [(line, target) for line, target, level in found if level] == []
