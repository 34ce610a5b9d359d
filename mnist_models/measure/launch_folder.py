"""The instruction worker's paths, of one length wherever the checkout, the environment and the
run's folder are: a folder of symbolic links in the temporary folder, named by a fixed-length
digest.

A process's arguments and environment lie on its stack and its path strings on its heap, so
their lengths move where everything after them lands: counted from clones in folders of other
lengths, one batch-1 case moved by up to 1.9%, twice its band (docs/determinism-keys.md,
"Counts and paths"). Started through this folder (its environment, its virtual environment,
its arguments and its working folder all under it), the worker sees the same strings from any
checkout, terminal or CI job: its PATH, HOME and TMPDIR name this folder only.

The virtual environment holds the checkout's path too: it usually lies in the checkout, its
byte-code names the files where they were compiled, and this package's editable install names
the checkout. The worker runs in a hard-linked copy of it (`env`) without those, and loads
byte-code compiled at the launch folder (`pyc`, PYTHONPYCACHEPREFIX). What made the environment
(venv, virtualenv, uv) and which name started the parent are taken out too: the copy's
pyvenv.cfg and interpreter links are laid out as one `python -m venv` makes.

Its `owner` file names the process that made it: a folder whose owner was killed (its worker
dies with it: instructions.py) is removed by the next run on the same machine.
"""

from __future__ import annotations

import filecmp
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
# virtualenv's empty markers of the packages it seeded: two entries more in the site folder
# moved the counts
SEEDED = re.compile(r".+\.virtualenv")
OWNER = "owner"  # "<host> <pid>" of the process that made the folder
# the lines of pyvenv.cfg the copy keeps: those CPython reads (`home`, where the interpreter
# lives; whether the system's site folder is seen) and the two more `python -m venv` writes,
# which name the interpreter, not the environment
PYVENV_KEPT = ("home", "include-system-site-packages", "version", "executable")
# valgrind and the tools beside it the worker runs (callgrind_control finds vgdb in its own
# folder; Debian's valgrind is a script that starts valgrind.bin beside it), linked into
# `tools`: the worker's PATH names no folder of the machine's but the system's default one
TOOLS = ("valgrind", "valgrind.bin", "callgrind_control", "vgdb")


@dataclass(frozen=True)
class LaunchFolder:
    """`root/env` the virtual environment (when the interpreter runs in one: a copy),
    `root/src` a copy of the package, first on PYTHONPATH, `root/run` the run's folder,
    `root/p<N>` the other PYTHONPATH entries (links, all but the copy), `root/l<N>` the
    LD_LIBRARY_PATH folders that hold a shared library (links), `root/pyc` the
    byte-code of every module the worker loads (compiled by `compile_modules`), `root/tools`
    valgrind's tools, `root/home` the user's home (a link) and `root/tmp` the worker's
    temporary folder."""

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
    an installed copy beside it moved the counts: docs/determinism-keys.md); virtualenv's
    markers (SEEDED); byte-code (compile_modules compiles it at this path); and every line of
    pyvenv.cfg but those of PYVENV_KEPT, in its order (the interpreter reads the file as it
    starts: a `command` naming a folder the environment was made in, moved or copied from, or
    a tool's own version, moved the counts). A user's own packages stay, editable or not.
    False where hard links cannot be made (another file system): nothing is left in `into`."""

    def left_out(folder: str, names: list[str]) -> list[str]:
        site = Path(folder).name == "site-packages"
        return [
            n
            for n in names
            if n == "__pycache__" or (site and (INSTALLED.fullmatch(n) or SEEDED.fullmatch(n)))
        ]

    try:
        shutil.copytree(venv, into, symlinks=True, copy_function=os.link, ignore=left_out)
    except (OSError, shutil.Error):
        shutil.rmtree(into, ignore_errors=True)
        return False
    config = into / "pyvenv.cfg"
    if config.is_file():
        lines = _config_lines(config)
        config.unlink()  # a hard link: writing to it would change the environment's own
        config.write_text("".join(lines[k] + "\n" for k in PYVENV_KEPT if k in lines))
    return True


def _config_lines(config: Path) -> dict[str, str]:
    """pyvenv.cfg's lines by their key, as written."""
    if not config.is_file():
        return {}
    return {x.split("=")[0].strip(): x for x in config.read_text().splitlines()}


def _started_name(python: str) -> str:
    """The name to start the environment's interpreter by: python3 for any python3.N."""
    return "python3" if Path(python).name.startswith("python3") else Path(python).name


INTERPRETER = re.compile(r"python(3(\.\d+)?)?")  # a virtual environment's interpreter links


def _same_file(a: str, b: str) -> bool:
    return os.path.isfile(a) and (os.path.samefile(a, b) or filecmp.cmp(a, b, shallow=False))


def interpreter_links(env: Path, python: str, venv: Path) -> Path:
    """Lay out the interpreter of `env`, the copy of `venv`, as `python -m venv` does when
    `<home>/python3` made it, whatever made it and whichever name started it: `python ->
    python3 -> <home>/python3`, `python3.N -> python3`; where `<home>/python3` is another
    interpreter, `python3` links to this one's file. valgrind loads the interpreter through
    these links, and their chain moved batch-1 counts (a virtualenv's `python -> .../python3.11`,
    or starting `python3`: docs/determinism-keys.md). Returns the path to start. An interpreter
    copied into the environment and found nowhere else is left as it is."""
    real = os.path.realpath(python)
    home = _config_lines(env / "pyvenv.cfg").get("home", "=").split("=", 1)[1].strip()
    target = os.path.join(home, "python3") if home else real
    if not _same_file(target, real):
        target = real
        if Path(real).is_relative_to(venv.resolve()):  # venv --copies of another interpreter
            return env / "bin" / _started_name(python)
    bin_dir = env / "bin"
    for entry in bin_dir.iterdir():
        if INTERPRETER.fullmatch(entry.name):
            entry.unlink()  # a link or a hard link: the environment's own stays
    (bin_dir / "python3").symlink_to(target)
    for name in sorted({"python", Path(os.path.realpath(target)).name} - {"python3"}):
        if INTERPRETER.fullmatch(name):
            (bin_dir / name).symlink_to("python3")
    return bin_dir / "python"


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


SHARED_LIBRARY = re.compile(r".+\.so(\.\d+)*")


def _library_folders(value: str) -> list[Path]:
    """The folders of an LD_LIBRARY_PATH that hold a shared library, resolved: the others
    change nothing the loader finds, only the strings' lengths (a CI runner's Python
    folder, holding none, moved lenet5's batch-1 count by 0.17%: docs/determinism-keys.md)."""
    folders = []
    for entry in value.split(os.pathsep):
        try:
            names = os.listdir(entry) if entry else []
        except OSError:
            continue  # missing, or not a folder
        if any(SHARED_LIBRARY.fullmatch(n) for n in names):
            folders.append(Path(entry).resolve())
    return folders


def _linked(folders: list[Path], prefix: Path, links: dict[str, Path]) -> list[str]:
    """A search path as launch-folder links (`<prefix>0`, `<prefix>1`, ...) added to `links`:
    the worker's strings then have one length wherever the folders are."""
    names = [f"{prefix.name}{i}" for i in range(len(folders))]
    links.update(zip(names, folders, strict=True))
    return [str(prefix.parent / name) for name in names]


def _tool_links(valgrind: str | None, into: Path) -> None:
    """`into`: links to valgrind's TOOLS, found beside `valgrind`."""
    into.mkdir()
    if valgrind is not None:
        folder = Path(valgrind).parent
        for name in TOOLS:
            if (folder / name).is_file():
                (into / name).symlink_to(folder / name)


def make_launch_folder(
    python: str,
    source: Path,
    workdir: Path,
    environment: dict[str, str],
    valgrind: str | None = None,
    home: str = "",
) -> LaunchFolder:
    """The links for one worker (named by a digest of its run folder, which is its own) and
    the interpreter and environment that name them. `environment` is what the worker inherits
    (instruction_key.worker_environment); its PATH, HOME, TMPDIR and VIRTUAL_ENV are written
    here, naming the launch folder only, whatever the terminal or CI job that starts it had;
    `home`, the user's home, is linked as its HOME (a user's own site folder lies there, where
    no venv hides it), else an empty folder."""
    digest = hashlib.sha256(str(workdir.resolve()).encode()).hexdigest()[:16]
    base = BASE or Path(tempfile.gettempdir())
    remove_abandoned(base)
    root = base / f"mnist-bench-{digest}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(mode=0o700)
    (root / OWNER).write_text(f"{socket.gethostname()} {os.getpid()}\n")
    env = dict(environment)
    _package_copy(source, root / "src")
    _tool_links(valgrind, root / "tools")
    (root / "tmp").mkdir()
    links = {"run": workdir.resolve()}
    if home and os.path.isdir(home):
        links["home"] = Path(home).resolve()
    else:
        (root / "home").mkdir()
    path = [str(root / "tools"), os.defpath]
    venv = _venv(python)
    if venv is not None:
        if environment_copy(venv, root / "env"):
            python = str(interpreter_links(root / "env", python, venv))
        else:
            links["env"] = venv  # the counts then move with the environment's folder
            python = str(root / "env" / "bin" / _started_name(python))
        path.insert(0, str(root / "env" / "bin"))
        env["VIRTUAL_ENV"] = str(root / "env")
    env.update(PATH=os.pathsep.join(path), HOME=str(root / "home"), TMPDIR=str(root / "tmp"))
    extra = [Path(p).resolve() for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), *_linked(extra, root / "p", links)])
    libraries = _linked(_library_folders(env.pop("LD_LIBRARY_PATH", "")), root / "l", links)
    if libraries:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(libraries)
    for name, target in links.items():
        (root / name).symlink_to(target, target_is_directory=True)
    env["PYTHONPYCACHEPREFIX"] = str(root / "pyc")
    # what compile_modules did not compile, a child compiles, whatever was counted before it
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return LaunchFolder(root, python, root / "run", env)
