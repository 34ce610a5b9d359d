"""The deterministic lanes shown on real code changes: each change is made to a copy of the
project's own source, as a contributor would make it (no monkeypatching of torch), and a few
gate-tier benchmarks of that copy run against a baseline recorded from the unchanged copy. The
unchanged copy must pass; each change must fail, naming the metric that caught it.

The runs are pytest subprocesses with the copy first on PYTHONPATH (the installed package is an
editable install whose finder comes after sys.path). Runs with instruction counts start one
valgrind worker each (about a minute for torch's import and first calls): they run two at a
time, one per core.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from suite_runs import record_then_compare

from mnist_models.measure.instruction_key import valgrind_path

pytestmark = pytest.mark.slow  # the end-to-end tier (make test-slow)

REPO = Path(__file__).resolve().parents[1]
FORWARD = "benchmarks/bench_instructions.py::test_forward_instructions[mlp-1024@28-bs1]"
TRAIN_STEPS = "benchmarks/bench_instructions.py::test_training_instructions[mlp-128@28-bs64]"
TRAIN_MEMORY = "benchmarks/bench_memory.py::test_training_memory[mlp-128@28]"
TRAINING = "benchmarks/bench_training.py::test_training[mlp-128@28-bs64-e2]"
INFERENCE_MEMORY = "benchmarks/bench_memory.py::test_inference_memory[mlp-128@28]"
CNN13_MEMORY = "benchmarks/bench_memory.py::test_inference_memory[cnn13@pad:32]"
DATA = "benchmarks/bench_data.py::test_data_pipeline[resize:14]"
SHORT = "benchmarks/bench_training.py::test_short_training[mlp-128@resize:14-bs64-300steps]"
ALL = (FORWARD, TRAIN_STEPS, TRAIN_MEMORY, TRAINING, INFERENCE_MEMORY, CNN13_MEMORY, DATA, SHORT)
RESIZE = (
    "mnist_models/measure/data.py",
    "x = F.resize(x, [resolution.size, resolution.size], antialias=True)",
    "x = F.resize(x, [resolution.size, resolution.size], antialias=False)",
)

# name: (file, text, replacement, benchmarks run, the metric that must fail)
CHANGES = {
    # a per-call input check in the MLP's forward pass: +3.5% for mlp-1024 at batch 1
    "forward_work": (
        "mnist_models/zoo/models/mlp.py",
        "        return self.net(x)  # (B, 1, S, S) -> (B, num_classes)",
        "        if x.isnan().any():\n"
        '            raise ValueError("input has NaN")\n'
        "        return self.net(x)  # (B, 1, S, S) -> (B, num_classes)",
        (FORWARD,),
        "instructions",
    ),
    # the same input check in the convolutional nets' forward pass: on cnn13 (5 million
    # instructions a call at batch 1) the instruction band is 50,000 wide; 3 operators more
    "forward_check_cnn": (
        "mnist_models/zoo/models/convnet.py",
        "        return self.classifier(self.features(x))",
        "        if x.isnan().any():\n"
        '            raise ValueError("input has NaN")\n'
        "        return self.classifier(self.features(x))",
        (CNN13_MEMORY,),
        "inference_ops_per_call",
    ),
    # weight decay added to Adam: 2.8% more instructions in mlp-128's optimizer step (measured
    # on the step alone), 0.7% of a whole training step
    "optimizer_work": (
        "mnist_models/measure/train.py",
        "optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)",
        "optimizer = torch.optim.Adam(\n"
        "        model.parameters(), lr=config.lr, fused=True, weight_decay=1e-5\n"
        "    )",
        (TRAIN_STEPS,),
        "instructions",
    ),
    # each step's logits kept for later (a contributor's per-step log)
    "tensors_kept": (
        "mnist_models/measure/train.py",
        "                loss.backward()\n",
        "                loss.backward()\n                kept.append(logits.detach())\n",
        (TRAIN_MEMORY,),
        "train_peak_tensor_bytes",
    ),
    # the default learning rate changed
    "training_default": (
        "mnist_models/measure/train.py",
        "    lr: float = 1e-3\n",
        "    lr: float = 1.2e-3\n",
        (TRAINING,),
        "final_train_loss",
    ),
    # every eval-mode output kept in a list on the model (a debugging cache): the peak of one
    # call is the same, what the calls leave allocated is not
    "inference_leak": (
        "mnist_models/zoo/models/mlp.py",
        "        return self.net(x)  # (B, 1, S, S) -> (B, num_classes)",
        "        out = self.net(x)  # (B, 1, S, S) -> (B, num_classes)\n"
        "        if not self.training:\n"
        '            self.__dict__.setdefault("seen", []).append(out)\n'
        "        return out",
        (INFERENCE_MEMORY,),
        "inference_retained_tensor_bytes",
    ),
    # the data pipeline's resize without antialiasing (the model code untouched)
    "resize_aliased": (*RESIZE, (DATA,), "data_digest"),
    # the same change, as the model learns from the images: 300 steps at resize:14
    "resize_aliased_training": (*RESIZE, (SHORT,), "accuracy"),
    # a layer changed: the MLP's ReLU made leaky (same parameters and MACs)
    "layer_changed": (
        "mnist_models/zoo/models/common.py",
        '{"relu": nn.ReLU,',
        '{"relu": nn.LeakyReLU,',
        (TRAINING,),
        "accuracy",
    ),
}
# Not a regression: the model adds noise from a generator seeded by the clock while training,
# so two trainings of the same code differ. The exact figures say `not repeatable` and the
# accuracy keeps its tolerance, instead of failing every run of unchanged code.
UNREPEATABLE = (
    "mnist_models/zoo/models/mlp.py",
    "        return self.net(x)  # (B, 1, S, S) -> (B, num_classes)",
    "        if self.training:\n"
    "            noise = torch.Generator().manual_seed(__import__('time').time_ns())\n"
    "            x = x + 1e-3 * torch.rand(x.shape, generator=noise)\n"
    "        return self.net(x)  # (B, 1, S, S) -> (B, num_classes)",
    (TRAINING,),
)
# What the attribution under the failing row must name (gates/attribution.py)
WHY = {
    "forward_work": "operator aten::isnan  +",  # instructions only: (0 -> N)
    "forward_check_cnn": "operator aten::isnan  calls 0 -> 1",  # the operator count
    "optimizer_work": "operator aten::_fused_adam_",
    # the sites of the tensors alive: each step's logits, made by the MLP's last layer
    "tensors_kept": "site train._train > mlp.forward > Linear_1 > aten::linear  tensors 1 -> ",
    "inference_leak": "site bench_memory.forward > mlp.forward > Linear_1 > aten::linear  "
    "tensors 0 -> 5",
}
COMMON = ["-m", "full", "-p", "no:cacheprovider", "--gate-time-tolerance", "1000"]

needs_valgrind = pytest.mark.skipif(
    valgrind_path() is None, reason="valgrind is not installed (apt-get install valgrind)"
)


def make_copy(root: Path, change: str | None = None) -> Path:
    """The project's source (package, benchmarks, pytest configuration) under root, changed."""
    root.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "baselines", "*.pyc")
    for folder in ("mnist_models", "benchmarks"):
        shutil.copytree(REPO / folder, root / folder, ignore=ignore)
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copy2(REPO / name, root / name)
    if change is not None:
        file, old, new, *_ = UNREPEATABLE if change == "unrepeatable" else CHANGES[change]
        path = root / file
        text = path.read_text()
        assert text.count(old) == 1, f"{change}: the text to change is not in {file} once"
        text = text.replace(old, new)
        if change == "tensors_kept":
            text = text.replace(
                "            for i in range(0, n, config.batch_size):\n",
                "            kept = []\n            for i in range(0, n, config.batch_size):\n",
            )
        path.write_text(text)
    return root


def run_copy(copy: Path, storage: Path, nodeids: tuple[str, ...], *args: str):
    env = {**os.environ, "PYTHONPATH": str(copy)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *nodeids,
            *COMMON,
            f"--benchmark-storage=file://{storage}",
            *args,
        ],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess]:
    """A baseline from the unchanged copy, then the unchanged copy and every change against it."""
    if valgrind_path() is None:
        pytest.skip("valgrind is not installed (apt-get install valgrind)")
    base = tmp_path_factory.mktemp("lanes")
    unchanged = make_copy(base / "unchanged")
    jobs = {"unchanged": (unchanged, ALL)}
    for name, (_, _, _, nodeids, *_) in [*CHANGES.items(), ("unrepeatable", UNREPEATABLE)]:
        jobs[name] = (make_copy(base / name, name), nodeids)
    storage = base / "storage"

    def run(job: tuple[Path, tuple[str, ...]], arg: str) -> subprocess.CompletedProcess:
        return run_copy(job[0], storage, job[1], arg)

    _, done = record_then_compare(storage, run, (unchanged, ALL), jobs)
    return done


@needs_valgrind
def test_unchanged_code_passes_every_lane(runs: dict) -> None:
    done = runs["unchanged"]
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]
    assert "0 failed" in out and f"{len(ALL)} passed" in out
    assert "0 without baseline" in out  # every metric was compared, none passed for lack of one


@needs_valgrind
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_real_change_fails_the_gate_that_should_see_it(runs: dict, change: str) -> None:
    _, _, _, nodeids, metric = CHANGES[change]
    done = runs[change]
    out = done.stdout
    assert done.returncode == 1, out[-4000:] + done.stderr[-2000:]
    assert f"{nodeids[0]} regressed against" in out, out[-4000:]
    failed_rows = out.split("regressed against", 1)[1].split("If the change is intended", 1)[0]
    assert any(line.startswith(metric + " ") for line in failed_rows.splitlines()), failed_rows
    assert "Traceback" not in out
    if change in WHY:  # under the failing row: what moved inside the count
        assert f"what moved in {metric} (" in failed_rows, failed_rows
        assert WHY[change] in failed_rows, failed_rows


@needs_valgrind
def test_training_that_cannot_repeat_says_so_instead_of_failing(runs: dict) -> None:
    done = runs["unrepeatable"]
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]
    # the loss always moves with the noise; the accuracy (a count of 10,000 test digits) once
    # matched the baseline to the last digit here (CI, session 15), and a figure that matches
    # passes as `ok`: either it is said to be not repeatable, or it passed with the epoch time
    assert "final_train_loss: not applied for 1 benchmarks (not repeatable: " in out, out[-3000:]
    accuracy_said = "not repeatable: the same seeded run gave accuracy" in out
    assert accuracy_said or "training  3 metrics: 2 ok, 1 not applied" in out, out[-3000:]
