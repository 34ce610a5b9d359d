"""A user's first hour, end to end, from an empty folder outside this repository: a small CNN of
their own (two conv stages with BatchNorm, dropout), `mnist-models init --model`, `pip install
-e .`, `pytest benchmarks --gate-accept`, then `pytest benchmarks --benchmark-compare` passing
twice on unchanged code and failing on two changes, each by the metric that sees it: an input
check in forward (its ATen operators per call) and a ReLU on the logits (its accuracy).

The user's environment is a new virtual environment that sees this one's packages (a .pth
line, so torch is not installed again) and gets the user's package installed as a user would.
Its interpreter runs every command, so the instruction worker finds the model by its entry
point. Changed copies run the one benchmark whose gate must see the change, with the copy
first on PYTHONPATH; they run two at a time."""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_benchmark.utils import get_machine_id

from mnist_models.measure.instruction_key import valgrind_path

MODEL = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(16 * 5 * 5, 10))

    def forward(self, x):
        return self.head(self.features(x))
"""
FORWARD = "    def forward(self, x):\n"
CHANGES = {
    # three ATen operators more per call (isnan, any, and the bool of the result)
    "input_check": (
        FORWARD,
        FORWARD + '        if x.isnan().any():\n            raise ValueError("input has NaN")\n',
        "benchmarks/bench_memory.py::test_inference_memory[mynet@28]",
        "inference_ops_per_call",
    ),
    # a ReLU on the logits: the same parameters and MACs, another model
    "relu_added": (
        "        return self.head(self.features(x))\n",
        "        return torch.relu(self.head(self.features(x)))\n",
        "benchmarks/bench_training.py::test_training[mynet@28-bs64-e2]",
        "accuracy",
    ),
}
COMMON = ["-p", "no:cacheprovider", "--gate-time-tolerance", "1000"]


def user_environment(folder: Path) -> Path:
    """A virtual environment that sees this one's packages; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    (purelib,) = [Path(p) for p in site.getsitepackages() if p.endswith("site-packages")][:1]
    python = folder / "bin" / "python"
    theirs = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(theirs, "mnist-bench-env.pth").write_text(
        f"import site; site.addsitedir({str(purelib)!r})\n"
    )
    return python


def run(
    python: Path, repo: Path, *args: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), *args], cwd=repo, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The whole path, each step's result by name."""
    if valgrind_path() is None:
        pytest.skip("valgrind is not installed (apt-get install valgrind)")
    base = tmp_path_factory.mktemp("first-hour")
    repo = base / "their-repo"
    (repo / "mynet").mkdir(parents=True)
    (repo / "mynet" / "__init__.py").write_text(MODEL)
    python = user_environment(base / "venv")
    steps = {
        "init": run(python, repo, "-m", "mnist_models.cli", "init", "--model", "mynet=mynet:Net")
    }
    steps["install"] = run(
        python,
        repo,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "-e",
        ".",
    )
    steps["count"] = run(python, repo, "-m", "mnist_models.cli", "count", "mynet")
    steps["accept"] = run(python, repo, "-m", "pytest", "benchmarks", "--gate-accept", *COMMON)
    copies = {}
    for name, (old, new, _, _) in CHANGES.items():
        copy = shutil.copytree(repo, base / name, ignore=shutil.ignore_patterns("*.egg-info"))
        source = copy / "mynet" / "__init__.py"
        assert source.read_text().count(old) == 1, name
        source.write_text(source.read_text().replace(old, new))
        copies[name] = copy
    from concurrent.futures import ThreadPoolExecutor

    def compare(job: str) -> subprocess.CompletedProcess:
        if job in CHANGES:
            env = {
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(copies[job]), os.environ.get("PYTHONPATH")])
                )
            }
            return run(
                python,
                copies[job],
                "-m",
                "pytest",
                CHANGES[job][2],
                "--benchmark-compare",
                *COMMON,
                env=env,
            )
        return run(python, repo, "-m", "pytest", "benchmarks", "--benchmark-compare", *COMMON)

    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = ["again", "once more", *CHANGES]
        steps |= dict(zip(jobs, pool.map(compare, jobs), strict=True))
    return steps | {"repo": repo}


def _ok(done: subprocess.CompletedProcess) -> str:
    return done.stdout[-4000:] + done.stderr[-2000:]


@pytest.mark.slow
def test_init_install_and_accept_record_every_gate_tier_lane(path: dict) -> None:
    for step in ("init", "install", "count", "accept"):
        assert path[step].returncode == 0, f"{step}: " + _ok(path[step])
    assert "pytest benchmarks --gate-accept" in path["init"].stdout  # the next commands
    # the per-layer table of a nested model sums to its total (BatchNorm: no MACs of its own)
    count = path["count"].stdout
    assert re.search(r"^features\.0 +conv2d +8x26x26 +80 +48,672$", count, re.M), count
    assert re.search(r"^features\.4 +conv2d +16x11x11 +1,168 +139,392$", count, re.M), count
    assert "params 5,306  MACs 192,064" in count, count
    recorded = path["repo"] / "benchmarks" / "baselines" / get_machine_id()
    (baseline,) = recorded.glob("*.json")
    tests = {b["name"] for b in json.loads(baseline.read_text())["benchmarks"]}
    assert {
        "test_counts[mynet@28]",
        "test_latency[mynet@28-bs1]",
        "test_forward_instructions[mynet@28-bs1]",
        "test_forward_instructions[mynet@28-bs64]",
        "test_training_instructions[mynet@28-bs64]",
        "test_inference_memory[mynet@28]",
        "test_training_memory[mynet@28]",
        "test_training[mynet@28-bs64-e2]",
        "test_data_pipeline[28]",
    } <= tests, sorted(tests)
    # its grid is its own (zoo = false, resolutions ["28"]): no model or resolution of the package
    assert all("mynet@28" in t or t == "test_data_pipeline[28]" for t in tests), tests


@pytest.mark.slow
@pytest.mark.parametrize("name", ["again", "once more"])
def test_unchanged_code_passes_every_exact_gate(path: dict, name: str) -> None:
    out = path[name].stdout
    assert path[name].returncode == 0, _ok(path[name])
    assert "0 failed" in out and "0 without baseline" in out, out[-3000:]
    assert "0 not applied" in out, out[-3000:]  # every exact gate was judged, none skipped


@pytest.mark.slow
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_to_the_users_model_fails_the_gate_that_sees_it(path: dict, change: str) -> None:
    _, _, nodeid, metric = CHANGES[change]
    test = nodeid.split("::")[1]
    out = path[change].stdout
    assert path[change].returncode == 1, _ok(path[change])
    summary = out.rstrip().splitlines()[-1]
    assert re.search(r"\b1 failed\b", summary) and "passed" not in summary, summary  # one ran
    assert f"{test} regressed against" in out, out[-4000:]
    failed_rows = out.split(f"{test} regressed against", 1)[1].split("If the change is", 1)[0]
    assert any(line.startswith(metric + " ") for line in failed_rows.splitlines()), failed_rows
    assert "Traceback" not in out
    # the command printed to accept the change is quoted for any POSIX shell
    assert f"pytest '{nodeid}' --gate-accept" in out, out[-3000:]
    if change == "input_check":  # under the row: the operators the check added
        assert "operator aten::isnan  calls 0 -> 1" in failed_rows, failed_rows
