"""Determinism keys: the facts that change a gated figure, and no others, in one table.

A stored figure judges a new one exactly where their keys match, whatever else differs between
the two machines. Each key is justified by a measurement (docs/determinism-keys.md). The facts
are read from the entry itself (`key_facts`, stored when it was recorded), else from its run's
machine_info, so one committed file can hold entries of several machine kinds. No torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import fields

# The ATen CPU capability torch reports (torch.backends.cpu.get_cpu_capability()), derived from
# the CPU flags for runs recorded before it was stored: the level ATen and oneDNN dispatch on.
_ISA_FLAGS = (
    ("AVX512", ("avx512f", "avx512bw", "avx512vl", "avx512dq")),
    ("AVX2", ("avx2", "fma")),
)


def isa_from_flags(flags: list[str] | None) -> str | None:
    """The ATen capability a CPU with these flags dispatches to (None: flags not recorded)."""
    if not flags:
        return None
    have = set(flags)
    for level, needed in _ISA_FLAGS:
        if have.issuperset(needed):
            return level
    return "DEFAULT"


def _python(info: dict[str, Any]) -> str | None:
    version = info.get("python_version")
    return ".".join(str(version).split(".")[:2]) if version else None


def _isa(info: dict[str, Any]) -> str | None:
    if info.get("isa"):
        return str(info["isa"]).upper()
    cpu = info.get("cpu") if isinstance(info.get("cpu"), dict) else {}
    return isa_from_flags(cpu.get("flags"))


# fact -> how a run's machine_info says it
MACHINE_FACTS = {
    "system": lambda i: i.get("system"),
    "arch": lambda i: i.get("machine"),
    "python": _python,
    "torch": lambda i: i.get("torch"),
    "torchvision": lambda i: i.get("torchvision"),
    "device": lambda i: i.get("device", "cpu"),
    "gpu": lambda i: i.get("gpu_name"),
    "isa": _isa,
    "cpu_model": lambda i: i.get("cpu_model"),
}
# the packages whose version alone may differ under a declared cross-version band
VERSIONED = ("torch", "torchvision")


@dataclass(frozen=True)
class Key:
    """A named set of facts; `why` is the measurement that put each fact in (or left it out)."""

    name: str
    facts: tuple[str, ...]
    why: str


_BUILD = ("system", "arch", "python", "torch", "torchvision", "device", "gpu")
KEYS: dict[str, Key] = {
    k.name: k
    for k in (
        Key("build", _BUILD,
            "operator counts and data digests: the same on an Intel Xeon and an AMD EPYC, and "
            "on each at 1 and 2 threads and at the AVX2 and AVX-512 levels"),
        Key("kernels", (*_BUILD, "isa", "threads"),
            "tensor bytes: identical across CPU models at one ISA level; on both kinds the AVX2 "
            "level moved 25 of 160, 2 threads 1 of 160 (oneDNN's convolution kernels and buffers)"),
        Key("numerics", (*_BUILD, "isa", "threads", "cpu_model"),
            "unpinned float work: 10 of 12 seeded final losses differ between an Intel Xeon and "
            "an AMD EPYC at one ISA level; with MKL, ATen and oneDNN pinned to AVX2, 2 of 3 "
            "still do"),
        Key("pinned", (*_BUILD, "threads", "numeric_path"),
            "seeded training on the pinned numeric path (MKL COMPATIBLE, ATen and oneDNN at "
            "AVX2): the same bits on an Intel Xeon and an AMD EPYC"),
    )
}  # fmt: skip
# The two keys that are not sets of facts: an instruction count carries its own key
# (measure/instruction_rules.py), and a time compares only on the same machine kind.
INSTRUCTIONS = "instructions"
MACHINE = "machine"
NAMES = (*KEYS, INSTRUCTIONS, MACHINE)


def facts_of(machine_info: dict[str, Any]) -> dict[str, Any]:
    """The machine facts of a run, as an entry stores them (fields.KEY_FACTS)."""
    return {name: read(machine_info) for name, read in MACHINE_FACTS.items()}


# fact -> the extra_info field an entry states it in: what the test itself set, not the machine
ENTRY_FACTS = {"threads": fields.THREADS, "numeric_path": fields.NUMERIC_PATH}


def entry_facts(machine_info: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Every fact of one entry: those it stored when recorded, else its run's machine_info's;
    those it states itself (ENTRY_FACTS: its thread count, a pinned training's numeric path)."""
    stored = extra.get(fields.KEY_FACTS)
    base = stored if isinstance(stored, dict) else facts_of(machine_info)
    return {**base, **{fact: extra.get(name) for fact, name in ENTRY_FACTS.items()}}


def difference(
    key: str, machines: tuple[dict[str, Any], dict[str, Any]],
    entries: tuple[dict[str, Any], dict[str, Any]],
) -> dict[str, tuple[Any, Any]]:  # fmt: skip
    """The facts of `key` in which two entries differ, as (then, now)."""
    then = entry_facts(machines[0], entries[0])
    now = entry_facts(machines[1], entries[1])
    return {f: (then.get(f), now.get(f)) for f in KEYS[key].facts if then.get(f) != now.get(f)}


def describe(key: str | None) -> str:
    """A key as the policy table names it."""
    return "anywhere" if key is None else key


def key_table() -> list[list[str]]:
    """key, facts, why: every key of the policy table (docs/determinism-keys.md)."""
    rows = [[k.name, ", ".join(k.facts), k.why] for k in KEYS.values()]
    rows.append(
        [
            INSTRUCTIONS,
            "the instruction key each count stores (torch build, Python, "
            "arch, ISA level under the worker's pins, valgrind, what a count leaves out)",
            "measure/instruction_key.py; the CPU vendor aside",
        ]
    )
    rows.append(
        [
            MACHINE,
            "OS, Python, arch, CPU model and count, device, GPU",
            "a time compares only on the same machine kind",
        ]
    )
    return rows
