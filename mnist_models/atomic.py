"""Result files are written so that nothing of the user's is lost or destroyed.

A regular file (or a new path) is written atomically: the old file or the complete new one,
never half. Anything else is written through, never replaced: a symlink's target (the link
stays), a character device such as /dev/null or /dev/stdout, a FIFO. A read-only file is
refused, not replaced behind its mode.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError


def _target(path: Path) -> tuple[Path, os.stat_result | None]:
    """(what a write to `path` writes: the path itself, or a symlink's final target; its stat,
    None where it does not exist yet)."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        return target, target.stat()
    except FileNotFoundError:
        return target, None
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror}") from None


def check_writable(path: str | Path) -> Path:
    """Fail before any work starts if `path` cannot be written (missing folder, no permission,
    a read-only file, a folder)."""
    path = Path(path)
    target, st = _target(path)
    shown = path if target == path else f"{path} (a link to {target})"
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"output path {shown} is a directory; give a file name")
    if st is not None and not stat.S_ISREG(st.st_mode):
        if not os.access(target, os.W_OK):
            raise OutputError(f"cannot write {shown}: permission denied")
        return path  # a device or FIFO: written through, nothing to probe
    if st is not None and (not st.st_mode & 0o222 or not os.access(target, os.W_OK)):
        raise OutputError(
            f"cannot write {shown}: the file is read-only; make it writable (chmod u+w) or give "
            "another path"
        )
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {shown}: folder {parent} does not exist; create it first")
    try:  # a real probe: os.access is wrong for root and for read-only mounts
        with tempfile.NamedTemporaryFile(prefix=f".{target.name}.", suffix=".probe", dir=parent):
            pass
    except OSError as err:
        raise OutputError(
            f"cannot write {shown}: folder {parent} is not writable ({err.strerror})"
        ) from None
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path`: atomically (a temporary file beside it, fsync, rename) for a
    regular file or a new path, through it for a device or FIFO, to its target for a symlink."""
    path = check_writable(path)
    target, st = _target(path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        try:
            with open(target, "wb") as fh:
                fh.write(data)
        except OSError as err:
            raise OutputError(f"cannot write {path}: {err.strerror or err}") from None
        return path
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates 0600; give the result the mode an ordinary open() would
        if st is not None:
            os.chmod(tmp, st.st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        why = err.strerror or str(err)
        raise OutputError(f"cannot write {path}: {why}; nothing was replaced") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def locked(folder: str | Path) -> Iterator[None]:
    """An exclusive lock on a folder (flock on the folder itself: no lock file is left behind),
    held for a read-merge-write so that two writers never lose each other's update."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
