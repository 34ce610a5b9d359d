"""The instruction worker's paths, of one length wherever the checkout, the environment and the
run's folder are: a folder of symbolic links in the temporary folder, named by a fixed-length
digest.

A process's arguments and environment lie on its stack and its path strings on its heap, so
their lengths move where everything after them lands: counted from clones in folders of other
lengths, one batch-1 case moved by up to 1.9%, twice its band (docs/determinism-keys.md,
"Counts and paths"). Started through this folder (its environment, its virtual environment,
its arguments and its working folder all under it), the worker sees the same strings from any
checkout.

The virtual environment holds the checkout's path too: it usually lies in the checkout, its
byte-code names the files where they were compiled, and this package's editable install names
the checkout. The worker runs in a hard-linked copy of it (`env`) without those, and loads
byte-code compiled at the launch folder (`pyc`, PYTHONPYCACHEPREFIX).

Its `owner` file names the process that made it: a folder whose owner was killed (its worker
dies with it: instructions.py) is removed by the next run on the same machine.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

# the folder the links live in: /tmp where it exists (its length is then the same everywhere),
# else the platform's temporary folder
BASE = Path("/tmp") if os.path.isdir("/tmp") and os.access("/tmp", os.W_OK) else None


# this package as installed in a site folder, editable or not: its editable install's .pth
# file and finder, its distribution's metadata, the package itself
INSTALLED = re.compile(r"__editable__[._]mnist_bench[-_].*|mnist_bench-.*\.dist-info|mnist_models")
OWNER = "owner"  # "<host> <pid>" of the process that made the folder


@dataclass(frozen=True)
class LaunchFolder:
    """`root/env` the virtual environment (when the interpreter runs in one: a copy),
    `root/src` a copy of the package, first on PYTHONPATH, `root/run` the run's folder,
    `root/p<N>` the other PYTHONPATH entries (links, all but the copy), `root/pyc` the
    byte-code of every module the worker loads (compiled by `compile_modules`)."""

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
    """The package of `source`, copied to `into/mnist_models` (its byte-code is compiled there
    with every other module's, into `pyc`)."""
    into.mkdir()
    package = source / "mnist_models"
    if package.is_dir():
        shutil.copytree(
            package, into / "mnist_models", ignore=shutil.ignore_patterns("__pycache__")
        )


def environment_copy(venv: Path, into: Path) -> bool:
    """`into`: the virtual environment `venv` as the worker sees it, its files hard-linked
    (second names: nothing is copied). Torch, triton and CUDA's bindings resolve their own
    paths (`os.path.realpath`): through symbolic links, the environment's real folder entered
    the worker's heap. Left out: this package's installation, editable (its finder holds the
    checkout's path) or not (the launch folder's copy is the package the worker imports, and
    an installed copy beside it moved the counts: docs/determinism-keys.md); byte-code
    (compile_modules compiles it at this path); and pyvenv.cfg's lines that name the
    environment's folder (the interpreter reads them as it starts). A user's own packages
    stay, editable or not. False where hard links cannot be made (another file system):
    nothing is left in `into`."""

    def left_out(folder: str, names: list[str]) -> list[str]:
        site = Path(folder).name == "site-packages"
        return [n for n in names if n == "__pycache__" or (site and INSTALLED.fullmatch(n))]

    try:
        shutil.copytree(venv, into, symlinks=True, copy_function=os.link, ignore=left_out)
    except (OSError, shutil.Error):
        shutil.rmtree(into, ignore_errors=True)
        return False
    config = into / "pyvenv.cfg"
    if config.is_file():
        names = (str(venv), str(venv.resolve()))
        lines = config.read_text().splitlines(keepends=True)
        config.unlink()  # a hard link: writing to it would change the environment's own
        config.write_text("".join(x for x in lines if not any(n in x for n in names)))
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def remove_abandoned(base: Path) -> list[Path]:
    """Remove the launch folders in `base` whose owner, a process of this machine and user,
    has ended without removing its own (killed); the folders removed."""
    removed = []
    for root in base.glob("mnist-bench-*"):
        try:
            if root.stat().st_uid != os.getuid():
                continue
            host, pid = (root / OWNER).read_text().split()
        except (OSError, ValueError):
            continue  # not ours, being made, or from a version without the file
        if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(root, ignore_errors=True)
            removed.append(root)
    return removed


def make_launch_folder(
    python: str, source: Path, workdir: Path, environment: dict[str, str]
) -> LaunchFolder:
    """The links for one worker (named by a digest of its run folder, which is its own) and
    the interpreter, PYTHONPATH and environment that name them."""
    digest = hashlib.sha256(str(workdir.resolve()).encode()).hexdigest()[:16]
    base = BASE or Path(tempfile.gettempdir())
    remove_abandoned(base)
    root = base / f"mnist-bench-{digest}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(mode=0o700)
    (root / OWNER).write_text(f"{socket.gethostname()} {os.getpid()}\n")
    env = dict(environment)
    _package_copy(source, root / "src")
    links = {"run": workdir.resolve()}
    venv = _venv(python)
    if venv is not None:
        if not environment_copy(venv, root / "env"):
            links["env"] = venv  # the counts then move with the environment's folder
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
    env["PYTHONPYCACHEPREFIX"] = str(root / "pyc")
    # what compile_modules did not compile, a child compiles, whatever was counted before it
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return LaunchFolder(root, python, root / "run", env)
