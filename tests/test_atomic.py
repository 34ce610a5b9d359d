"""Result files never destroy what a path points at: devices, links, FIFOs, read-only files."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from mnist_models.atomic import check_writable, write_text_atomic
from mnist_models.cli import main
from mnist_models.errors import OutputError


def test_a_character_device_is_written_through_not_replaced() -> None:
    before = os.stat(os.devnull)
    write_text_atomic(os.devnull, "result\n")
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_full_device_is_a_clear_error() -> None:
    with pytest.raises(OutputError, match="/dev/full"):
        write_text_atomic("/dev/full", "x" * 100_000)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_text_atomic(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"


def test_a_read_only_file_is_refused_and_kept(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    target.write_text("precious")
    target.chmod(0o444)
    with pytest.raises(OutputError, match="read-only; make it writable"):
        check_writable(target)
    with pytest.raises(OutputError, match="read-only"):
        write_text_atomic(target, "new")
    assert target.read_text() == "precious" and stat.S_IMODE(target.stat().st_mode) == 0o444


def test_a_fifo_is_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_text_atomic(fifo, "through the pipe")
    reader.join(timeout=10)
    assert received == [b"through the pipe"] and stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_new_file_keeps_the_usual_mode_and_no_temporary_is_left(tmp_path: Path) -> None:
    target = tmp_path / "new.json"
    write_text_atomic(target, "{}")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["new.json"]


def test_count_to_dev_null_leaves_the_device_alone(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "mlp-16", "-o", os.devnull]) == 0
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert "mlp-16@28" in capsys.readouterr().out
