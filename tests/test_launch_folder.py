"""The instruction worker's launch folder: the same strings from any checkout and environment
folder (docs/determinism-keys.md, "Counts and paths"). Built from small fake environments; the
counts themselves are compared across folders by scripts/count_paths.sh."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mnist_models.measure import launch_folder
from mnist_models.measure.launch_folder import (
    environment_copy,
    interpreter_links,
    make_launch_folder,
)

SITE = Path("lib/python3.11/site-packages")


def fake_venv(at: Path) -> Path:
    """A virtual environment's layout: its config naming its folder, an interpreter link,
    this package installed (editable and not), a user's editable install, a package with
    byte-code."""
    site = at / SITE
    (site / "pkg" / "__pycache__").mkdir(parents=True)
    (at / "bin").mkdir()
    (at / "bin" / "python3").symlink_to("/usr/bin/python3")
    (at / "lib64").symlink_to("lib")
    (at / "pyvenv.cfg").write_text(
        f"home = /usr/bin\ninclude-system-site-packages = false\ncommand = python -m venv {at}\n"
    )
    (site / "__editable__.mnist_bench-0.1.0.pth").write_text("import finder; finder.install()")
    (site / "__editable___mnist_bench_0_1_0_finder.py").write_text(f"MAPPING = {{'x': '{at}'}}")
    (site / "__editable__.userpkg-1.0.pth").write_text("/home/user/userpkg\n")
    (site / "pkg" / "__init__.py").write_text("")
    (site / "mnist_bench-0.1.0.dist-info").mkdir()
    (site / "mnist_bench-0.1.0.dist-info" / "direct_url.json").write_text(f'{{"url": "{at}"}}')
    (site / "mnist_models").mkdir()  # installed, not editable: both are left out
    (site / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"compiled")
    return at


def test_the_environment_copy_holds_no_name_of_the_checkout(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path / "checkout" / ".venv")
    into = tmp_path / "launch" / "env"
    into.parent.mkdir()
    assert environment_copy(venv, into)
    site = into / SITE
    assert sorted(p.name for p in site.iterdir()) == ["__editable__.userpkg-1.0.pth", "pkg"]
    assert not (site / "pkg" / "__pycache__").exists()
    assert (site / "pkg" / "__init__.py").stat().st_ino == (
        venv / SITE / "pkg" / "__init__.py"
    ).stat().st_ino
    assert os.readlink(into / "bin" / "python3") == "/usr/bin/python3"
    assert os.readlink(into / "lib64") == "lib"
    assert (
        into / "pyvenv.cfg"
    ).read_text() == "home = /usr/bin\ninclude-system-site-packages = false\n"
    assert "command = " in (venv / "pyvenv.cfg").read_text()  # the environment's own is untouched
    assert not any(
        str(venv) in p.read_text() for p in into.rglob("*") if p.is_file() and not p.is_symlink()
    )


VENV_311 = "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.7\n"
VENV_311 += "executable = /usr/bin/python3.11\n"
BARE = "home = /usr/bin\ninclude-system-site-packages = false\n"


@pytest.mark.parametrize(
    ("config", "kept"),
    [
        (VENV_311 + "command = /usr/bin/python3 -m venv {at}\n", VENV_311),
        (VENV_311 + "command = /usr/bin/python3 -m venv /elsewhere/env\n", VENV_311),
        (VENV_311 + "prompt = 'my project'\ncommand = python -m venv {at}\n", VENV_311),
        (
            "home = /usr/bin\nimplementation = CPython\nversion_info = 3.11.7.final.0\n"
            "virtualenv = 20.25.0\ninclude-system-site-packages = false\nbase-prefix = /usr\n"
            "base-exec-prefix = /usr\nbase-executable = /usr/bin/python3.11\n",
            BARE,
        ),
        (
            "home = /usr/bin\nimplementation = CPython\npython-version = 3.11\n"
            "version_info = 3.11.7.final.0\nversion = 3.11.7\nexecutable = /usr/bin/python3.11\n"
            "command = /tool/bin/python -m virtualenv {at}\nvirtualenv = 21.15.14\n"
            "include-system-site-packages = false\nbase-prefix = /usr\n",
            VENV_311,
        ),
        (
            "home = /usr/bin\nimplementation = CPython\nuv = 0.5.11\nversion_info = 3.11.7\n"
            "include-system-site-packages = false\nprompt = project\n",
            BARE,
        ),
    ],
    ids=["venv", "venv-moved", "venv-prompt", "virtualenv-20", "virtualenv-21", "uv"],
)
def test_the_environment_copy_keeps_only_the_config_lines_that_name_the_interpreter(
    tmp_path: Path, config: str, kept: str
) -> None:
    """A folder the environment was made in or moved from, a prompt or a tool's version moved
    the counts (docs/determinism-keys.md): the copy keeps what CPython reads, and for an
    environment `python -m venv` made where it lies, the same bytes as before."""
    venv = fake_venv(tmp_path / "checkout" / ".venv")
    (venv / "pyvenv.cfg").write_text(config.format(at=venv))
    assert environment_copy(venv, tmp_path / "env")
    assert (tmp_path / "env" / "pyvenv.cfg").read_text() == kept
    assert (venv / "pyvenv.cfg").read_text() == config.format(at=venv)


def base_python(home: Path) -> Path:
    """A base interpreter's folder as CPython installs it: python3.11, python3 and python."""
    home.mkdir(parents=True)
    (home / "python3.11").write_bytes(b"\x7fELF")
    (home / "python3").symlink_to("python3.11")
    (home / "python").symlink_to("python3.11")
    return home / "python3.11"


def chain(path: Path) -> list[str]:
    """The links valgrind follows from `path` to the interpreter's file."""
    hops = []
    while path.is_symlink():
        hops.append(os.readlink(path))
        path = path.parent / hops[-1]
    return hops


@pytest.mark.parametrize(
    "layout",
    [
        {"python3": "{home}/python3", "python": "python3", "python3.11": "python3"},  # venv
        {"python": "{home}/python3.11", "python3": "python", "python3.11": "python"},  # virtualenv
        {"python3": "{home}/python3.11", "python": "python3"},  # venv made by python3.11
        {"python": None, "python3": None},  # venv --copies: the interpreter's file itself
    ],
    ids=["venv", "virtualenv", "venv-from-python3.11", "copies"],
)
@pytest.mark.parametrize("started_as", ["python", "python3"])
def test_the_interpreter_is_started_through_one_chain_of_links(
    tmp_path: Path, layout: dict[str, str | None], started_as: str
) -> None:
    """Whatever made the environment and whichever name started the parent, the worker's
    interpreter is `env/bin/python -> python3 -> <home>/python3`, as `make env` makes it."""
    home = tmp_path / "base" / "bin"
    real = base_python(home)
    venv = fake_venv(tmp_path / "checkout" / ".venv")
    (venv / "pyvenv.cfg").write_text(f"home = {home}\ninclude-system-site-packages = false\n")
    (venv / "bin" / "python3").unlink()
    for name, target in layout.items():
        if target is None:
            os.link(real, venv / "bin" / name)
        else:
            (venv / "bin" / name).symlink_to(target.format(home=home))

    def own() -> dict[str, object]:
        return {
            p.name: os.readlink(p) if p.is_symlink() else p.stat().st_ino
            for p in (venv / "bin").iterdir()
        }

    before = own()
    env = tmp_path / "env"
    assert environment_copy(venv, env)
    python = interpreter_links(env, str(venv / "bin" / started_as), venv)
    assert python == env / "bin" / "python"
    assert chain(python) == ["python3", f"{home}/python3", "python3.11"]
    assert python.resolve() == real
    assert {p.name for p in (env / "bin").iterdir()} == {"python", "python3", "python3.11"}
    assert own() == before  # the environment's own links and files stay


def test_an_interpreter_other_than_homes_python3_is_linked_itself(tmp_path: Path) -> None:
    """A venv made by python3.12 where `<home>/python3` is 3.11: not the same interpreter."""
    home = tmp_path / "base" / "bin"
    base_python(home)
    (home / "python3.12").write_bytes(b"\x7fELF 3.12")
    venv = fake_venv(tmp_path / "checkout" / ".venv")
    (venv / "pyvenv.cfg").write_text(f"home = {home}\n")
    (venv / "bin" / "python3").unlink()
    (venv / "bin" / "python3").symlink_to(home / "python3.12")
    assert environment_copy(venv, tmp_path / "env")
    python = interpreter_links(tmp_path / "env", str(venv / "bin" / "python3"), venv)
    assert chain(python) == ["python3", f"{home}/python3.12"]


def test_an_interpreter_copied_into_the_environment_alone_is_left_as_it_is(
    tmp_path: Path,
) -> None:
    home = tmp_path / "base" / "bin"
    base_python(home)
    venv = fake_venv(tmp_path / "checkout" / ".venv")
    (venv / "pyvenv.cfg").write_text(f"home = {home}\n")
    (venv / "bin" / "python3").unlink()
    (venv / "bin" / "python3").write_bytes(b"\x7fELF built elsewhere")
    assert environment_copy(venv, tmp_path / "env")
    python = interpreter_links(tmp_path / "env", str(venv / "bin" / "python3"), venv)
    assert python == tmp_path / "env" / "bin" / "python3"
    assert python.read_bytes() == b"\x7fELF built elsewhere" and not python.is_symlink()


def test_virtualenvs_markers_are_left_out_of_the_copy(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path / "checkout" / ".venv")
    (venv / SITE / "pip-26.3.virtualenv").write_text("")
    (venv / SITE / "setuptools-84.2.1.virtualenv").write_text("")
    assert environment_copy(venv, tmp_path / "env")
    assert not list((tmp_path / "env" / SITE).glob("*.virtualenv"))
    assert (venv / SITE / "pip-26.3.virtualenv").exists()


def test_an_environment_that_cannot_be_hard_linked_is_linked_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = fake_venv(tmp_path / "checkout" / ".venv")

    def other_file_system(source: str, target: str) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(launch_folder.os, "link", other_file_system)
    assert not environment_copy(venv, tmp_path / "env")
    assert not (tmp_path / "env").exists()
    monkeypatch.setattr(launch_folder, "BASE", tmp_path)
    launch = make_launch_folder(str(venv / "bin" / "python3"), tmp_path, tmp_path / "run", {})
    assert (launch.root / "env").resolve() == venv.resolve()
    launch.remove()


def fake_valgrind(folder: Path) -> Path:
    """valgrind as Debian installs it (a script starting valgrind.bin beside it) with the
    tools the worker runs."""
    folder.mkdir()
    for name in launch_folder.TOOLS:
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    return folder / "valgrind"


# what a terminal and a CI job hand down: other tool folders, homes, locales, temporary folders
TERMINAL = {"PATH": "/usr/local/bin:/usr/bin", "HOME": "home-a", "LANG": "C.UTF-8"}
CI_JOB = {
    "PATH": "/opt/hostedtoolcache/Python/3.11/x64/bin:/usr/local/sbin:/usr/local/bin:/usr/bin",
    "HOME": "a-much-longer-home-folder-of-a-runner",
    "TMPDIR": "/runner/_temp",
    "XDG_CACHE_HOME": "/runner/cache",
    "LC_ALL": "en_US.UTF-8",
}


@pytest.mark.parametrize("checkout", ["c", "a-checkout-in-a-much-longer-folder-name"])
@pytest.mark.parametrize("started_by", [TERMINAL, CI_JOB], ids=["terminal", "ci-job"])
def test_the_workers_strings_have_one_length_from_any_checkout_and_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkout: str, started_by: dict[str, str]
) -> None:
    """The worker's interpreter, run folder and environment name the launch folder only:
    the same strings whatever the checkout's folder and whoever started the run."""
    monkeypatch.setattr(launch_folder, "BASE", tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    for name in ("PATH", "HOME", "LANG", "TMPDIR", "XDG_CACHE_HOME", "LC_ALL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in started_by.items():
        if name == "HOME":
            value = str(tmp_path / value)
            Path(value).mkdir()
        monkeypatch.setenv(name, value)
    venv = fake_venv(tmp_path / checkout / ".venv")
    valgrind = fake_valgrind(tmp_path / checkout / "valgrind-bin")
    run = tmp_path / "run"  # one run folder: one launch folder name
    run.mkdir()
    launch = make_launch_folder(
        str(venv / "bin" / "python3"),
        tmp_path / checkout,
        run,
        {"LANG": "C.UTF-8"},
        str(valgrind),
        home=os.environ["HOME"],
    )
    try:
        root = launch.root
        env = launch.environment
        assert env == {
            "LANG": "C.UTF-8",
            "PATH": f"{root / 'env' / 'bin'}:{root / 'tools'}:{os.defpath}",
            "HOME": str(root / "home"),
            "TMPDIR": str(root / "tmp"),
            "VIRTUAL_ENV": str(root / "env"),
            "PYTHONPATH": str(root / "src"),
            "PYTHONPYCACHEPREFIX": str(root / "pyc"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        assert launch.python == str(root / "env" / "bin" / "python")  # started as python3
        assert len(root.name) == len("mnist-bench-") + 16
        assert (root / "home").resolve() == Path(os.environ["HOME"]).resolve()  # its site folder
        assert (root / "tmp").is_dir()
        for name in launch_folder.TOOLS:  # found on the worker's PATH, the real ones
            found = shutil.which(name, path=env["PATH"])
            assert found == str(root / "tools" / name)
            assert Path(found).resolve() == (valgrind.parent / name).resolve()
    finally:
        launch.remove()
    assert not launch.root.exists() and (venv / SITE / "pkg" / "__init__.py").is_file()
    assert (tmp_path / started_by["HOME"]).is_dir()  # the link went, not the home


@pytest.mark.parametrize("with_library", [False, True], ids=["no-library", "a-library"])
def test_only_library_folders_that_hold_a_library_reach_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_library: bool
) -> None:
    """A CI runner's LD_LIBRARY_PATH names its Python's folder, which holds no library, and
    moved lenet5's batch-1 count by 0.17%: such folders are left out; one that holds a
    library is linked, so that its name has one length too."""
    monkeypatch.setattr(launch_folder, "BASE", tmp_path)
    empty = tmp_path / "runner-tool-cache" / "Python" / "3.11.7" / "x64" / "lib"
    (empty / "python3.11").mkdir(parents=True)
    (empty / "libpython3.11.sorted").write_text("")  # not a library
    libraries = tmp_path / "conda" / "lib"
    libraries.mkdir(parents=True)
    if with_library:
        (libraries / "libgomp.so.1").write_text("")
    value = os.pathsep.join([str(empty), str(libraries), str(tmp_path / "missing"), ""])
    launch = make_launch_folder(
        sys.executable, tmp_path, tmp_path / "run", {"LD_LIBRARY_PATH": value}
    )
    try:
        if with_library:
            assert launch.environment["LD_LIBRARY_PATH"] == str(launch.root / "l0")
            assert (launch.root / "l0").resolve() == libraries.resolve()
        else:
            assert "LD_LIBRARY_PATH" not in launch.environment
    finally:
        launch.remove()


def test_the_users_pythonpath_reaches_the_worker_as_links_after_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's PYTHONPATH selects code the worker runs: kept, in order, after the package's
    copy, each folder as a launch-folder link so that its name has one length."""
    monkeypatch.setattr(launch_folder, "BASE", tmp_path)
    first, second = tmp_path / "a-user-folder", tmp_path / "x" / "another-one"
    first.mkdir()
    second.mkdir(parents=True)
    value = os.pathsep.join([str(first), "", str(second)])
    launch = make_launch_folder(sys.executable, tmp_path, tmp_path / "run", {"PYTHONPATH": value})
    try:
        root = launch.root
        assert launch.environment["PYTHONPATH"] == os.pathsep.join(
            [str(root / "src"), str(root / "p0"), str(root / "p1")]
        )
        assert [(root / f"p{i}").resolve() for i in (0, 1)] == [first, second]
    finally:
        launch.remove()


def test_without_a_home_the_worker_gets_an_empty_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launch_folder, "BASE", tmp_path)
    launch = make_launch_folder(sys.executable, tmp_path, tmp_path / "run", {}, home="")
    try:
        home = Path(launch.environment["HOME"])
        assert home == launch.root / "home" and home.is_dir() and not home.is_symlink()
    finally:
        launch.remove()


def a_dead_pid() -> int:
    with subprocess.Popen(["true"]) as ended:
        pass
    return ended.pid


@pytest.mark.parametrize(
    "owner, removed",
    [
        (lambda: f"{socket.gethostname()} {a_dead_pid()}", True),  # its owner was killed
        (lambda: f"{socket.gethostname()} {os.getpid()}", False),  # still running
        (lambda: f"another-host {a_dead_pid()}", False),  # /tmp shared with another machine
        (lambda: None, False),  # being made, or made by a version without the file
        (lambda: "garbage", False),
    ],
    ids=["owner-ended", "owner-running", "other-host", "no-owner", "unreadable"],
)
def test_a_launch_folder_is_removed_only_once_its_owner_has_ended(
    tmp_path: Path, owner: Callable[[], str | None], removed: bool
) -> None:
    root = tmp_path / "mnist-bench-0123456789abcdef"
    (root / "env").mkdir(parents=True)
    said = owner()
    if said is not None:
        (root / launch_folder.OWNER).write_text(said + "\n")
    (tmp_path / "unrelated").mkdir()
    assert launch_folder.remove_abandoned(tmp_path) == ([root] if removed else [])
    assert root.exists() is not removed and (tmp_path / "unrelated").is_dir()


def test_a_new_launch_folder_names_its_owner_and_removes_abandoned_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launch_folder, "BASE", tmp_path)
    abandoned = tmp_path / "mnist-bench-fedcba9876543210"
    abandoned.mkdir()
    (abandoned / launch_folder.OWNER).write_text(f"{socket.gethostname()} {a_dead_pid()}\n")
    launch = make_launch_folder(sys.executable, tmp_path, tmp_path / "run", {})
    try:
        assert not abandoned.exists()
        said = (launch.root / launch_folder.OWNER).read_text()
        assert said == f"{socket.gethostname()} {os.getpid()}\n"
    finally:
        launch.remove()
