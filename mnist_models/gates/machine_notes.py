"""What differs between the machine a baseline was recorded on and this one, in one line.

pytest-benchmark warns with both machine_info blobs (3 KB of JSON each) whenever anything
differs, a kernel release or one CPU flag included. Here the note says what differs and whether
it matters: the same machine kind means the time gates apply (machine.machine_kind).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..machine import same_machine

# pytest-benchmark's own cpu fields that say nothing a reader needs in the one line
_CPU_NOISE = ("hz_actual", "hz_actual_friendly", "hz_advertised", "hz_advertised_friendly")


def _flat(info: dict[str, Any]) -> dict[str, Any]:
    """machine_info with the nested `cpu` dict flattened to cpu.KEY (flags kept as a set)."""
    out = {k: v for k, v in info.items() if k != "cpu"}
    cpu = info.get("cpu")
    if isinstance(cpu, dict):
        for key, value in cpu.items():
            if key in _CPU_NOISE:
                continue
            is_flags = key == "flags" and isinstance(value, list)
            out[f"cpu.{key}"] = frozenset(value) if is_flags else value
    return out


def machine_diff(then: dict[str, Any], now: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, baseline's value, this machine's value) for every field that differs."""
    then, now = (json.loads(json.dumps(i, default=str)) for i in (then, now))  # tuples as lists
    a, b = _flat(then), _flat(now)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _short(key: str, old: Any, new: Any) -> str:
    if key == "cpu.flags" and isinstance(old, frozenset) and isinstance(new, frozenset):
        return f"{len(old ^ new)} CPU flags differ"
    if key == "release" and isinstance(old, str) and isinstance(new, str):
        common = 0
        while common < min(len(old), len(new)) and old[common] == new[common]:
            common += 1
        cut = old.rfind("-", 0, common) + 1 if "-" in old[:common] else 0
        return f"kernel {old} vs -{new[cut:]}" if cut else f"kernel {old} vs {new}"
    return f"{key} {old} vs {new}"


def machine_note(
    then: dict[str, Any], now: dict[str, Any], *, verbose: bool = False, base_run: bool = False
) -> list[str]:
    """One line (and with `verbose` one more line per differing field) about the baseline's
    machine against this one; no line when nothing differs. `base_run`: a base run of this
    machine (--gate-base) judges what the baseline cannot here."""
    diff = machine_diff(then, now)
    if not diff:
        return []
    same_kind = same_machine(then, now)
    verdict = "same kind: time gates apply" if same_kind else "another kind: time gates not applied"
    if base_run and not same_kind:
        verdict = "another kind: times judged A/B or by a base run of this machine (--gate-base)"
    shown = [_short(k, a, b) for k, a, b in diff if k not in ("node",)]
    head = "; ".join(shown[:4]) + (f"; {len(shown) - 4} more" if len(shown) > 4 else "")
    lines = [f"machine: {head or 'host name differs'}; {verdict} (-v for every difference)"]
    if verbose:
        for key, old, new in diff:
            if isinstance(old, frozenset) or isinstance(new, frozenset):
                old_set, new_set = old or frozenset(), new or frozenset()
                gone, added = sorted(old_set - new_set), sorted(new_set - old_set)
                lines.append(f"  {key}: only in the baseline {gone}; only here {added}")
            else:
                lines.append(f"  {key}: baseline {old!r}, here {new!r}")
    return lines


@contextmanager
def instead_of_the_warning(logger: Any) -> Iterator[None]:
    """pytest-benchmark's "machine_info is different" warning (its logger's) held back while
    its own hook runs; any other warning passes. Restored on the way out."""
    warning = logger.warning
    logger.warning = lambda text, *a, **k: (
        None if "machine_info is different" in text else warning(text, *a, **k)
    )
    try:
        yield
    finally:
        logger.warning = warning
