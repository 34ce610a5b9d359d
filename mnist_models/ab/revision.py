"""Import the `mnist_models` package of another git revision beside the current one.

`mnist-models compare --baseline REV` needs both versions' models in one process, so that they
can be timed alternately. The revision's package is extracted with `git archive` into a
temporary folder and imported under its own name (`mnist_models_<sha>`); the package uses
relative imports only, so its modules find each other and never the current ones.
"""

from __future__ import annotations

import atexit
import importlib.util
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from ..errors import ConfigError

PACKAGE = "mnist_models"


def _git(repo: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, check=False, timeout=120
        )
    except FileNotFoundError:
        raise ConfigError("git is not installed; compare --baseline needs git") from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(lines[-1] if lines else f"git {args[0]} failed ({done.returncode})")
    return done.stdout


def repo_root(start: Path | None = None) -> Path:
    """The top of the git checkout holding `start` (default: the working directory)."""
    start = start or Path.cwd()
    try:
        out = _git(start, "rev-parse", "--show-toplevel")
    except ConfigError:
        raise ConfigError(
            f"{start} is not inside a git checkout; run compare from your clone of mnist-bench"
        ) from None
    return Path(out.decode().strip())


def resolve(rev: str, repo: Path) -> str:
    """The full commit id of `rev`, or a ConfigError naming it."""
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
    except ConfigError:
        raise ConfigError(
            f"unknown revision {rev!r} in {repo}: give a commit, branch or tag "
            "(see `git log --oneline`; in CI fetch the base branch first)"
        ) from None


def package_changed(rev: str, repo: Path) -> bool:
    """Whether the working tree's package differs from `rev`'s: uncommitted changes, and new
    files git does not ignore (a new module is a change even before `git add`)."""
    done = subprocess.run(
        ["git", "-C", str(repo), "diff", "--quiet", resolve(rev, repo), "--", PACKAGE],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        return True
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard", "--", PACKAGE)
    return bool(untracked.strip())


@lru_cache(maxsize=8)
def extract_revision(rev: str, repo: Path | None = None) -> Path:
    """A temporary folder holding `rev`'s mnist_models/ (removed when this process exits): to
    import in this process, or to put on another environment's PYTHONPATH."""
    repo = repo_root(repo)
    sha = resolve(rev, repo)
    try:
        archive = _git(repo, "archive", "--format=tar", sha, PACKAGE)
    except ConfigError:
        raise ConfigError(f"revision {rev!r} ({sha[:12]}) has no {PACKAGE}/ package") from None
    dest = Path(tempfile.mkdtemp(prefix=f"mnist-bench-{sha[:12]}-"))
    # the package imports its modules lazily, so the copy lives as long as the process
    atexit.register(shutil.rmtree, dest, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest


@lru_cache(maxsize=8)
def load_revision(rev: str, repo: Path | None = None) -> ModuleType:
    """Import `rev`'s mnist_models as a separate package and return it."""
    repo = repo_root(repo)
    sha = resolve(rev, repo)
    name = f"{PACKAGE}_{sha[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    dest = extract_revision(sha, repo)
    init = dest / PACKAGE / "__init__.py"
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(init.parent)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        # the parts compare uses, imported now: a revision that cannot import fails here, once,
        # with its name, not half-way through the timing
        for part in ("zoo.registry", "measure.metrics", "measure.train"):
            importlib.import_module(f"{name}.{part}")
    except Exception as err:  # whatever that revision's code raises: refused, never passed
        for loaded in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            del sys.modules[loaded]
        raise ConfigError(
            f"revision {rev!r} ({sha[:12]}) cannot be imported ({type(err).__name__}: "
            f"{str(err)[:200]}); compare against a revision whose package imports"
        ) from None
    if not hasattr(module, "get_model"):
        raise ConfigError(f"revision {rev!r} ({sha[:12]}) has no get_model(); too old to compare")
    module.__revision__ = sha  # type: ignore[attr-defined]
    return module
