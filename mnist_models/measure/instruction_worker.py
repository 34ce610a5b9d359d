"""The instruction worker: runs under valgrind, counts every case of a spec and writes their
dumps' names (instructions.py starts it and reads the counts):

    valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no \
        python -m mnist_models.measure.instruction_worker SPEC.json OUT.json

once `python -m mnist_models.measure.instruction_worker --compile` has run natively in the same
folder and environment (compile_modules).

What it imports before it forks its children is part of what the counts measure: keep it the
same (docs/determinism-keys.md, "Counts and paths")."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .instruction_case import TRAIN_WARMUP_STEPS, WARMUP_CALLS, InstructionCase


def _instrumentation_on() -> None:
    """Switch callgrind's instrumentation on for this process (it starts off: imports are 3x
    faster uninstrumented). Collection stays off until torch's toggle.

    The tool's output goes to a file, read only if it fails: read through pipes, it took as
    many reads as its chunks happened to arrive in, and what they left in the heap moved the
    counts under load (docs/determinism-keys.md, "Counts and paths")."""
    control = shutil.which("callgrind_control")
    if control is None:
        raise RuntimeError("callgrind_control not found beside valgrind")
    with tempfile.TemporaryFile() as output:
        command = [control, "-i", "on", str(os.getpid())]
        code = subprocess.call(command, stdout=output, stderr=subprocess.STDOUT)
        if code != 0:
            output.seek(0)
            said = output.read().decode(errors="replace").strip()
            raise RuntimeError(f"{' '.join(command)} failed (exit {code}): {said}")


def _forward(case: InstructionCase, torch: Any) -> None:
    from ..zoo.registry import get_config, get_model
    from .example_input import example_input

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


def _import_all() -> Any:
    """What the worker imports before it counts; torch."""
    import torch
    import torch.optim  # noqa: F401

    from ..zoo import registry  # noqa: F401
    from . import data, example_input, train  # noqa: F401

    return torch


def compile_modules() -> int:
    """Run natively before the worker, in its launch folder and environment: import what it
    imports and do its warm-up, so that every module's byte-code is compiled at the path the
    worker loads it from, into the launch folder's PYTHONPYCACHEPREFIX. Byte-code compiled
    elsewhere (an environment's own, at its folder) has its file names rewritten as it loads,
    and their lengths move the counts (docs/determinism-keys.md, "Counts and paths")."""
    torch = _import_all()
    torch.set_num_threads(1)
    _prepare(torch)
    return 0


def worker(spec_path: Path, out_path: Path) -> int:
    """Count every case of the spec; write {"key": ..., "cases": [...]} to out_path.

    Each case's dump (the pid of the child that counted it) is recorded with it: the parent
    reads the totals from the files.
    """
    started = time.perf_counter()
    torch = _import_all()  # uninstrumented: 3x faster
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
    from .instruction_key import instruction_key  # after the counts: nothing counted sees it

    result = {
        "key": instruction_key(torch.backends.cpu.get_cpu_capability()),
        "cases": done,
        "seconds": time.perf_counter() - started,
    }
    out_path.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--compile"]:
        code = compile_modules()
    else:
        code = worker(Path(sys.argv[1]), Path(sys.argv[2]))
    sys.stdout.flush()
    # torch's teardown under valgrind takes about a minute and measures nothing
    os._exit(code)
