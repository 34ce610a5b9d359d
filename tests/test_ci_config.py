"""CI configuration: workflows pass actionlint, every marker maps to a tox env and a CI job,
and .ci/run runs the README's test command."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def test_workflows_pass_actionlint() -> None:
    actionlint = shutil.which("actionlint") or str(Path(sys.executable).with_name("actionlint"))
    proc = subprocess.run(
        [actionlint, *map(str, WORKFLOWS)], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def registered_markers() -> list[str]:
    """The project's markers (pyproject.toml) and the suite plugin's lanes."""
    from mnist_models.suite.plugin import MARKERS

    ini = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    return [m.split(":")[0] for m in ini["markers"]] + list(MARKERS)


def test_the_slow_tier_has_its_tox_env_ci_step_and_make_target() -> None:
    """`slow` is a tier of the tests, not of the suite: its own tox env, a step of the tests
    job, a make target that .ci/run calls, and the fast tier deselects it everywhere."""
    tox = (REPO / "tox.ini").read_text()
    workflows = "\n".join(p.read_text() for p in WORKFLOWS)
    make = (REPO / "Makefile").read_text()
    assert 'pytest tests -m "not slow"' in tox and "pytest tests -m slow" in tox
    assert "tox -e tests-slow" in workflows
    assert 'pytest tests -m "not slow"' in make and "pytest tests -m slow" in make
    assert "make test-slow" in (REPO / ".ci" / "run").read_text()


def jobs_of(workflow: Path) -> dict[str, str]:
    """Each job's text, by job id (the two-space keys under `jobs:`)."""
    body = workflow.read_text().split("\njobs:\n", 1)[1]
    parts = re.split(r"^  ([A-Za-z0-9_-]+):\n", body, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_each_job_runs_one_tox_env(workflow: Path) -> None:
    """tox rebuilds the shared environment folder whenever another env name runs in it (a torch
    install, minutes): a job runs one env, and its other commands through `tox exec` in it."""
    jobs = jobs_of(workflow)
    assert jobs, f"no jobs found in {workflow.name}"
    for job, text in jobs.items():
        envs = set(re.findall(r"\btox (?:exec |run )?-e ([\w-]+)", text))
        assert len(envs) <= 1, f"{workflow.name}: job {job} runs tox envs {sorted(envs)}"


def test_the_split_of_jobs_is_read_from_the_workflow() -> None:
    jobs = jobs_of(REPO / ".github" / "workflows" / "pull-request.yml")
    assert {"lint", "tests", "tests-slow", "gate"} <= set(jobs), sorted(jobs)
    assert "tox -e bench " in jobs["gate"] and "tox exec -e bench" in jobs["gate"]


@pytest.mark.parametrize("env", ["bench", "bench-full"])
def test_the_suites_tox_envs_measure_the_checkout_itself(env: str) -> None:
    """The lanes time a row A/B against the base revision only where the imported package is
    the checkout's (suite/timed_ab.py applies()): tox's default, an installed copy, would leave
    the CI gate's timed rows on another machine kind to a base run measured apart."""
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO / "tox.ini")
    assert tox[f"testenv:{env}"].get("package") == "editable"


@pytest.mark.parametrize("marker", [m for m in registered_markers() if m != "slow"])
def test_every_benchmark_marker_maps_to_tox_and_ci(marker: str) -> None:
    tox = (REPO / "tox.ini").read_text()
    workflows = "\n".join(p.read_text() for p in WORKFLOWS)
    if marker in ("gate", "full"):
        assert re.search(rf"-m {marker}\b", tox), f"no tox env runs -m {marker}"
        job = "tox -e bench\\b" if marker == "gate" else "tox -e bench-full"
        assert re.search(job, workflows), f"no CI job runs the {marker} tier"
    else:  # concern markers shard the full tier in the nightly workflow
        matrix = re.search(r"concern: \[(.*)\]", workflows)
        assert matrix and marker in [c.strip() for c in matrix.group(1).split(",")]
        assert '-m "full and ${{ matrix.concern }}"' in workflows


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    quick_start = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    test_command = next(
        line.split("#")[0].strip()
        for line in quick_start.splitlines()
        if "test" in line.split("#")[-1]
    )
    ci = [
        line.strip()
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert test_command in ci


def test_merge_results_joins_shards(tmp_path: Path) -> None:
    shards = []
    for i, name in enumerate(("a", "b")):
        path = tmp_path / f"results-{name}.json"
        path.write_text(
            json.dumps(
                {
                    "machine_info": {"i": i},
                    "benchmarks": [{"fullname": f"benchmarks/x.py::t[{name}]", "stats": {}}],
                }
            )
        )
        shards.append(str(path))
    out = tmp_path / "full.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "merge_results.py"),
            *shards,
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    merged = json.loads(out.read_text())
    assert [b["fullname"] for b in merged["benchmarks"]] == [
        "benchmarks/x.py::t[a]",
        "benchmarks/x.py::t[b]",
    ]
    dup = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "merge_results.py"),
            shards[0],
            shards[0],
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dup.returncode == 2 and "appears in two shards" in dup.stderr


def _summary_folder(tmp_path: Path, moved: list[str]) -> Path:
    rows = [
        {"metric": "latency_cpu_rel", "rule": {"timed": True}},
        {"metric": "accuracy", "rule": {"timed": False}},
    ]
    (tmp_path / "gate-report.json").write_text(json.dumps({"rows": rows}))
    table = "".join(f"| `test_x[{i}]` | {m.replace('_', chr(92) + '_')} | 1 | 2 |\n"
                    for i, m in enumerate(moved))  # fmt: skip
    heading = "### Failed, or moved beyond half their tolerance (worst first)\n\n" if moved else ""
    (tmp_path / "pr-summary.md").write_text(f"# s\n\n{heading}{table}\n### Totals per lane\n")
    return tmp_path


@pytest.mark.parametrize(
    ("moved", "code"),
    [(["latency_cpu_rel"], 0), (["latency_cpu_rel", "accuracy"], 1), ([], 1)],
)
def test_ci_local_tells_timing_noise_from_a_moved_exact_figure(
    tmp_path: Path, moved: list[str], code: int
) -> None:
    """ci/local.sh accepts a comment on unchanged code only when every moved row is timed."""
    folder = _summary_folder(tmp_path, moved)
    script = REPO / "ci" / "only_timed_moved.py"
    done = subprocess.run(
        [sys.executable, str(script), str(folder)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == code, done.stderr
