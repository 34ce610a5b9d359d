"""CPU instruction counts of forward passes and training steps, under valgrind's callgrind.

Wall time on a shared machine moves by 2x between runs; the number of instructions a piece of
code executes does not (two repeats here differed by under 0.05%). One valgrind process measures
every case of a run, so that importing torch under valgrind (45 s with instrumentation off) is
paid once:

    valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no \
        python -m mnist_models.measure.instruction_worker SPEC.json OUT.json

The worker imports everything, switches instrumentation on (`callgrind_control -i on`), warms
up a fixed workload, then forks one child per case: the child warms its case up uncounted,
counts the measured calls between torch's collection toggles, dumps the counters
(`cg.out.<pid>.1`) and exits. Every case thus starts from the
same interpreter and heap state, whatever was counted before it: counted in one process one
after the other, a case's count moved by up to 1.6% with the cases before it (Python's
specialised bytecode and the allocator's state carry over). What the counts depend on is
recorded as the instruction key (instruction_key.py): a baseline is compared only where the
key matches. A count leaves out the instructions that the process's memory layout decides, not
the code (callgrind.LAYOUT_BOUND: CPython's type attribute cache, glibc's allocator, pymalloc).
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .callgrind import layout_bound
from .instruction_case import TRAIN_WARMUP_STEPS, InstructionCase
from .instruction_key import compact_key, valgrind_path, worker_environment
from .launch_folder import LaunchFolder, make_launch_folder

VALGRIND_HINT = (
    "install valgrind: `apt-get install valgrind` (Debian/Ubuntu), `dnf install valgrind` or "
    "`brew install valgrind`"
)


def parse_totals(path: Path, text: str | None = None) -> int:
    """The event total (instructions, Ir) of one callgrind dump file (`text`: its text, where
    already read)."""
    text = path.read_text(errors="replace") if text is None else text
    match = re.search(r"^totals:\s+(\d+)", text, re.M) or re.search(
        r"^summary:\s+(\d+)", text, re.M
    )
    if match is None:
        raise ValueError(f"{path} has no totals line; is it a callgrind output file?")
    return int(match[1])


def ends_with_this_process() -> Callable[[], None] | None:
    """A `preexec_fn` for Popen: the child is killed when this process ends, however it ends
    (Linux's PR_SET_PDEATHSIG, kept across valgrind's exec). A worker whose parent was killed
    went on counting its cases, up to half an hour of a core. None where there is no prctl."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not in the forked child
    parent = os.getpid()

    def arm() -> None:
        prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent ended before the line above
            os._exit(1)

    return arm


class InstructionLaneError(RuntimeError):
    """The worker failed: its log's last lines say why."""


@dataclass(frozen=True)
class InstructionCount:
    """Instructions of one case: per forward call (or per training run of `steps` steps)."""

    case: InstructionCase
    total: int  # the dump's total less `left_out`
    key: str  # the instruction key, compact: what the count depends on
    dump: str = ""  # the callgrind dump it was read from (while the run's folder exists)
    left_out: int = 0  # instructions in callgrind.LAYOUT_BOUND's functions, not counted

    @property
    def per_call(self) -> float:
        """Per forward call; for training, per step."""
        return self.total / (self.case.calls if self.case.kind == "forward" else self.case.steps)

    @property
    def per_sample(self) -> float:
        return self.total / self.case.samples

    @property
    def units(self) -> int:
        """The calls (forward) or steps (training) the total covers."""
        return self.case.calls if self.case.kind == "forward" else self.case.steps

    def attribution(self) -> dict[str, Any]:
        """Where the instructions went, per ATen operator and library (callgrind.py), for the
        gate's `attribution` field; empty without the dump. Instructions only: callgrind
        counts calls even while collection is off, so a dump's call counts include the
        worker's warm-up (27 `aten::linear` calls for mlp-128's 5 counted passes), and zeroing
        the counters with a dump first does not reset them."""
        if not self.dump or not Path(self.dump).is_file():
            return {}
        from .callgrind import read_profile

        groups = read_profile(Path(self.dump))
        costs = {g: {k: [0, v[1]] for k, v in items.items()} for g, items in groups.items()}
        return {"per": self.units, "source": "callgrind", **costs}


def prepare_training_data(
    cases: list[InstructionCase], workdir: Path, root: Path | None = None
) -> list[InstructionCase]:
    """Save the training subset each training case reads (the start of the seeded training
    split at its resolution, as `train()` gets it) and name the file in the case."""
    import torch

    from .data import load_mnist

    needed: dict[str, int] = {}
    for case in cases:
        if case.kind == "train":
            n = max(case.steps, TRAIN_WARMUP_STEPS) * case.batch_size
            needed[case.resolution] = max(needed.get(case.resolution, 0), n)
    files = {}
    for resolution, n in needed.items():
        data = load_mnist(resolution, root=root, seed=0)
        files[resolution] = Path(workdir) / f"train-{resolution.replace(':', '_')}.pt"
        torch.save((data.train_x[:n].clone(), data.train_y[:n].clone()), files[resolution])
    return [
        replace(case, data=str(files[case.resolution])) if case.kind == "train" else case
        for case in cases
    ]


class CallgrindRun:
    """One valgrind worker counting every case of a run, started early and read when needed.

    `python`: the interpreter it runs under (default: this one), another environment's for
    `compare --env`; `source`: the folder whose `mnist_models` it imports (default: this
    package's), put first on its PYTHONPATH.
    """

    def __init__(
        self,
        cases: list[InstructionCase],
        workdir: Path,
        *,
        python: str | None = None,
        source: Path | None = None,
    ) -> None:
        self.cases, self.workdir = cases, Path(workdir)
        self.python = python or sys.executable
        self.source = Path(source) if source else Path(__file__).resolve().parents[2]
        self.proc: subprocess.Popen[bytes] | None = None
        self._launch: LaunchFolder | None = None
        self._counts: dict[str, InstructionCount] | None = None

    @property
    def log(self) -> Path:
        return self.workdir / "worker.log"

    def start(self) -> CallgrindRun:
        valgrind = valgrind_path()
        if valgrind is None:
            raise InstructionLaneError(f"valgrind is not installed; {VALGRIND_HINT}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._launch = launch = make_launch_folder(
            self.python,
            self.source,
            self.workdir,
            worker_environment(),
            valgrind,
            home=os.environ.get("HOME", ""),
        )
        run = launch.run  # the run's folder as the worker names it
        cases = [
            replace(c, data=str(run / Path(c.data).relative_to(self.workdir)))
            if c.data and Path(c.data).is_relative_to(self.workdir)
            else c
            for c in self.cases
        ]
        (self.workdir / "spec.json").write_text(json.dumps({"cases": [asdict(c) for c in cases]}))
        with open(self.log, "wb") as log:
            self._compile_modules(log)
            self.proc = subprocess.Popen(
                [
                    valgrind,
                    "--tool=callgrind",
                    "--instr-atstart=no",
                    "--collect-atstart=no",
                    f"--callgrind-out-file={run / 'cg.out'}.%p",
                    launch.python,
                    "-m",
                    "mnist_models.measure.instruction_worker",
                    str(run / "spec.json"),
                    str(run / "result.json"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=launch.environment,
                cwd=launch.root,
                preexec_fn=ends_with_this_process(),
            )
        return self

    def _compile_modules(self, log: Any) -> None:
        """The worker's modules compiled natively into the launch folder (compile_modules)."""
        launch = self._launch
        assert launch is not None
        env = {k: v for k, v in launch.environment.items() if k != "PYTHONDONTWRITEBYTECODE"}
        command = [launch.python, "-m", "mnist_models.measure.instruction_worker", "--compile"]
        code = subprocess.call(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=launch.root,
            preexec_fn=ends_with_this_process(),
        )
        if code != 0:
            log.flush()
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])
            self._remove_launch_folder()
            raise InstructionLaneError(
                f"compiling the instruction worker's modules failed (exit {code}):\n{tail}"
            )

    def counts(self, timeout: float = 3600.0) -> dict[str, InstructionCount]:
        """Wait for the worker (once) and return the count of every case by its key."""
        if self._counts is not None:
            return self._counts
        if self.proc is None:
            raise InstructionLaneError("the instruction worker was never started")
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise InstructionLaneError(
                f"the instruction worker took over {timeout:.0f} s and was stopped; log: {self.log}"
            ) from None
        self._remove_launch_folder()
        result_file = self.workdir / "result.json"
        if code != 0 or not result_file.is_file():
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])
            raise InstructionLaneError(f"the instruction worker failed (exit {code}):\n{tail}")
        result = json.loads(result_file.read_text())
        key = compact_key(result["key"])
        self._counts = {}
        for done in result["cases"]:
            dump, _ = done.pop("dump"), done.pop("seconds")
            case = InstructionCase(**done)
            path = self._measured_dump(case, dump)
            text = path.read_text(errors="replace")
            left_out = layout_bound(text)
            total = parse_totals(path, text) - left_out
            self._counts[case.key] = InstructionCount(case, total, key, str(path), left_out)
        return self._counts

    def _measured_dump(self, case: InstructionCase, pid: int) -> Path:
        """The last dump of the child that counted `case`: its measured calls."""
        dumps = [p for p in self.workdir.glob(f"cg.out.{pid}.*") if p.suffix[1:].isdigit()]
        if not dumps:
            raise InstructionLaneError(f"counting {case.key}: process {pid} left no dump")
        return max(dumps, key=lambda p: int(p.suffix[1:]))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._remove_launch_folder()

    def _remove_launch_folder(self) -> None:
        if self._launch is not None:
            self._launch.remove()
            self._launch = None
