"""CPU instruction counts of forward passes and training steps, under valgrind's callgrind.

Wall time on a shared machine moves by 2x between runs; the number of instructions a piece of
code executes does not (two repeats here differed by under 0.05%). One valgrind process measures
every case of a run, so that importing torch under valgrind (45 s with instrumentation off) is
paid once:

    valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no \
        python -m mnist_models.measure.instructions SPEC.json OUT.json

The worker imports everything, switches instrumentation on (`callgrind_control -i on`), warms
up a fixed workload, then forks one child per case: the child warms its case up uncounted,
counts the measured calls between torch's collection toggles, dumps the counters
(`cg.out.<pid>.1`) and exits. Every case thus starts from the
same interpreter and heap state, whatever was counted before it: counted in one process one
after the other, a case's count moved by up to 1.6% with the cases before it (Python's
specialised bytecode and the allocator's state carry over). What the counts depend on is
recorded as the instruction key (`instruction_key`): a baseline is compared only where the
key matches.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .launch_folder import LaunchFolder, make_launch_folder

VALGRIND_HINT = (
    "install valgrind: `apt-get install valgrind` (Debian/Ubuntu), `dnf install valgrind` or "
    "`brew install valgrind`"
)
# The worker pins torch's kernel libraries to the SSE path every x86-64 CPU has: counts that
# do not depend on the host's vector units, 50x faster under valgrind (docs/deterministic-gates.md).
ISA_PINS = {
    "MKL_CBWR": "COMPATIBLE",  # MKL's SSE2 code path, the same on Intel and AMD
    "ONEDNN_MAX_CPU_ISA": "SSE41",  # oneDNN (convolutions)
    "ATEN_CPU_CAPABILITY": "default",  # ATen's vectorised elementwise kernels
}
# Collection is toggled around the measured calls only; these many calls are warm-up, uncounted.
WARMUP_CALLS = 1
TRAIN_WARMUP_STEPS = 2


@dataclass(frozen=True)
class InstructionCase:
    """One thing to count: `calls` forward passes at `batch_size`, or `steps` training steps.

    kind "forward": the model in eval mode under inference_mode, one fixed seeded input.
    kind "train": the project's own `train()` for one epoch of `steps` batches of `batch_size`
    images from the start of the seeded training split (`data` names the saved subset).
    """

    key: str  # the benchmark's run id, e.g. "mlp-1024@28-bs1"
    kind: str
    model: str
    resolution: str
    batch_size: int
    calls: int = 0
    steps: int = 0
    data: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("forward", "train"):
            raise ValueError(f"kind must be forward or train, got {self.kind!r}")

    @property
    def samples(self) -> int:
        """Images processed by the counted work (for instructions per sample)."""
        return self.batch_size * (self.calls if self.kind == "forward" else self.steps)


def valgrind_path() -> str | None:
    return shutil.which("valgrind")


def valgrind_version() -> str:
    path = valgrind_path()
    if path is None:
        return "missing"
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().removeprefix("valgrind-") or "unknown"


def instruction_key(cpu_capability: str) -> dict[str, str]:
    """What an instruction count depends on (measured, docs/deterministic-gates.md).

    The torch build (its kernels), the ISA level ATen and oneDNN dispatch to as seen under
    valgrind (`cpu_capability`; valgrind hides AVX-512, so AVX2 on most x86 hosts; forcing
    ATEN_CPU_CAPABILITY=default moved mlp-1024's count by tens of percent), the CPU vendor
    (recorded; under the ISA pins an AMD and an Intel host count alike within the bands, so it
    does not refuse a comparison: engine.UNDER_THE_PINS), the Python minor version (the
    interpreter's own work per module call) and valgrind's version. Thread count is always 1.
    """
    import torch

    from ..machine import cpu_vendor  # here, not at the top: the worker imports this module

    return {
        "torch": torch.__version__,
        "python": ".".join(platform.python_version().split(".")[:2]),
        "machine": platform.machine(),
        "cpu_vendor": cpu_vendor(),
        "cpu_capability": cpu_capability,
        "valgrind": valgrind_version(),
    }


# What the worker inherits, and nothing else (with the mnist-bench variables): the environment
# lies on the process's stack, so its size moves the counts (docs/deterministic-gates.md).
WORKER_ENV = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LD_LIBRARY_PATH", "PYTHONPATH",
              "VIRTUAL_ENV", "XDG_CACHE_HOME")  # fmt: skip


def worker_environment() -> dict[str, str]:
    """The instruction worker's environment: the same in every run of one checkout, whatever
    test, terminal or CI runner starts it."""
    return {k: v for k, v in os.environ.items() if k in WORKER_ENV or k.startswith("MNIST_BENCH_")}


def parse_totals(path: Path) -> int:
    """The event total (instructions, Ir) of one callgrind dump file."""
    text = path.read_text(errors="replace")
    match = re.search(r"^totals:\s+(\d+)", text, re.M) or re.search(
        r"^summary:\s+(\d+)", text, re.M
    )
    if match is None:
        raise ValueError(f"{path} has no totals line; is it a callgrind output file?")
    return int(match[1])


# --- the parent: start one worker for many cases, read its counts ------------------------------


class InstructionLaneError(RuntimeError):
    """The worker failed: its log's last lines say why."""


@dataclass(frozen=True)
class InstructionCount:
    """Instructions of one case: per forward call (or per training run of `steps` steps)."""

    case: InstructionCase
    total: int
    key: str  # the instruction key, compact: what the count depends on
    dump: str = ""  # the callgrind dump it was read from (while the run's folder exists)

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


def compact_key(key: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in key.items())


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
        env = {**worker_environment(), **ISA_PINS, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH")]))
        self._launch = launch = make_launch_folder(self.python, self.source, self.workdir, env)
        run = launch.run  # the run's folder as the worker names it
        cases = [
            replace(c, data=str(run / Path(c.data).relative_to(self.workdir)))
            if c.data and Path(c.data).is_relative_to(self.workdir)
            else c
            for c in self.cases
        ]
        (self.workdir / "spec.json").write_text(json.dumps({"cases": [asdict(c) for c in cases]}))
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    valgrind,
                    "--tool=callgrind",
                    "--instr-atstart=no",
                    "--collect-atstart=no",
                    f"--callgrind-out-file={run / 'cg.out'}.%p",
                    launch.python,
                    "-m",
                    "mnist_models.measure.instructions",
                    str(run / "spec.json"),
                    str(run / "result.json"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=launch.environment,
                cwd=launch.root,
            )
        return self

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
            self._counts[case.key] = InstructionCount(case, parse_totals(path), key, str(path))
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


# --- the worker (runs under valgrind) ------------------------------------------------------------


def _instrumentation_on() -> None:
    """Switch callgrind's instrumentation on for this process (it starts off: imports are 3x
    faster uninstrumented). Collection stays off until torch's toggle."""
    control = shutil.which("callgrind_control")
    if control is None:
        raise RuntimeError("callgrind_control not found beside valgrind")
    subprocess.run([control, "-i", "on", str(os.getpid())], check=True, capture_output=True)


def _forward(case: InstructionCase, torch: Any) -> None:
    from ..zoo.registry import get_config, get_model
    from .metrics import example_input

    _, res = get_config(case.model, case.resolution)
    model = get_model(case.model, res, seed=0).eval()
    x = example_input((1, res.size, res.size), case.batch_size)
    with torch.inference_mode():
        for _ in range(WARMUP_CALLS):
            model(x)
        torch._C._valgrind_toggle()
        for _ in range(case.calls):
            model(x)
        torch._C._valgrind_toggle_and_dump_stats()


def _train(case: InstructionCase, torch: Any) -> None:
    from ..zoo.registry import get_config, get_model
    from .data import MNISTData
    from .train import TrainConfig, train

    x, y = torch.load(case.data)
    _, res = get_config(case.model, case.resolution)
    empty_x, empty_y = x[:0], y[:0]

    def data(steps: int) -> MNISTData:
        n = steps * case.batch_size
        return MNISTData(res, x[:n], y[:n], empty_x, empty_y, empty_x, empty_y)

    config = TrainConfig(epochs=1, batch_size=case.batch_size, seed=0, threads=1)
    # an uncounted short run first: oneDNN primitives and kernels are created on first use
    train(get_model(case.model, res, seed=0), data(TRAIN_WARMUP_STEPS), config)
    model = get_model(case.model, res, seed=0)
    measured = data(case.steps)
    torch._C._valgrind_toggle()
    train(model, measured, config)
    torch._C._valgrind_toggle_and_dump_stats()


def _prepare(torch: Any) -> None:
    """The same uncounted workload before every run's cases, whatever they are: a forward pass
    and two training steps of an MLP and of a convolutional net, on zeros. The children forked
    after it reuse its translated code (a child that translates torch's paths itself took 11 s
    more per case) and start from its interpreter state."""
    from ..zoo.registry import get_config, get_model
    from .data import MNISTData
    from .train import TrainConfig, train

    for model_id in ("mlp-32", "lenet5"):
        _, res = get_config(model_id)
        x = torch.zeros(8, 1, res.size, res.size)
        y = torch.zeros(8, dtype=torch.long)
        none_x, none_y = x[:0], y[:0]
        data = MNISTData(res, x, y, none_x, none_y, none_x, none_y)
        model = get_model(model_id, res, seed=0)
        train(model, data, TrainConfig(epochs=1, batch_size=4, seed=0, threads=1))
        with torch.inference_mode():
            model.eval()(x[:1])


_EOF_CODE = 3  # a child that read no request: the worker has no more cases


def _zygote(requests: int, replies: int, torch: Any) -> None:
    """Fork one child per request and report its pid and exit status, until the requests end.

    Forked before the worker reads the spec, so every child starts from the same state
    whatever the selection: counted after 8 other cases instead of alone, cnn13's count moved
    by 0.22% and mlp-128's by 0.26% when the children were forked from the worker itself. The
    child, not this process, reads its request: nothing a case brings lands in this heap."""
    import select

    while True:
        select.select([requests], [], [])
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                line = b""
                while not line.endswith(b"\n"):
                    chunk = os.read(requests, 65536)
                    if not chunk:
                        os._exit(_EOF_CODE)
                    line += chunk
                case = InstructionCase(**json.loads(line))
                _forward(case, torch) if case.kind == "forward" else _train(case, torch)
                code = 0
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)  # no teardown: it takes a minute under valgrind and counts nothing
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code == _EOF_CODE:
            os._exit(0)
        os.write(replies, b"%d %d\n" % (pid, code))


def _start_zygote(torch: Any) -> tuple[int, int, int]:
    """(zygote pid, the requests' write end, the replies' read end)."""
    requests_r, requests_w = os.pipe()
    replies_r, replies_w = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        os.close(requests_w)
        os.close(replies_r)
        try:
            _zygote(requests_r, replies_w, torch)
        finally:
            os._exit(1)
    os.close(requests_r)
    os.close(replies_w)
    return pid, requests_w, replies_r


def _count(case: InstructionCase, requests: int, replies: Any) -> int:
    """Have a child of the zygote count `case`; the child's pid (its dump's name)."""
    os.write(requests, json.dumps(asdict(case)).encode() + b"\n")
    reply = replies.readline()
    if not reply:
        raise RuntimeError(f"counting {case.key}: the zygote process ended; see above")
    pid, code = (int(x) for x in reply.split())
    if code != 0:
        raise RuntimeError(f"counting {case.key} failed (exit status {code}); see above")
    return pid


def worker(spec_path: Path, out_path: Path) -> int:
    """Count every case of the spec; write {"key": ..., "cases": [...]} to out_path.

    Each case's dump (the pid of the child that counted it) is recorded with it: the parent
    reads the totals from the files.
    """
    started = time.perf_counter()
    import torch
    import torch.optim  # noqa: F401  (imported uninstrumented: 3x faster)

    from ..zoo import registry  # noqa: F401
    from . import data, metrics, train  # noqa: F401

    torch.set_num_threads(1)
    # A garbage collection falling inside the counted calls of one run and not of another moved
    # batch-1 counts by up to 1.5%: the collector never runs in a child. What the imports and
    # the warm-up made is frozen, shared by every child.
    gc.disable()
    if not torch._C._valgrind_supported_platform():
        raise RuntimeError("this torch build has no valgrind support")
    _instrumentation_on()
    _prepare(torch)
    gc.collect()
    gc.freeze()
    zygote, requests, replies_fd = _start_zygote(torch)
    spec = json.loads(spec_path.read_text())
    cases = [InstructionCase(**c) for c in spec["cases"]]
    done: list[dict[str, Any]] = []
    with os.fdopen(replies_fd, "rb") as replies:
        try:
            for case in cases:
                t0 = time.perf_counter()
                pid = _count(case, requests, replies)
                done.append({**asdict(case), "dump": pid, "seconds": time.perf_counter() - t0})
        finally:
            os.close(requests)  # the zygote's next child reads nothing and it exits
            os.waitpid(zygote, 0)
    result = {
        "key": instruction_key(torch.backends.cpu.get_cpu_capability()),
        "cases": done,
        "seconds": time.perf_counter() - started,
    }
    out_path.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    code = worker(Path(sys.argv[1]), Path(sys.argv[2]))
    sys.stdout.flush()
    # torch's teardown under valgrind takes about a minute and measures nothing
    os._exit(code)
