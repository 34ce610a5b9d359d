"""Trends across commits: every merged run's gated figures in one JSON-lines store, per-metric
series, and the commits where a series stepped.

A per-PR gate cannot see slow drift: ten changes of +2% each stay inside every tolerance. The
store keeps one line per gated figure of each main-branch run (commit, date, machine kind,
benchmark, metric, value); the pull-request workflow appends to it on every merge and keeps it
on a branch of its own (docs/baselines.md, "History"). Steps are found with PELT (Killick,
Fearnhead & Eckley, JASA 2012) on the series scaled by its median, from the maintained
`ruptures` package, with a BIC-style penalty from the series' own noise (the median absolute
difference of neighbours): a step must be larger than the noise and than `min_effect` to be
reported.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import fields
from ..errors import ConfigError
from ..gates.rules import gated_metrics
from ..gates.schema import SchemaError, is_number, loads

FIELDS = ("commit", "date", "machine", "benchmark", "metric", "value")


def machine_label(info: dict[str, Any]) -> str:
    """The machine kind a series belongs to (machine.machine_kind, the one same-machine rule, as a
    label): runs of other kinds are separate series."""
    from ..machine import machine_kind

    kind = machine_kind(info)
    device = kind["gpu_name"] or kind[fields.DEVICE] or "cpu"
    return f"{kind['cpu_model']} x{kind['cpu_count']} {device} py{kind['python']}"


def git_commit(repo: Path | None = None) -> tuple[str, str]:
    """(commit id, commit date in ISO 8601) of HEAD, or a ConfigError."""
    try:
        out = subprocess.run(
            ["git", "-C", str(repo or Path.cwd()), "log", "-1", "--format=%H %cI"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        raise ConfigError(
            "cannot read the commit from git; pass --commit SHA and --date ISO-DATE"
        ) from None
    return out[0], out[1]


def points_from_run(run: dict[str, Any], commit: str, date: str) -> list[dict[str, Any]]:
    """One record per gated figure of a (validated) saved run."""
    machine = machine_label(run.get("machine_info") or {})
    points = []
    for bench in run["benchmarks"]:
        extra = bench.get("extra_info") or {}
        for metric, spec in sorted(gated_metrics(extra).items()):
            points.append(
                {
                    "format": fields.FORMAT,
                    "commit": commit,
                    "date": date,
                    "machine": machine,
                    "benchmark": bench["fullname"],
                    "metric": metric,
                    "direction": str(spec.direction),
                    "value": extra[metric],
                }
            )
    return points


COMMIT = re.compile(r"[0-9a-f]{7,40}")


def check_commit(commit: object, date: object) -> str:
    """Why a commit id and date are not what git gives ("" when they are): the id hex, the date
    ISO 8601. They reach command lines (`--confirm`) and plots: nothing else may pass."""
    if not isinstance(commit, str) or not COMMIT.fullmatch(commit):
        return f"commit must be a hex commit id (7 to 40 of 0-9a-f), got {str(commit)[:60]!r}"
    try:
        datetime.fromisoformat(date)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"date must be an ISO 8601 date, got {str(date)[:60]!r}"
    return ""


def check_point(record: object) -> str:
    """Why a store line is not a sound record ("" when it is): every field, typed."""
    if not isinstance(record, dict) or set(FIELDS) - set(record):
        return f"lacks one of {', '.join(FIELDS)}"
    wrong = check_commit(record["commit"], record["date"])
    if wrong:
        return wrong
    for name in ("machine", "benchmark", "metric"):
        if not isinstance(record[name], str) or not record[name]:
            return f"{name} must be a non-empty string, got {str(record[name])[:60]!r}"
    if record.get("direction") not in (None, "exact", "higher", "lower"):
        return f"direction must be exact, higher or lower, got {str(record['direction'])[:60]!r}"
    if not is_number(record["value"]):
        return "value must be a finite number"
    return ""


def load(store: Path) -> list[dict[str, Any]]:
    """Every record of the store (none if it does not exist yet); a SchemaError names the line
    and the field."""
    if not store.exists():
        return []
    try:
        text = store.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SchemaError(
            f"cannot read the history {store} ({err}); give a JSON-lines file"
        ) from None
    points = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = loads(line)
        except (ValueError, RecursionError) as err:
            raise SchemaError(f"{store}:{n} is not valid JSON ({type(err).__name__})") from None
        wrong = check_point(record)
        if (
            not wrong
            and isinstance(record.get("format", 0), int)
            and record.get("format", 0) > fields.FORMAT
        ):
            wrong = f"format {record['format']}, written by a newer mnist-bench; upgrade it"
        if wrong:
            raise SchemaError(f"{store}:{n}: {wrong}")
        points.append(record)
    return points


def append(store: Path, run: dict[str, Any], commit: str, date: str) -> int:
    """Add a run's figures to the store (replacing any earlier records of the same commit and
    machine, so a re-run does not count twice); returns how many were added."""
    from ..atomic import write_text_atomic

    new = points_from_run(run, commit, date)
    machines = {p["machine"] for p in new}
    kept = [p for p in load(store) if not (p["commit"] == commit and p["machine"] in machines)]
    store.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(p, sort_keys=True, allow_nan=False) for p in kept + new]
    write_text_atomic(store, "\n".join(lines) + "\n")
    return len(new)


@dataclass(frozen=True)
class Series:
    """One figure of one benchmark on one machine kind, in commit order."""

    benchmark: str
    metric: str
    machine: str
    commits: tuple[str, ...]
    dates: tuple[str, ...]
    values: tuple[float, ...]
    direction: str | None = None  # the gate's: an exact figure steps on any change

    @property
    def label(self) -> str:
        return f"{self.benchmark.split('::')[-1]} {self.metric}"


def series(points: Iterable[dict[str, Any]], pattern: str | None = None) -> list[Series]:
    """The store's series whose benchmark or metric contains `pattern` (all if None), each in
    date order (a commit's later record wins)."""
    grouped: dict[tuple[str, str, str], dict[str, tuple[str, float]]] = {}
    directions: dict[tuple[str, str, str], str | None] = {}
    for p in points:
        if pattern and pattern not in p["benchmark"] and pattern != p["metric"]:
            continue
        key = (p["benchmark"], p["metric"], p["machine"])
        grouped.setdefault(key, {})[p["commit"]] = (p["date"], float(p["value"]))
        directions[key] = p.get("direction")
    out = []
    for (bench, metric, machine), by_commit in sorted(grouped.items()):
        ordered = sorted(by_commit.items(), key=lambda item: item[1][0])
        out.append(
            Series(
                bench,
                metric,
                machine,
                tuple(c for c, _ in ordered),
                tuple(d for _, (d, _) in ordered),
                tuple(v for _, (_, v) in ordered),
                directions[(bench, metric, machine)],
            )
        )
    return out


@dataclass(frozen=True)
class Step:
    """A change point: the series' level moved between `before` and `after` (commits)."""

    index: int  # the first point of the new level
    before: str
    after: str
    level_before: float
    level_after: float

    @property
    def change(self) -> float:
        return (self.level_after - self.level_before) / abs(self.level_before or 1.0)


def steps(values: list[float] | tuple[float, ...], *, min_effect: float = 0.01) -> list[int]:
    """Indices where a new level starts (PELT, l2 cost, penalty 3 x noise^2 x log n), keeping
    only steps whose levels differ by at least `min_effect` (relative)."""
    import numpy as np
    import ruptures as rpt

    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 4:
        return []
    scale = float(np.median(np.abs(x))) or 1.0
    y = x / scale
    d = np.diff(y)
    sigma = 1.4826 * float(np.median(np.abs(d - np.median(d)))) / np.sqrt(2)
    sigma = max(sigma, 1e-9)
    ends = rpt.Pelt(model="l2", min_size=2, jump=1).fit(y).predict(pen=3 * sigma**2 * np.log(n))
    found = []
    bounds = [0, *ends]
    for i, end in enumerate(ends[:-1]):
        before = x[bounds[i] : end].mean()
        after = x[end : bounds[i + 2]].mean()
        if abs(after - before) >= min_effect * abs(before or 1.0):
            found.append(end)
    return found


def find_steps(s: Series, *, min_effect: float = 0.01) -> list[Step]:
    """The steps of a series, with the commits on either side and the levels (for an exact
    figure, any change of level)."""
    idx = steps(s.values, min_effect=0.0 if s.direction == "exact" else min_effect)
    bounds = [0, *idx, len(s.values)]
    out = []
    for i, at in enumerate(idx):
        before = s.values[bounds[i] : at]
        after = s.values[at : bounds[i + 2]]
        out.append(
            Step(
                at,
                s.commits[at - 1],
                s.commits[at],
                sum(before) / len(before),
                sum(after) / len(after),
            )
        )
    return out


def model_of(benchmark: str) -> str | None:
    """The model id (with @resolution) in a benchmark's name, for `compare --models`."""
    if "[" not in benchmark:
        return None
    param = benchmark.split("[", 1)[1].rstrip("]")
    head = param.split("-bs")[0]
    return head if "@" in head else None


def plot(s: Series, found: list[Step], path: Path) -> Path:
    """The series against commit order, each detected step marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
    ax.plot(range(len(s.values)), s.values, marker="o", markersize=3, linewidth=1)
    for step in found:
        ax.axvline(step.index - 0.5, color="tab:red", linestyle="--", linewidth=1)
        ax.annotate(
            f"{step.change:+.1%} at {step.after[:8]}",
            (step.index - 0.5, max(s.values)),
            fontsize=8,
            color="tab:red",
            rotation=90,
            va="top",
            ha="right",
        )
    ax.set_title(f"{s.label} ({s.machine})", fontsize=9)
    ax.set_xlabel("commit (oldest to newest)")
    ax.set_ylabel(s.metric)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path
