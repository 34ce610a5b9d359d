"""Where tensor memory was allocated, from torch.profiler's event tree (recorded with Python
stacks): each allocation named by the innermost Python functions outside torch that led to
it, the layer, and the operator the code called, `train._train > mlp.forward > Linear_1 >
aten::linear`. Grouped over what was alive at the peak and at the end of the call, it tells a
failing memory gate which site moved: `tensors 1 -> 300` at that site.
Functions are named without line numbers: the profiler records a Python call by the first line
of its function."""

from __future__ import annotations

import sys
from pathlib import PurePath
from typing import Any

SITES = 20  # the largest sites kept per figure: a breakdown stays a few hundred bytes
FRAMES = 2  # Python functions named per site, innermost last


def _is_own(path: str) -> bool:
    """A frame of the code under test: not torch's and not the standard library's. The
    profiler names a frame's file relative to its sys.path entry (`torch/nn/modules/...`,
    `contextlib.py`), or in full where none holds it (an editable install)."""
    top = path.lstrip("/").split("/", 1)[0].removesuffix(".py")
    if path.startswith("<") or top in ("torch", *sys.stdlib_module_names):
        return False
    return "/torch/" not in path and "/lib/python3" not in path


def site_of(event: Any, kinds: Any) -> str:
    """The site label of one allocation event of the tree: own functions, the module (layer)
    and the operator, outermost first."""
    op, layer, frames = "", "", []
    node = event.parent
    while node is not None and len(frames) < FRAMES:
        if node.tag == kinds.TorchOp and not (layer or frames):
            op = node.name  # the outermost below Python: the one the code called (aten::clone)
        elif node.tag == kinds.PyCall and node.name.startswith("nn.Module: "):
            layer = layer or node.name.removeprefix("nn.Module: ")
        elif node.tag == kinds.PyCall:
            where, _, function = node.name.partition("): ")
            path = where.rsplit("(", 1)[0]
            if _is_own(path):
                frames.append(f"{PurePath(path).stem}.{function}")
        node = node.parent
    return " > ".join([*reversed(frames), *([layer] if layer else []), op or "(no operator)"])


def _events(tree: list[Any], kinds: Any) -> list[Any]:
    out, stack = [], list(reversed(tree))
    while stack:
        node = stack.pop()
        if node.tag == kinds.Allocation:
            out.append(node)
        stack.extend(reversed(node.children))
    return sorted(out, key=lambda e: e.start_time_ns)  # stable: walk order among equal times


def allocation_sites(profiler: Any) -> dict[str, dict[str, list[int]]]:
    """{"peak": {site: [tensors, bytes]}, "retained": {...}} of a finished torch.profiler run
    (profile_memory=True, with_stack=True): what was alive at the peak, and at the end."""
    from torch._C._profiler import _EventType

    events = _events(profiler.profiler.kineto_results.experimental_event_tree(), _EventType)
    live: dict[int, tuple[int, str]] = {}
    total = peak = 0
    at_peak: dict[int, tuple[int, str]] = {}
    for event in events:
        alloc = event.typed[1]
        size, ptr = alloc.alloc_size, alloc.ptr
        if size > 0:
            live[ptr] = (size, site_of(event, _EventType))
        else:
            live.pop(ptr, None)
        total += size
        if total > peak:
            peak, at_peak = total, dict(live)
    return {"peak": _grouped(at_peak), "retained": _grouped(live)}


def _grouped(live: dict[int, tuple[int, str]]) -> dict[str, list[int]]:
    sites: dict[str, list[int]] = {}
    for size, site in live.values():
        entry = sites.setdefault(site, [0, 0])
        entry[0] += 1
        entry[1] += size
    largest = sorted(sites.items(), key=lambda kv: (-kv[1][1], kv[0]))[:SITES]
    return dict(largest)
