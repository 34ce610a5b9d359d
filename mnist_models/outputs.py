"""Write a set of measured runs as a study folder: results.csv/json, summary.md, PNGs, index.md.

Shared by `mnist-models study` and `mnist-models report`; every file is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic
from .plots import PLOTS, write_plots
from .tables import csv_text, markdown_table, summarise


def write_outputs(
    out: Path,
    title: str,
    rows: list[dict[str, Any]],
    *,
    command: str,
    meta: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Everything a reader needs in `out`; returns the files written by kind."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(rows)
    table = markdown_table(summary)
    payload = {"title": title, "command": command, **(meta or {}), "summary": summary, "rows": rows}
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
    return files
