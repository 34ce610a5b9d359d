"""The instruction lane's plumbing without valgrind: cases, dump parsing, the training subsets,
and a worker failure reported with its log. The real counting runs in test_lanes.py."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from fakes import LAYOUT_DUMP

from mnist_models.measure import instruction_key, instructions, launch_folder
from mnist_models.measure.instruction_case import InstructionCase
from mnist_models.measure.instructions import (
    CallgrindRun,
    InstructionCount,
    InstructionLaneError,
    parse_totals,
    prepare_training_data,
)


def forward(key: str = "mlp-16@28-bs1", calls: int = 5) -> InstructionCase:
    return InstructionCase(key, "forward", "mlp-16", "28", 1, calls=calls)


def test_totals_are_read_from_a_callgrind_dump(tmp_path: Path) -> None:
    dump = tmp_path / "cg.out.3"
    dump.write_text("version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 12345\n")
    assert parse_totals(dump) == 12345
    dump.write_text("events: Ir\nsummary: 7\ntotals: 40586366\n")
    assert parse_totals(dump) == 40586366
    dump.write_text("not a dump\n")
    with pytest.raises(ValueError, match="no totals line"):
        parse_totals(dump)


@pytest.mark.parametrize("parts, read", [((1, 2), 2), ((1,), 1), ((1, 2, 10), 10)])
def test_the_measured_dump_is_the_childs_last(tmp_path: Path, parts: tuple, read: int) -> None:
    # a child zeroes the counters with a first dump, then dumps its measured calls; a worker of
    # an older revision (compare, explain --against) wrote the measured calls as its only dump
    for part in parts:
        (tmp_path / f"cg.out.7.{part}").write_text("totals: 1\n")
    (tmp_path / "cg.out.77.9").write_text("totals: 1\n")  # another child's
    run = CallgrindRun([forward()], tmp_path)
    assert run._measured_dump(forward(), 7) == tmp_path / f"cg.out.7.{read}"


def test_a_child_without_a_dump_is_named(tmp_path: Path) -> None:
    with pytest.raises(instructions.InstructionLaneError, match="process 8 left no dump"):
        CallgrindRun([forward()], tmp_path)._measured_dump(forward(), 8)


def test_counts_per_call_step_and_sample() -> None:
    fwd = InstructionCount(forward(calls=5), 1_000_000, "k")
    assert fwd.per_call == 200_000 and fwd.per_sample == 200_000
    batched = InstructionCount(InstructionCase("k", "forward", "m", "28", 64, calls=2), 640, "k")
    assert batched.per_call == 320 and batched.per_sample == 5
    train = InstructionCount(InstructionCase("t", "train", "m", "28", 64, steps=10), 6400, "k")
    assert train.per_call == 640 and train.per_sample == 10


def test_a_finished_workers_count_is_its_dumps_total_less_what_it_leaves_out(
    tmp_path: Path,
) -> None:
    case = forward()
    done = {**case.__dict__, "dump": 7, "seconds": 1.0}
    key = {"torch": "2.14.1", "left_out": instruction_key.LEFT_OUT}
    (tmp_path / "result.json").write_text(json.dumps({"key": key, "cases": [done]}))
    (tmp_path / "cg.out.7.1").write_text(LAYOUT_DUMP)
    run = CallgrindRun([case], tmp_path)
    run.proc = subprocess.Popen([sys.executable, "-c", ""])  # a worker that has finished
    count = run.counts()[case.key]
    assert (count.total, count.left_out) == (1165 - 195, 195)
    assert count.per_call == (1165 - 195) / 5
    assert count.key == "torch=2.14.1 left_out=type-cache,allocator,pymalloc"  # as stored


def test_unknown_case_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="forward or train"):
        InstructionCase("x", "backward", "mlp-16", "28", 1)


def test_training_subsets_are_the_start_of_the_seeded_split(
    fake_mnist: Path, tmp_path: Path
) -> None:
    case = InstructionCase("t", "train", "mlp-16", "28", 4, steps=3)
    prepared = prepare_training_data([forward(), case], tmp_path, fake_mnist)
    assert prepared[0] == forward()  # forward cases need no data
    x, y = torch.load(prepared[1].data)
    assert x.shape == (12, 1, 28, 28) and y.shape == (12,)  # steps x batch size


def executable(path: Path, script: str) -> str:
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.parametrize(
    "python, valgrind, error, said",
    [
        (
            "exit 0\n",
            "echo 'worker: something broke' >&2\nexit 3\n",
            "worker failed .exit 3",
            "something broke",
        ),
        (
            "echo 'No module named torch' >&2\nexit 2\n",
            "exit 0\n",
            "compiling .* failed .exit 2",
            "No module named torch",
        ),
    ],
    ids=["worker", "compile"],
)
def test_a_failing_worker_is_reported_with_its_log(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    python: str,
    valgrind: str,
    error: str,
    said: str,
) -> None:
    fake = executable(tmp_path / "valgrind", valgrind)
    monkeypatch.setattr(instructions, "valgrind_path", lambda: fake)
    run = CallgrindRun(
        [forward()], tmp_path / "work", python=executable(tmp_path / "python", python)
    )
    with pytest.raises(InstructionLaneError, match=error) as err:
        run.start().counts()
    assert said in str(err.value)
    work = (tmp_path / "work").resolve()
    launched = [p for p in Path("/tmp").glob("mnist-bench-*") if (p / "run").resolve() == work]
    assert not launched  # the launch folder is removed


def ended(pid: int) -> bool:
    """The process is gone or a zombie (a container's first process may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_parent_takes_its_worker_with_it_and_the_next_run_removes_its_folder(
    tmp_path: Path,
) -> None:
    valgrind = executable(tmp_path / "valgrind", "exec sleep 300\n")  # the worker, still counting
    python = executable(tmp_path / "python", "exit 0\n")
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from mnist_models.measure import instructions, launch_folder\n"
            "from mnist_models.measure.instruction_case import InstructionCase\n"
            f"launch_folder.BASE = Path({str(tmp_path)!r})\n"
            f"instructions.valgrind_path = lambda: {valgrind!r}\n"
            "case = InstructionCase('m@28-bs1', 'forward', 'm', '28', 1, calls=1)\n"
            f"run = instructions.CallgrindRun([case], Path({str(tmp_path / 'work')!r}),\n"
            f"                                 python={python!r}).start()\n"
            "print(run.proc.pid, flush=True)\n"
            "time.sleep(300)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    with parent:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        (folder,) = tmp_path.glob("mnist-bench-*")
        assert not ended(worker)
        parent.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 60  # a liveness bound, not a timing: it ends at once
    while not ended(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ended(worker)
    assert folder.is_dir()  # nobody removed it; the next run on this machine does
    assert launch_folder.remove_abandoned(tmp_path) == [folder]
    assert not folder.exists()


LOADED = """
import importlib.metadata as md, json, sys
from mnist_models.measure.instruction_worker import compile_modules
compile_modules()
names = md.packages_distributions()
loaded = {d for m in list(sys.modules) for d in names.get(m.split(".")[0], [])}
print(json.dumps({d: md.version(d) for d in loaded if d != "mnist-bench"}))
"""


def test_the_constraints_pin_every_distribution_the_worker_loads() -> None:
    """Another version of numpy, typing_extensions, tqdm or setuptools moved batch-1 counts by
    up to 0.55% with the code unchanged (docs/determinism-keys.md, "Counts and paths"): what
    the worker loads is pinned at the versions the committed counts were recorded with."""
    out = subprocess.run(
        [sys.executable, "-c", LOADED], capture_output=True, text=True, check=True, timeout=300
    )
    loaded = json.loads(out.stdout.splitlines()[-1])
    assert {"torch", "numpy"} <= set(loaded)

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    text = (Path(__file__).parents[1] / "constraints.txt").read_text()
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.MULTILINE))
    pinned = {canonical(k): v for k, v in pinned.items()}
    wanted = sorted(f"{d}=={v}" for d, v in loaded.items() if pinned.get(canonical(d)) != v)
    assert not wanted, "constraints.txt should pin what the instruction worker loads: " + ", ".join(
        wanted
    )


def test_missing_valgrind_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instructions, "valgrind_path", lambda: None)
    with pytest.raises(InstructionLaneError, match="apt-get install valgrind"):
        CallgrindRun([forward()], Path(os.devnull)).start()


@pytest.mark.parametrize(
    "started_by",
    [
        {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8"},
        {
            "PATH": "/opt/hostedtoolcache/Python/3.11/x64/bin:/usr/bin",
            "HOME": "/github/home",
            "LC_ALL": "en_US.UTF-8",
            "PYTEST_CURRENT_TEST": "benchmarks/bench_x.py::test_y (setup)",
            "COLUMNS": "211",
            "XDG_CACHE_HOME": "/runner/cache",
            "MNIST_BENCH_DATA": "/runner/data",
        },
    ],
    ids=["terminal", "ci-job"],
)
def test_the_worker_inherits_only_what_selects_its_code(
    monkeypatch: pytest.MonkeyPatch, started_by: dict[str, str]
) -> None:
    """A CI job's own PATH and HOME moved batch-1 counts by 0.54%: the worker inherits its
    search paths and a user's registered models, and every other variable is fixed."""
    for name in ("LANG", "LC_ALL", "XDG_CACHE_HOME", "TMPDIR", "LD_LIBRARY_PATH", "PYTHONPATH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**started_by, "MNIST_BENCH_MODELS": "net=pkg:Net"}.items():
        monkeypatch.setenv(name, value)
    env = instruction_key.worker_environment()
    assert env == {"MNIST_BENCH_MODELS": "net=pkg:Net", **instruction_key.FIXED_ENV}
    monkeypatch.setenv("PYTHONPATH", "/src/user")
    assert instruction_key.worker_environment()["PYTHONPATH"] == "/src/user"


@pytest.mark.parametrize(
    "script, error",
    [
        ("echo 'PID 42: python'\necho '  OK.'\nexit 0\n", None),
        ("echo 'Error: Callgrind task with PID/name 42 not detected.' >&2\nexit 1\n", "exit 1"),
    ],
)
def test_switching_instrumentation_on_reads_the_tools_output_only_when_it_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str, error: str | None
) -> None:
    from mnist_models.measure import instruction_worker

    control = tmp_path / "callgrind_control"
    control.write_text("#!/bin/sh\n" + script)
    control.chmod(control.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(instruction_worker.shutil, "which", lambda name: str(control))
    if error is None:
        instruction_worker._instrumentation_on()
    else:
        with pytest.raises(RuntimeError, match=error) as err:
            instruction_worker._instrumentation_on()
        assert "not detected" in str(err.value) and str(control) in str(err.value)
