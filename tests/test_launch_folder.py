"""The instruction worker's launch folder: the same strings from any checkout and environment
folder (docs/determinism-keys.md, "Counts and paths"). Built from small fake environments; the
counts themselves are compared across folders by scripts/count_paths.sh."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mnist_models.measure import launch_folder
from mnist_models.measure.launch_folder import environment_copy, make_launch_folder

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


@pytest.mark.parametrize("checkout", ["c", "a-checkout-in-a-much-longer-folder-name"])
def test_the_workers_strings_have_one_length_from_any_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkout: str
) -> None:
    monkeypatch.setattr(launch_folder, "BASE", tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    venv = fake_venv(tmp_path / checkout / ".venv")
    run = tmp_path / checkout / "run"
    run.mkdir()
    environment = {"PATH": f"{venv / 'bin'}:/usr/bin", "VIRTUAL_ENV": str(venv)}
    launch = make_launch_folder(
        str(venv / "bin" / "python3"), tmp_path / checkout, run, environment
    )
    try:
        named = [launch.python, str(launch.run), *launch.environment.values()]
        assert not any(str(tmp_path / checkout) in s for s in named)
        root = launch.root
        assert launch.environment["PYTHONPYCACHEPREFIX"] == str(root / "pyc")
        assert launch.environment["PYTHONDONTWRITEBYTECODE"] == "1"
        assert launch.environment["PATH"] == f"{root / 'env' / 'bin'}:/usr/bin"
        assert len(root.name) == len("mnist-bench-") + 16
    finally:
        launch.remove()
    assert not launch.root.exists() and (venv / SITE / "pkg" / "__init__.py").is_file()


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
