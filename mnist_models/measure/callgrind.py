"""What a callgrind dump says about where the instructions went: per ATen operator (the calls of
`at::_ops::<op>::call` and the instructions inside them) and per library (the instructions each
shared object executed itself). Stored with a count, it lets a failing instruction gate say
what moved: `aten::isnan +2 calls, +35,118 instructions`. It also says what a count leaves out:
the instructions whose number the memory layout decides (LAYOUT_BOUND).

The callgrind format (valgrind's docs, "Callgrind Format Specification"): `fn=` opens a
function's block, cost lines under it are its own cost, and `cfn=` / `calls=` lines are followed
by one cost line that is the inclusive cost of those calls. Names are compressed: `(id) name`
the first time, `(id)` after it. No torch here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

# a dispatched ATen operator: at::_ops::<name>::call(...); redispatches are inside a call
_OP = re.compile(r"at::_ops::(\w+)::call\(")
_NAMED = re.compile(r"\((\d+)\)(?: (.*))?")


def _lib_name(path: str) -> str:
    """libtorch_cpu.so for /.../torch/lib/libtorch_cpu.so; the binary's own name otherwise."""
    name = path.rsplit("/", 1)[-1]
    return re.sub(r"\.so(\.[\d.]+)?$", ".so", name) or "???"


# The functions whose cost depends on where the process's memory lies and what the heap's history
# left in it, not on the code: CPython's type attribute cache (a slot per type version and
# address of the name, which collide otherwise in each layout), glibc's allocator (its free
# lists) and CPython's small-object allocator, pymalloc (its pools). An unrelated package more
# in the environment moved mlp-128x4's batch-1 count by 0.72% through the first; an unused
# constant in a module the models import moved lenet5's by 0.23% through the second, and
# mlp-128x4's by 0.04% through the third (docs/determinism-keys.md, "What a count leaves out").
# A count leaves them out, as torch.utils.benchmark's FunctionCounts.denoise() leaves out
# CPython's dict lookups; the instruction key names what was left out (instruction_key.py).
LAYOUT_BOUND = {
    "type-cache": ("_PyType_Lookup",),
    "allocator": ("malloc", "free", "calloc", "realloc", "posix_memalign", "aligned_alloc",
                  "memalign"),
    "pymalloc": ("_PyObject_Malloc", "_PyObject_Calloc", "_PyObject_Realloc", "_PyObject_Free"),
}  # fmt: skip
# left out with everything they call; pymalloc's own instructions only (its pools are inlined
# into these four; a large object's memory comes from glibc's allocator, left out as that)
_WHOLE = frozenset(f for group in ("type-cache", "allocator") for f in LAYOUT_BOUND[group])
_OWN = frozenset(LAYOUT_BOUND["pymalloc"])


def _records(text: str) -> Iterator[tuple[str, str, str, int, int]]:
    """Each cost line of a dump as (object, function, callee, calls, cost): a function's own
    cost (callee "", calls 0) or the inclusive cost of its calls to `callee`."""
    names: dict[str, dict[str, str]] = {"ob": {}, "fn": {}}
    positions = 1
    obj = fn = ""
    callee = ""
    calls = None  # the count of the calls= line just read: the next cost line is inclusive

    def resolve(kind: str, value: str) -> str:
        match = _NAMED.fullmatch(value)
        if match is None:
            return value
        table = names[kind]
        if match[2] is not None:
            table[match[1]] = match[2]
        return table.get(match[1], value)

    for line in text.splitlines():
        if not line:
            continue
        head = line[0]
        if head.isdigit() or head in "+-*":
            tokens = line.split()
            cost = int(tokens[positions]) if len(tokens) > positions else 0
            if calls is not None:
                yield obj, fn, callee, calls, cost
                calls = None
            else:
                yield obj, fn, "", 0, cost
            continue
        key, _, value = line.partition("=")
        if key == "ob":
            obj = resolve("ob", value)
        elif key in ("cob", "cfi", "cfl", "fi", "fe", "fl"):
            if key == "cob":
                resolve("ob", value)
        elif key == "fn":
            fn = resolve("fn", value)
        elif key == "cfn":
            callee = resolve("fn", value)
        elif key == "calls":
            calls = int(value.split()[0])
        elif line.startswith("positions:"):
            positions = len(line.split(":", 1)[1].split())


def parse_profile(text: str) -> dict[str, dict[str, list[int]]]:
    """{"operator": {"aten::addmm": [calls, inclusive instructions]}, "library": {"libtorch_cpu.so":
    [0, self instructions]}} of one dump's text."""
    ops: dict[str, list[int]] = {}
    libs: dict[str, list[int]] = {}
    for obj, fn, callee, calls, cost in _records(text):
        if not callee:
            libs.setdefault(_lib_name(obj), [0, 0])[1] += cost
            continue
        op = _OP.match(callee)
        if op is not None and not fn.startswith(callee.split("(", 1)[0] + "("):
            entry = ops.setdefault(f"aten::{op[1]}", [0, 0])
            entry[0] += calls
            entry[1] += cost
    return {"operator": ops, "library": libs}


def layout_bound(text: str) -> int:
    """The instructions of one dump's text that LAYOUT_BOUND's functions decide: the inclusive
    cost of every call into the type cache or glibc's allocator from a function outside them (a
    call between two of them is inside the first), and pymalloc's own instructions."""
    return sum(
        cost
        for _, fn, callee, _, cost in _records(text)
        if (callee in _WHOLE and fn not in _WHOLE) or (not callee and fn in _OWN)
    )


def read_profile(path: Path) -> dict[str, dict[str, list[int]]]:
    """parse_profile of a dump file."""
    return parse_profile(path.read_text(errors="replace"))
