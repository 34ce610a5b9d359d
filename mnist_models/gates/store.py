"""The one store of saved runs and baselines: find, load (validated), merge and save.

The only module that opens a baseline or a saved run. Its readers are the plugin, `report`,
`history` and `mnist-models baseline`; its one writer, `record`, merges runs into a baseline
under a lock (read, merge and write again, so that two accepts never lose an update),
validated before and atomically written. Layout: pytest-benchmark's own
(`STORAGE/<machine id>/0001_baseline.json`), so its CLI reads the same files. No torch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import fields
from . import formats
from .schema import FORMAT, SchemaError, loads, validate_ab, validate_run

BASELINE_NAME = "0001_baseline.json"
RUN_HINT = "give a file written by `pytest --benchmark-json=FILE` or a saved baseline"


class BaselineError(SchemaError):
    """A baseline that cannot be found, read or trusted; the message names file and fix."""


def _read_json(path: Path, hint: str) -> Any:
    """A JSON file's content (NaN and Infinity refused); every problem is a SchemaError naming
    the file and `hint` (what to give instead)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError(f"no such file: {path}; {hint}") from None
    except IsADirectoryError:
        raise SchemaError(f"{path} is a folder; {hint}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SchemaError(f"cannot read {path} ({err}); {hint}") from None
    try:
        return loads(text)
    except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
        raise SchemaError(
            f"{path} is not valid JSON ({type(err).__name__}: {err}); {hint}"
        ) from None


def load_run_file(path: str | Path, hint: str = RUN_HINT, *, allow_empty: bool = False) -> dict:
    """Read, validate and bring to the current format a saved run or baseline; every problem is
    a SchemaError naming the file and `hint` (what to give instead)."""
    path = Path(path)
    data = _read_json(path, hint)
    try:
        formats.version(data, str(path))
        validate_run(data, str(path), allow_empty=allow_empty)
    except SchemaError as err:
        raise SchemaError(f"{err}; {hint}") from None
    return formats.upgrade_run(data, str(path))


def load_ab_file(path: str | Path) -> dict[str, Any]:
    """The JSON of `mnist-models compare --json -o FILE`, checked enough to render."""
    hint = "give `mnist-models compare -o` output"
    data = _read_json(Path(path), hint)
    return validate_ab(formats.check(data, str(path)), str(path))


@dataclass
class Baseline:
    path: Path
    entries: dict[str, dict[str, Any]]
    machine_info: dict[str, Any]

    @classmethod
    def load(cls, path: Path, baseline_command: str = "") -> Baseline:
        """The baseline file, checked (schema.py); a BaselineError names file, entry, field."""
        fix = f"restore it with `git checkout -- {path}`" + (
            f" or record a new one with `{baseline_command}`" if baseline_command else ""
        )
        try:
            data = load_run_file(path, fix)
        except SchemaError as err:
            raise BaselineError(f"baseline {err}") from None
        # pytest-benchmark compares this file's machine info with the run's itself
        info = data.get("machine_info")
        if not isinstance(info, dict) or not isinstance(info.get("cpu", {}), dict):
            raise BaselineError(
                f"baseline {path}: 'machine_info' (with 'cpu' an object) is missing or "
                f"malformed; {fix}"
            )
        entries = {bench["fullname"]: bench for bench in data["benchmarks"]}
        return cls(path, entries, info)


def storage_path(storage: str) -> Path | None:
    """The folder of a file:// pytest-benchmark storage (None for elasticsearch)."""
    if "://" not in storage:
        return Path(storage)
    if storage.startswith("file://"):
        return Path(storage[len("file://") :])
    return None


def find_baseline(storage: Path, machine_id: str, compare: str | bool) -> Path | None:
    """The file `--benchmark-compare[=NAME]` means: bare, the committed baseline
    (BASELINE_NAME) of this machine id's folder, else of any machine's, and only where there is
    none the newest saved run, so that a run saved by `--benchmark-autosave` never silently
    replaces it; with NAME, as pytest-benchmark reads it, run NAME (a number, a file name
    prefix, `PLATFORM/NUMBER` or a path). Whether its figures apply is the engine's to say."""
    if compare is True:
        for found in (
            storage / machine_id / BASELINE_NAME,
            *sorted(storage.glob(f"*/{BASELINE_NAME}")),
        ):
            if found.is_file():
                return found
    if compare is not True:
        given = Path(str(compare))
        for candidate in (given, storage / given):
            if candidate.is_file():
                return candidate
        if "/" in str(compare):  # PLATFORM/0001: pytest-benchmark's documented form
            folder, _, prefix = str(compare).rpartition("/")
            found = sorted((storage / folder).glob(f"{prefix}*.json"))
            return found[-1] if found else None
    pattern = "[0-9][0-9][0-9][0-9]_*.json" if compare is True else f"{compare}*.json"
    own = sorted((storage / machine_id).glob(pattern))
    if own:
        return own[-1]
    others = sorted(storage.glob(f"*/{pattern}"), key=lambda p: (p.name, p.stat().st_mtime))
    return others[-1] if others else None


def baseline_file(storage: Path, machine_id: str) -> Path:
    """Where `record` writes this machine id's baseline."""
    return storage / machine_id / BASELINE_NAME


# --- merging -----------------------------------------------------------------------------------


def strip_samples(bench: dict) -> dict:
    """Keep the statistics, drop the raw per-round timings (megabytes, not needed to compare)."""
    return {**bench, "stats": {k: v for k, v in bench["stats"].items() if k != "data"}}


def median_run(runs: list[dict]) -> dict:
    """One run from several of the same code: per benchmark, the entry at the median of its
    first measured (non-exact) metric, timed metrics first; exact metrics must agree."""
    by_name = [{b["fullname"]: b for b in run["benchmarks"]} for run in runs]
    chosen = []
    for name, first in by_name[0].items():
        entries = [run[name] for run in by_name if name in run]
        gates = first.get("extra_info", {}).get(fields.GATES, {})
        exact = [m for m, spec in gates.items() if spec.get("direction") == "exact"]
        measured = sorted(
            (m for m in gates if m not in exact), key=lambda m: not gates[m].get("timed")
        )
        for metric in exact:
            values = {json.dumps(e["extra_info"].get(metric)) for e in entries}
            if len(values) > 1:
                raise SchemaError(
                    f"{name}: {metric} differs between the runs ({values}); "
                    "were they made from the same code?"
                )
        if measured:
            entries.sort(key=lambda e: e["extra_info"][measured[0]])
        chosen.append(entries[(len(entries) - 1) // 2])
    return {**runs[-1], "benchmarks": chosen}


def _never(name: str) -> bool:
    return False


def machine_bound(entry: dict) -> list[str]:
    """The gated figures of an entry that compare only on the machine kind it was recorded on:
    times (key "machine"). Every other key's facts travel with the entry (`with_key_facts`)."""
    from .keys import MACHINE
    from .rules import gated_metrics

    return [
        name
        for name, metric in gated_metrics(entry.get("extra_info") or {}).items()
        if metric.timed or MACHINE in (metric.key, metric.exact_key)
    ]


def _machine_info(old: dict, new: dict, kept: dict[str, dict], replaced: set[str]) -> dict:
    """Whose machine info the merged file carries: one file has one machine kind, and each
    entry's machine-bound figures must come from it. The new run's where it recorded every
    machine-bound entry kept; the old file's where the new entries have none (instruction
    counts, which carry their own key, or exact counts); otherwise a SchemaError."""
    from ..machine import kind_name, same_machine

    then, now = old.get("machine_info") or {}, new.get("machine_info") or {}
    if same_machine(then, now):
        return now
    left = [name for name, b in kept.items() if name not in replaced and machine_bound(b)]
    if not left:
        return now
    recorded = [b for b in new["benchmarks"] if machine_bound(b)]
    if not recorded:
        return then
    example = f"{recorded[0]['fullname']}: {', '.join(machine_bound(recorded[0]))}"
    raise SchemaError(
        f"the baseline was recorded on {kind_name(then)} and this run on {kind_name(now)}: "
        f"{len(recorded)} recorded test(s) hold figures that compare on one kind of machine "
        f"only (e.g. {example}), "
        f"and {len(left)} entries from the other kind would be mislabelled (e.g. {left[0]}); "
        "record those tests on the baseline's kind of machine, or the whole baseline here "
        "(`make baseline`), or into a storage of their own (--storage)"
    )


def merge(old: dict | None, new: dict, stale: Callable[[str], bool] = _never) -> dict:
    """The baseline after recording `new`: its entries replace those of the same tests, the
    entries that are `stale` (tests that no longer exist) go, the rest are kept. The machine
    info stays the old file's where only machine-independent entries were recorded on another
    kind of machine (`_machine_info`)."""
    kept = {b["fullname"]: b for b in (old or {}).get("benchmarks", []) if not stale(b["fullname"])}
    replaced = {b["fullname"] for b in new["benchmarks"]}
    machine = _machine_info(old, new, kept, replaced) if old else new.get("machine_info")
    info = new.get("machine_info") or {}
    kept.update(
        {b["fullname"]: formats.with_key_facts(strip_samples(b), info) for b in new["benchmarks"]}
    )
    benchmarks = sorted(kept.values(), key=lambda b: b["fullname"])
    return {
        **new,
        "machine_info": machine,
        "benchmarks": benchmarks,
        "mnist_bench": {"format": FORMAT},
    }


@dataclass(frozen=True)
class Recorded:
    path: Path
    recorded: int
    total: int


def record(target: Path, runs: list[dict], stale: Callable[[str], bool] = _never) -> Recorded:
    """Merge runs (read with load_run_file, so validated; their median per benchmark when
    several) into the baseline at `target`, under a lock on its folder: the file is read again
    under the lock, the merge validated, and the file replaced atomically. A SchemaError
    (nothing written) when the existing file or the merge is unsound, an OutputError when it
    cannot be written."""
    from ..atomic import check_writable, locked, write_text_atomic

    new = median_run(runs) if len(runs) > 1 else runs[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    check_writable(target)
    with locked(target.parent):
        old = None
        if target.exists():
            old = load_run_file(
                target, f"restore it (`git checkout -- {target}`) or move it away first"
            )
        merged = merge(old, new, stale)
        validate_run(merged, str(target))
        write_text_atomic(target, json.dumps(merged, indent=1, sort_keys=True) + "\n")
    return Recorded(target, len(new["benchmarks"]), len(merged["benchmarks"]))


@dataclass(frozen=True)
class Migrated:
    path: Path
    before: int  # the format the file had
    entries: int
    gated: int  # gated values compared before and after: all equal, or nothing was written


def migrate(path: Path) -> Migrated:
    """Rewrite a baseline at the current format (formats.upgrade_run), under its lock and
    atomically, after checking that every gated value and every declaration is unchanged."""
    from ..atomic import locked, write_text_atomic
    from .rules import gated_metrics

    hint = f"restore it (`git checkout -- {path}`)"
    with locked(path.parent):
        raw = _read_json(path, hint)
        before = formats.version(raw, str(path))
        upgraded = load_run_file(path, hint)
        old = {b["fullname"]: b["extra_info"] for b in raw["benchmarks"]}
        gated = 0
        for bench in upgraded["benchmarks"]:
            then, now = old[bench["fullname"]], bench["extra_info"]
            for name in gated_metrics(then):
                if then.get(name) != now.get(name) or gated_metrics(then) != gated_metrics(now):
                    raise SchemaError(f"{path}: migrating would change {bench['fullname']} {name}")
                gated += 1
        validate_run(upgraded, str(path))
        if before < FORMAT:
            write_text_atomic(path, json.dumps(upgraded, indent=1, sort_keys=True) + "\n")
    return Migrated(path, before, len(upgraded["benchmarks"]), gated)
