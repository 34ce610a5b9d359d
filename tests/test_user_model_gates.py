"""A model the package did not ship, guarded by the suite from its own repository: PyTorch's
MNIST example (examples/pytorch_net: its pyproject.toml, and a benchmarks folder that imports
the installed suite's lanes), declared through MNIST_BENCH_MODELS, is counted, trained and
gated in every gate-tier lane against a baseline recorded from its unchanged code. The
unchanged code passes twice in a row; an input check in its forward pass (its operator count)
and an added ReLU (its accuracy) each fail, naming the metric. Its training instructions are
left out: under valgrind they cost the most of any lane for a model this size (its forward
pass alone counts 818 million instructions at batch 64).

Runs are pytest subprocesses in a copy of the example folder (outside this repository, with
the example first on PYTHONPATH), two at a time. The unchanged copy runs the whole gate tier
each time; a changed copy runs the one benchmark whose gate must catch its change (the whole
tier took 15 minutes a run here under load, and a second run of it proves nothing new)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from suite_runs import record_then_compare

from mnist_models.measure.instructions import valgrind_path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "pytorch_net"
# the gate tier (the default) of its grid
SELECT = ["benchmarks", "-k", "not test_training_instructions"]
COMMON = ["-p", "no:cacheprovider", "--gate-time-tolerance", "1000"]
FORWARD = "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
CHANGES = {
    # the docs' proof example: a per-call input check. 39,469 instructions more per call at
    # batch 1, 0.29% of the model's 13.5 million: inside the instruction band (1%); three ATen
    # operators more per call (isnan, any, and the bool of the result)
    "input_check": (
        FORWARD,
        FORWARD + '        if x.isnan().any():\n            raise ValueError("input has NaN")\n',
        "benchmarks/bench_memory.py::test_inference_memory[pytorch-net@28]",
        "inference_ops_per_call",
    ),
    # a ReLU on the logits before log-softmax: the same parameters and MACs, another model
    "relu_added": (
        "        x = self.fc2(x)\n",
        "        x = F.relu(self.fc2(x))\n",
        "benchmarks/bench_training.py::test_training[pytorch-net@28-bs64-e2]",
        "accuracy",
    ),
}


def example_copy(root: Path, change: str | None = None) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "baselines")
    shutil.copytree(EXAMPLE, root, ignore=ignore)
    if change is not None:
        old, new, _, _ = CHANGES[change]
        path = root / "pytorch_net" / "__init__.py"
        text = path.read_text()
        assert text.count(old) == 1, f"{change}: the text to change is not in the example once"
        path.write_text(text.replace(old, new))
    return root


def run_suite(
    example: Path, storage: Path, *args: str, select: list[str] = SELECT
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(example), os.environ.get("PYTHONPATH", "")]),
        "MNIST_BENCH_MODELS": "pytorch-net=pytorch_net:Net",
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", *select, *COMMON,
         f"--benchmark-storage=file://{storage}", *args],
        cwd=example, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess]:
    if valgrind_path() is None:
        pytest.skip("valgrind is not installed (apt-get install valgrind)")
    base = tmp_path_factory.mktemp("user-model")
    unchanged = example_copy(base / "unchanged")
    storage = base / "storage"
    jobs = {"again": (unchanged, SELECT), "once more": (unchanged, SELECT)}
    jobs |= {name: (example_copy(base / name, name), [CHANGES[name][2]]) for name in CHANGES}
    target, done = record_then_compare(
        storage,
        lambda job, arg: run_suite(job[0], storage, arg, select=job[1]),
        (unchanged, SELECT),
        jobs,
    )
    return {"baseline": target} | done


@pytest.mark.slow
def test_the_example_is_recorded_in_every_gate_tier_lane(runs: dict) -> None:
    recorded = json.loads(runs["baseline"].read_text())
    tests = {b["name"] for b in recorded["benchmarks"]}
    assert {
        "test_counts[pytorch-net@28]",
        "test_latency[pytorch-net@28-bs1]",
        "test_forward_instructions[pytorch-net@28-bs1]",
        "test_forward_instructions[pytorch-net@28-bs64]",
        "test_inference_memory[pytorch-net@28]",
        "test_training_memory[pytorch-net@28]",
        "test_training[pytorch-net@28-bs64-e2]",
    } <= tests, sorted(tests)
    # its grid is its own (zoo = false): the package's models are not run there
    assert all("pytorch-net" in t or t.startswith("test_data_pipeline[") for t in tests), tests
    counts = next(b for b in recorded["benchmarks"] if b["name"] == "test_counts[pytorch-net@28]")
    assert (counts["extra_info"]["params"], counts["extra_info"]["macs"]) == (1_199_882, 11_992_448)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["again", "once more"])
def test_unchanged_code_passes_every_exact_gate(runs: dict, name: str) -> None:
    done = runs[name]
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]
    assert "0 failed" in out and "0 without baseline" in out, out[-3000:]
    assert "0 not applied" in out, out[-3000:]  # every exact gate was judged, none skipped


@pytest.mark.slow
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_to_the_users_model_fails_the_gate_that_sees_it(runs: dict, change: str) -> None:
    _, _, nodeid, metric = CHANGES[change]
    test = nodeid.split("::")[1]
    done = runs[change]
    out = done.stdout
    assert done.returncode == 1, out[-4000:] + done.stderr[-2000:]
    summary = out.rstrip().splitlines()[-1]
    assert re.search(r"\b1 failed\b", summary) and "passed" not in summary, summary  # one ran
    assert f"{test} regressed against" in out, out[-4000:]
    failed_rows = out.split(f"{test} regressed against", 1)[1].split("If the change is", 1)[0]
    assert any(line.startswith(metric + " ") for line in failed_rows.splitlines()), failed_rows
    assert "Traceback" not in out
    if change == "input_check":  # under the row: the operators the check added
        assert "operator aten::isnan  calls 0 -> 1" in failed_rows, failed_rows
