"""`mnist-models compare --env`: one version of the models in two Python environments (a
PyTorch upgrade), timed alternately, counted and checked for numerical drift.

A torch bump is one revision in two environments, which one process cannot hold. Each side
is a worker process started by that environment's interpreter (envworker.py), importing the
package from a source folder (the working tree, or a revision extracted from git). The parent
hands both the same input and data as files and times them in alternating blocks (one worker
is idle while the other's block runs), so the decision rule of `compare` applies unchanged.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..labels import batch_label

WORKER = Path(__file__).with_name("envworker.py")
# Each case is timed in this many rounds, each in a fresh pair of worker processes on models
# built afresh, its share of --seconds each (abtest.decide_rounds says why).
ROUNDS = 5
# What one request may take before the worker is called hung: a block of training calls of a
# large model on a slow machine is seconds; importing torch in a fresh environment, tens.
REQUEST_TIMEOUT_S = 600.0
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding this mnist_models/


def resolve_python(text: str) -> str:
    """An interpreter from `--env`: a Python executable, or a virtual environment's folder
    (its bin/python). A ConfigError naming the fix when it is neither."""
    path = Path(text).expanduser()
    if path.is_dir():
        for candidate in (path / "bin" / "python", path / "Scripts" / "python.exe"):
            if candidate.is_file():
                # absolute: the workers run in a folder of their own (a relative path broke the
                # dependency-bump step of the workflow, found under act)
                return os.path.abspath(candidate)
        raise ConfigError(
            f"--env {text}: a folder without bin/python; give a virtual environment's folder or "
            "its interpreter (make one with scripts/make-env.sh)"
        )
    found = shutil.which(text) if not path.exists() else str(path)
    if not found or not os.access(found, os.X_OK) or Path(found).is_dir():
        raise ConfigError(
            f"--env {text}: no such interpreter; give a Python executable or a virtual "
            "environment's folder (make one with scripts/make-env.sh)"
        )
    return os.path.abspath(found) if os.sep in found else found


@dataclass
class Environment:
    """One side: the interpreter, the folder whose mnist_models it imports, its name."""

    python: str
    source: Path = PACKAGE_ROOT
    label: str = ""
    info: dict[str, Any] = field(default_factory=dict)  # the worker's hello

    @property
    def name(self) -> str:
        """How tables name the side: its torch version, and where it came from."""
        torch = self.info.get("torch", "?")
        return f"torch {torch} ({self.label or self.python})"


class EnvWorker:
    """One environment's worker process; requests are answered one at a time."""

    def __init__(self, env: Environment, workdir: Path) -> None:
        self.env, self.workdir = env, Path(workdir)
        self.log = self.workdir / f"worker-{id(self)}.log"
        path = [str(env.source), *filter(None, [os.environ.get("PYTHONPATH")])]
        environ = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        try:
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    [env.python, str(WORKER)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env=environ,
                    cwd=self.workdir,
                    text=True,
                    bufsize=1,
                )
        except OSError as err:
            raise ConfigError(
                f"cannot start {env.python} ({err.strerror}); give --env an interpreter or a "
                "virtual environment's folder"
            ) from None

    def hello(self) -> None:
        """Wait for the worker to start; record what its environment is."""
        self.env.info = self.request("hello", timeout=REQUEST_TIMEOUT_S)

    def _fail(self, why: str) -> ConfigError:
        tail = self.log.read_text(errors="replace").strip().splitlines()[-6:]
        detail = ("; its log ends: " + " | ".join(tail)) if tail else ""
        return ConfigError(f"the worker of {self.env.python} {why}{detail}")

    def request(self, op: str, *, timeout: float = REQUEST_TIMEOUT_S, **fields: Any) -> dict:
        """Send one request; its reply, or a ConfigError naming the environment and why."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._fail(f"exited ({self.proc.poll()})") from None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise self._fail(f"did not answer {op!r} within {timeout:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            hint = (
                "; does that environment have torch and this project's dependencies? "
                "(scripts/make-env.sh makes one)"
                if op == "hello"
                else ""
            )
            raise self._fail(f"exited ({code}){hint}")
        reply = json.loads(line)
        if "error" in reply:
            raise self._fail(f"failed on {op!r}: {reply['error']}")
        return reply

    def runner(self) -> Callable[[int], Any]:
        """The block runner abtest.interleave calls: n calls timed in the worker."""
        import numpy as np

        return lambda n: np.asarray(self.request("run", calls=n)["us"])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@dataclass
class EnvPair:
    """Both sides' workers, started together and stopped together (a context manager)."""

    baseline: Environment
    candidate: Environment
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mnist-env-")))
    workers: tuple[EnvWorker, EnvWorker] | None = None

    def __enter__(self) -> EnvPair:
        self.start()
        return self

    def start(self) -> None:
        """Start both workers at once (each imports torch: seconds) and wait for both."""
        started: list[EnvWorker] = []
        try:
            for env in (self.baseline, self.candidate):
                started.append(EnvWorker(env, self.workdir))
            for worker in started:
                worker.hello()
        except BaseException:
            for worker in started:
                worker.close()
            raise
        self.workers = (started[0], started[1])

    def restart(self) -> None:
        """Fresh processes on both sides: a new memory layout of code and data (ASLR), which
        moves one process's speed by several percent, as pyperf's worker processes sample it."""
        self.stop()
        self.start()

    def stop(self) -> None:
        for worker in self.workers or ():
            worker.close()
        self.workers = None

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def file(self, name: str, value: object) -> str:
        """Save a tensor (or tuple of tensors) for both workers to load."""
        import torch

        path = self.workdir / name
        torch.save(value, path)
        return str(path)

    def both(self, op: str, **fields: Any) -> tuple[dict, dict]:
        assert self.workers is not None
        return tuple(w.request(op, **fields) for w in self.workers)  # type: ignore[return-value]


def headline(baseline: Environment, candidate: Environment) -> str:
    """What differs between the two environments, in one line ("torch 2.13.0 -> 2.14.1")."""
    keys = (
        "torch",
        "torchvision",
        "python",
        "numpy",
        "cpu_capability",
        "mkldnn",
        "sitecustomize",
        "settings",
    )
    changes = [
        f"{k} {baseline.info.get(k)} -> {candidate.info.get(k)}"
        for k in keys
        if baseline.info.get(k) != candidate.info.get(k)
    ]
    return "environment: " + (", ".join(changes) if changes else "the same versions on both sides")


def model_cases(models: Sequence[str]) -> list[tuple[str, str | None, str, Any]]:
    from ..zoo.registry import get_config, run_id
    from .compare import split_run_id

    out = []
    for text in models:
        model_id, resolution = split_run_id(text)
        config, res = get_config(model_id, resolution)
        out.append((model_id, resolution, run_id(config, res), res))
    return out


def compare_environments(
    pair: EnvPair,
    models: Sequence[str],
    batch_sizes: Sequence[int],
    settings: Any,
    *,
    data_for: Callable[[object], object] | None = None,
    steps: int = 4,
    train_batch_size: int = 64,
    on_result: Callable[[str, Any], None] | None = None,
) -> list[tuple[str, Any]]:
    """(label, ABResult) per model and batch size, and per model a training row when
    `data_for` is given (its own `train()` for `steps` steps on the same data), each timed
    alternately in the two environments' workers."""
    from ..measure.example_input import example_input
    from .abtest import decide_rounds, interleave

    if not models or not batch_sizes:
        raise ConfigError("nothing to compare: give at least one model and one batch size")
    cases = model_cases(models)
    results: list[tuple[str, Any]] = []

    per_round = replace(settings, seconds=settings.seconds / ROUNDS)

    def timed(label: str, **setup: Any) -> None:
        rounds = []
        for i in range(ROUNDS):
            if i or pair.workers is None:
                pair.restart()
            assert pair.workers is not None
            a, b = pair.workers
            pair.both("setup", threads=settings.threads, **setup)
            rounds.append(interleave(a.runner(), b.runner(), per_round))
        result = decide_rounds(rounds, settings, label=label, batch_size=setup["batch_size"])
        results.append((label, result))
        if on_result:
            on_result(label, result)

    for model_id, resolution, rid, res in cases:
        for bs in batch_sizes:
            x = pair.file("input.pt", example_input((1, res.size, res.size), bs))
            timed(
                batch_label(rid, bs),
                kind="forward",
                model=model_id,
                resolution=resolution,
                batch_size=bs,
                input=x,
            )
    if data_for is not None:
        for model_id, resolution, rid, res in cases:
            data = data_for(res)
            n = steps * train_batch_size
            subset = pair.file("train.pt", (data.train_x[:n].clone(), data.train_y[:n].clone()))
            timed(
                batch_label(rid, train_batch_size, "train"),
                kind="train",
                model=model_id,
                resolution=resolution,
                batch_size=train_batch_size,
                data=subset,
            )
    return results


def current_environment(label: str = "this environment") -> Environment:
    return Environment(sys.executable, PACKAGE_ROOT, label)
