"""The instruction worker's paths, of one length wherever the checkout, the environment and the
run's folder are: a folder of symbolic links in the temporary folder, named by a fixed-length
digest.

A process's arguments and environment lie on its stack and its path strings on its heap, so
their lengths move where everything after them lands: counted from clones in folders of other
lengths, one batch-1 case moved by up to 1.9%, twice its band (docs/determinism-keys.md,
"Counts and paths"). Started through this folder (its environment, its virtual environment,
its arguments and its working folder all under it), the worker sees the same strings from any
checkout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

# the folder the links live in: /tmp where it exists (its length is then the same everywhere),
# else the platform's temporary folder
BASE = Path("/tmp") if os.path.isdir("/tmp") and os.access("/tmp", os.W_OK) else None


@dataclass(frozen=True)
class LaunchFolder:
    """`root/env` the virtual environment (when the interpreter runs in one), `root/src` a
    copy of the package, first on PYTHONPATH, `root/run` the run's folder, `root/p<N>` the
    other PYTHONPATH entries (links, all but the copy)."""

    root: Path
    python: str
    run: Path
    environment: dict[str, str]

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)  # the copy and the links, not their targets


def _venv(python: str) -> Path | None:
    """The virtual environment `python` belongs to (its pyvenv.cfg), if any."""
    folder = Path(python).parent.parent
    return folder if (folder / "pyvenv.cfg").is_file() else None


def _package_copy(source: Path, into: Path) -> None:
    """The package of `source`, copied and compiled at `into/mnist_models`: the worker loads
    byte-code compiled at a path of the same length every run. A worker that compiles the
    package itself, or loads byte-code compiled at another path (its file names rewritten as
    it loads), ends in another heap: 0.1% to 0.8% of a batch-1 count here
    (docs/determinism-keys.md, "Counts and paths")."""
    import compileall

    into.mkdir()
    package = source / "mnist_models"
    if package.is_dir():
        shutil.copytree(
            package, into / "mnist_models", ignore=shutil.ignore_patterns("__pycache__")
        )
        compileall.compile_dir(str(into / "mnist_models"), quiet=2, workers=1)


def make_launch_folder(
    python: str, source: Path, workdir: Path, environment: dict[str, str]
) -> LaunchFolder:
    """The links for one worker (named by a digest of its run folder, which is its own) and
    the interpreter, PYTHONPATH and environment that name them."""
    digest = hashlib.sha256(str(workdir.resolve()).encode()).hexdigest()[:16]
    root = (BASE or Path(tempfile.gettempdir())) / f"mnist-bench-{digest}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(mode=0o700)
    env = dict(environment)
    _package_copy(source, root / "src")
    links = {"run": workdir.resolve()}
    venv = _venv(python)
    if venv is not None:
        links["env"] = venv
        name = "python3" if Path(python).name.startswith("python3") else Path(python).name
        python = str(root / "env" / "bin" / name)
        bin_dir = str(venv / "bin")
        path = env.get("PATH", "").split(os.pathsep)
        env["PATH"] = os.pathsep.join(
            str(root / "env" / "bin") if p == bin_dir else p for p in path
        )
        if "VIRTUAL_ENV" in env:
            env["VIRTUAL_ENV"] = str(root / "env")
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    for i, entry in enumerate(extra):
        links[f"p{i}"] = Path(entry).resolve()
    for name, target in links.items():
        (root / name).symlink_to(target, target_is_directory=True)
    pythonpath = os.pathsep.join(
        [str(root / "src"), *(str(root / f"p{i}") for i in range(len(extra)))]
    )
    env["PYTHONPATH"] = pythonpath
    return LaunchFolder(root, python, root / "run", env)
