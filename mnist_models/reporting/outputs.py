"""Write a set of measured runs as a study folder: results.csv/json, summary.md, PNGs, index.md.

Shared by `mnist-models study` and `mnist-models report`; every file is written atomically.
A folder is written only if it is new, empty, or holds a marker (MARKER) of an earlier run of
the same command: a user's own summary.md or index.md is never overwritten (unless --force).
Files an earlier run wrote and this one does not (a plot no longer made) are removed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from ..errors import OutputError
from ..fields import FORMAT
from .plots import PLOTS, write_plots
from .tables import csv_text, study_table, summarise

MARKER = ".mnist-bench.json"


def _marker(out: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check_folder(out: Path, kind: str, *, force: bool = False) -> None:
    """Fail before any work if a `kind` command ("study", "report") may not write `out`."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder")
    if out.is_dir():
        present = sorted(p.name for p in out.iterdir())
        marker = _marker(out)
        ours = marker is not None and marker.get("kind") == kind
        if present and not ours and not force:
            shown = ", ".join(present[:4]) + (" ..." if len(present) > 4 else "")
            raise OutputError(
                f"--out {out} is not empty and was not written by `mnist-models {kind}` ({shown});"
                " give a new or empty folder, or add --force to write into it anyway"
            )
        cache = out / "cache"
        if kind == "study" and cache.exists() and not cache.is_dir():
            raise OutputError(
                f"{cache} is a file; the study caches its runs in that folder: move the file or "
                "give another --out"
            )
        return
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK):
        raise OutputError(f"cannot create folder {out}: {parent} is not a writable folder")


@contextmanager
def claimed(out: Path, kind: str, *, force: bool = False) -> Iterator[Path]:
    """`out`, checked and created for the block; removed again, with any folders made for it,
    if the block fails before writing a file (a failed command leaves no empty folders)."""
    check_folder(out, kind, force=force)
    made = [p for p in (out, *out.absolute().parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        if _marker(out) is None:  # an interrupted run's folder is still recognised as ours
            write_text_atomic(
                out / MARKER, json.dumps({"format": FORMAT, "kind": kind, "files": []}) + "\n"
            )
    except OSError as err:
        raise OutputError(f"cannot create folder {out} ({err.strerror})") from None
    try:
        yield out
    except BaseException:
        for folder in made:  # innermost first
            results = [p for p in folder.rglob("*") if p.is_file() and p.name != MARKER]
            if folder.is_dir() and not results:
                shutil.rmtree(folder, ignore_errors=True)
        raise


def write_outputs(
    out: Path,
    title: str,
    rows: list[dict[str, Any]],
    *,
    command: str,
    meta: dict[str, Any] | None = None,
    kind: str = "study",
    records: list[dict[str, Any]] | None = None,
) -> dict[str, Path]:
    """Everything a reader needs in `out`; returns the files written by kind. `rows` are table
    rows (tables.py); results.json holds `records` where given (a study's rows as stored),
    else the rows. Files a previous run of the same command wrote and this one did not are
    removed; MARKER lists what is written now."""
    out.mkdir(parents=True, exist_ok=True)
    before, command_kind = _marker(out) or {}, kind
    summary = summarise(rows)
    table = study_table(summary)
    payload = {"format": FORMAT, "title": title, "command": command, **(meta or {})}
    payload["summary"] = summary
    payload["rows"] = rows if records is None else records
    files = {
        "json": write_text_atomic(out / "results.json", json.dumps(payload, indent=1) + "\n"),
        "csv": write_text_atomic(out / "results.csv", csv_text(rows)),
        "summary": write_text_atomic(out / "summary.md", table + "\n"),
    }
    plots = write_plots(summary, out, title)
    files.update(plots)
    index = [f"# {title}", "", f"Reproduce: `{command}`", ""]
    if meta:
        index += [", ".join(f"{k}: {v}" for k, v in meta.items() if not isinstance(v, dict)), ""]
    index += [table, ""]
    for kind, path in plots.items():
        index += [f"## {PLOTS[kind]}", "", f"![{PLOTS[kind]}]({path.name})", ""]
    files["index"] = write_text_atomic(out / "index.md", "\n".join(index))
    written = sorted(path.name for path in files.values())
    for name in before.get("files", []):
        stale = out / str(name)
        if isinstance(name, str) and name not in written and "/" not in name and stale.is_file():
            stale.unlink()
    write_text_atomic(
        out / MARKER,
        json.dumps({"format": FORMAT, "kind": command_kind, "files": written}, indent=1) + "\n",
    )
    return files
