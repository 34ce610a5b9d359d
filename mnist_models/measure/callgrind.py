"""What a callgrind dump says about where the instructions went: per ATen operator (the calls of
`at::_ops::<op>::call` and the instructions inside them) and per library (the instructions each
shared object executed itself). Stored with a count, it lets a failing instruction gate say
what moved: `aten::isnan +2 calls, +35,118 instructions`.

The callgrind format (valgrind's docs, "Callgrind Format Specification"): `fn=` opens a
function's block, cost lines under it are its own cost, and `cfn=` / `calls=` lines are followed
by one cost line that is the inclusive cost of those calls. Names are compressed: `(id) name`
the first time, `(id)` after it. No torch here.
"""

from __future__ import annotations

import re
from pathlib import Path

# a dispatched ATen operator: at::_ops::<name>::call(...); redispatches are inside a call
_OP = re.compile(r"at::_ops::(\w+)::call\(")
_NAMED = re.compile(r"\((\d+)\)(?: (.*))?")


def _lib_name(path: str) -> str:
    """libtorch_cpu.so for /.../torch/lib/libtorch_cpu.so; the binary's own name otherwise."""
    name = path.rsplit("/", 1)[-1]
    return re.sub(r"\.so(\.[\d.]+)?$", ".so", name) or "???"


def parse_profile(text: str) -> dict[str, dict[str, list[int]]]:
    """{"operator": {"aten::addmm": [calls, inclusive instructions]}, "library": {"libtorch_cpu.so":
    [0, self instructions]}} of one dump's text."""
    names: dict[str, dict[str, str]] = {"ob": {}, "fn": {}}
    positions = 1
    obj = fn = ""
    callee = ""
    calls = None  # the count of the calls= line just read: the next cost line is inclusive
    ops: dict[str, list[int]] = {}
    libs: dict[str, list[int]] = {}

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
                op = _OP.match(callee)
                if op is not None and not fn.startswith(callee.split("(", 1)[0] + "("):
                    entry = ops.setdefault(f"aten::{op[1]}", [0, 0])
                    entry[0] += calls
                    entry[1] += cost
                calls = None
            else:
                libs.setdefault(_lib_name(obj), [0, 0])[1] += cost
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
    return {"operator": ops, "library": libs}


def read_profile(path: Path) -> dict[str, dict[str, list[int]]]:
    """parse_profile of a dump file."""
    return parse_profile(path.read_text(errors="replace"))
