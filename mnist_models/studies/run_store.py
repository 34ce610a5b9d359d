"""The one store of finished runs every study reads: a run's record under a readable key (the
run, the settings, the code version), checksummed, written atomically, and locked while a run
is computed so that two studies on one folder share the work. No torch."""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from .. import __version__
from ..fields import FORMAT
from ..measure.record import RunRecord
from .catalog import StudyRun
from .settings import StudySettings


@lru_cache(maxsize=1)
def code_version() -> str:
    """The package version and a digest of the code a run's figures come from (the zoo and
    measure subpackages): change the trainer or a model and no earlier row is reused."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted([*root.glob("zoo/**/*.py"), *root.glob("measure/**/*.py")]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:10]}"


def run_key(run: StudyRun, settings: StudySettings, seed: int) -> str:
    """Readable, unique name of a finished row: run id, batch size, training settings, threads,
    split, device and mode where not cpu/eager, code version."""
    from ..measure.device import where_parts
    from ..zoo.registry import get_config, run_id

    rid = run_id(*get_config(run.model, run.resolution))
    threads = settings.threads or "default"
    where = "".join(f"|{part}" for part in where_parts(settings.device, settings.mode))
    return (
        f"{rid}|bs{run.batch_size}|e{settings.epochs}|seed{seed}|lr{settings.lr:g}"
        f"|t{threads}|val{settings.val_fraction:g}{where}|v{code_version()}"
    )


def _cache_file(cache: Path, key: str) -> Path:
    readable = re.sub(r"[^A-Za-z0-9.+-]+", "_", key.split("|v")[0])[:80]
    return cache / f"{readable}-{hashlib.sha256(key.encode()).hexdigest()[:10]}.json"


def _digest(row: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()


def read_cached(cache: Path, key: str) -> tuple[dict[str, Any] | None, str | None]:
    """(row, None) for a sound entry; (None, reason) for a corrupted one; (None, None) if absent."""
    path = _cache_file(cache, key)
    if not path.exists():
        return None, None
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        if entry.get("format", 0) > FORMAT:
            return None, f"{path.name} is format {entry['format']}, newer than this package's"
        row = entry["row"]
        if entry["key"] != key:
            return None, f"{path.name} holds {entry['key']!r}, not {key!r}"
        if entry["sha256"] != _digest(row):
            return None, f"{path.name} does not match its checksum"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return None, f"{path.name} cannot be read ({type(err).__name__}: {err})"
    return row, None


def _entry_lock(cache: Path, key: str) -> IO[bytes]:
    """An exclusive lock on one cache entry, held while its run is computed (released when the
    returned file is closed, or the process ends): two studies on one folder share the work."""
    import fcntl

    cache.mkdir(parents=True, exist_ok=True)
    path = _cache_file(cache, key)
    handle = open(path.with_name(f".{path.stem}.lock"), "ab")  # noqa: SIM115 - closed by caller
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def write_cached(cache: Path, key: str, row: dict[str, Any]) -> None:
    from ..atomic import write_text_atomic

    cache.mkdir(parents=True, exist_ok=True)
    entry = {"format": FORMAT, "key": key, "sha256": _digest(row), "row": row}
    write_text_atomic(_cache_file(cache, key), json.dumps(entry, indent=1) + "\n")


def read_run(cache: Path, key: str) -> tuple[RunRecord | None, str | None]:
    """A stored run as its record: (record, None); (None, reason) for an entry that is damaged or
    is not a run record; (None, None) if absent."""
    row, problem = read_cached(cache, key)
    if row is None:
        return None, problem
    try:
        return RunRecord.from_dict(row), None
    except (ValueError, TypeError) as err:
        return None, f"{_cache_file(cache, key).name} is not a run record ({err})"
