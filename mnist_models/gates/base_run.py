"""A base run on this machine: the base revision's benchmarks measured here, for what no
stored entry can judge (timed rows on a machine kind without a baseline, a key that differs,
a test with no stored entry), as `asv continuous` measures the base commit on the same machine.

The base revision (`--gate-base REV`, or `auto`: the merge-base of HEAD with the default
branch) is checked out in a throwaway git worktree and its selected tests run there in a
subprocess with the same interpreter; the run is cached by (commit, this machine's key), so
later runs reuse it. No torch, no pytest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..machine import machine_kind
from . import keys
from .schema import SchemaError

CACHE = ".mnist-bench/base-runs"  # under the project's root; ignored by its own .gitignore
ENV_CHILD = "MNIST_BENCH_BASE_RUN"  # set in the base run's process: it never starts another
PROGRESS = re.compile(r"\[\s*(\d+)%\]\s*$")  # pytest's progress, shown while the base run runs
DEFAULT_BRANCHES = ("origin/HEAD", "origin/main", "main", "origin/master", "master")
# The child keeps exactly the parent's selection, whatever the base revision's plugin knows:
# a plugin of its own, outside the worktree, reads the node ids from a file.
_SELECT_PLUGIN = """
import os, pathlib
WANTED = set(pathlib.Path(os.environ["MNIST_BENCH_BASE_SELECT"]).read_text().splitlines())
def pytest_collection_modifyitems(config, items):
    keep = [i for i in items if i.nodeid in WANTED]
    config.hook.pytest_deselected(items=[i for i in items if i.nodeid not in WANTED])
    items[:] = keep
"""


class BaseRunError(Exception):
    """Why no base run could be made here: said in the summary, the rows stay not applied."""


@dataclass(frozen=True)
class BaseRun:
    revision: str  # the commit measured
    path: Path  # the cached run (pytest-benchmark JSON)
    entries: dict[str, dict[str, Any]]
    machine_info: dict[str, Any]

    @property
    def label(self) -> str:
        return f"base run of {self.revision[:10]} here"


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BaseRunError(f"git {' '.join(args)} failed ({err})") from None
    if done.returncode != 0:
        raise BaseRunError(f"git {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout.strip()


def resolve(root: Path, given: str) -> str:
    """The commit to measure: REV as given, or for `auto` the merge-base of HEAD with the first
    default branch that exists (HEAD itself on that branch)."""
    if given != "auto":
        return _git(root, "rev-parse", "--verify", f"{given}^{{commit}}")
    for branch in DEFAULT_BRANCHES:
        try:
            _git(root, "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}")
        except BaseRunError:
            continue
        return _git(root, "merge-base", "HEAD", branch)
    return _git(root, "rev-parse", "--verify", "HEAD^{commit}")


def machine_key(machine_info: dict[str, Any]) -> str:
    """This machine's key for the cache: every fact any key reads, and the machine kind."""
    facts = {**keys.facts_of(machine_info), **machine_kind(machine_info)}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]


def cache_file(root: Path, commit: str, machine_info: dict[str, Any]) -> Path:
    return root / CACHE / f"{commit[:12]}-{machine_key(machine_info)}.json"


def _load(path: Path, commit: str) -> BaseRun | None:
    from .store import load_run_file

    if not path.is_file():
        return None
    try:
        data = load_run_file(path, "it is a cache: delete it")
    except SchemaError:
        return None
    entries = {b["fullname"]: b for b in data["benchmarks"]}
    return BaseRun(commit, path, entries, data.get("machine_info") or {})


def measure(
    root: Path, commit: str, nodeids: Iterable[str], machine_info: dict[str, Any],
    markexpr: str = "", progress: Callable[[str], None] | None = None,
) -> BaseRun:  # fmt: skip
    """The base run of `commit` for `nodeids`: the cached one where it holds them all, else the
    missing ones measured in a worktree and merged into the cache (atomically)."""
    from ..atomic import write_text_atomic
    from .store import load_run_file, merge

    path = cache_file(root, commit, machine_info)
    cached = _load(path, commit)
    wanted = sorted(set(nodeids) - set(cached.entries if cached else ()))
    if not wanted and cached is not None:
        return cached
    prefix = _git(root, "rev-parse", "--show-prefix")  # the project's folder in its repository
    with tempfile.TemporaryDirectory(prefix="mnist-bench-base-") as tmp:
        tree, out = Path(tmp) / "tree", Path(tmp) / "run.json"
        _git(root, "worktree", "prune")  # what an interrupted base run left registered
        _git(root, "worktree", "add", "--detach", "--quiet", str(tree), commit)
        try:
            _run(tree / prefix, Path(tmp), wanted, out, markexpr, progress)
        finally:
            _git(root, "worktree", "remove", "--force", str(tree))
        if not out.is_file():
            raise BaseRunError(f"the base run of {commit[:10]} wrote no results")
        new = load_run_file(out, "the base run's own output")
    old = None
    if cached is not None:
        old = {"benchmarks": list(cached.entries.values()), "machine_info": cached.machine_info}
    merged = merge(old, new)
    path.parent.mkdir(parents=True, exist_ok=True)
    ignore = root / CACHE.split("/")[0] / ".gitignore"
    if not ignore.exists():  # a cache, never committed (as .pytest_cache does it)
        ignore.write_text("# written by mnist-bench: the base runs it caches\n*\n")
    write_text_atomic(path, json.dumps(merged, indent=1, sort_keys=True) + "\n")
    loaded = _load(path, commit)
    if loaded is None:
        raise BaseRunError(f"the base run's cache {path} could not be read back")
    return loaded


def _run(
    tree: Path, tmp: Path, nodeids: list[str], out: Path, markexpr: str,
    progress: Callable[[str], None] | None,
) -> None:  # fmt: skip
    """pytest in the worktree on the files of `nodeids`, keeping exactly those."""
    files = sorted({n.split("::")[0] for n in nodeids if (tree / n.split("::")[0]).is_file()})
    if not files:
        raise BaseRunError("none of the tests exists in the base revision")
    (tmp / "select.txt").write_text("\n".join(nodeids) + "\n")
    (tmp / "mnist_bench_base_select.py").write_text(_SELECT_PLUGIN)
    env = {
        **os.environ,
        ENV_CHILD: "1",
        "MNIST_BENCH_BASE_SELECT": str(tmp / "select.txt"),
        "PYTHONPATH": os.pathsep.join(
            [str(tree), str(tmp), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    env.pop("PYTEST_ADDOPTS", None)
    command = [
        sys.executable, "-m", "pytest", *files, "-p", "mnist_bench_base_select",
        "-p", "no:cacheprovider", "-q", "--benchmark-json", str(out),
        *(["-m", markexpr] if markexpr else []),
    ]  # fmt: skip
    lines: list[str] = []
    with subprocess.Popen(
        command, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as child:
        for line in child.stdout:  # type: ignore[union-attr]
            lines.append(line.rstrip())
            shown = PROGRESS.search(line)
            if shown and progress is not None:
                progress(f"base run: {shown.group(1)}%")
    if child.returncode not in (0, 1) or not out.is_file():
        tail = [line for line in lines if line.strip()][-3:]
        raise BaseRunError(
            f"the base run exited {child.returncode}: {' | '.join(tail) or 'no output'}"
        )


def remove_cache(root: Path) -> None:
    shutil.rmtree(root / CACHE, ignore_errors=True)
