"""Atomic file writes: a result file is either the old one or the complete new one, never half."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import OutputError


def check_writable(path: str | Path) -> Path:
    """Fail before any work starts if `path` cannot be written (missing folder, no permission)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"output path {path} is a directory; give a file name")
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: folder {parent} does not exist; create it first")
    try:  # a real probe: os.access is wrong for root and for read-only mounts
        with tempfile.NamedTemporaryFile(prefix=f".{path.name}.", suffix=".probe", dir=parent):
            pass
    except OSError as err:
        raise OutputError(
            f"cannot write {path}: folder {parent} is not writable ({err.strerror})"
        ) from None
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write to a temporary file beside `path`, fsync, then rename over it."""
    path = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; give the result the mode an ordinary open() would
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))
