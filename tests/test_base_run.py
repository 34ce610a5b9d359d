"""The base run (`--gate-base`): what a baseline of another machine kind cannot judge here is
judged against the base revision measured on this machine, in a worktree, cached. A synthetic
suite in a git repository (pytester), no torch."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from pytest_benchmark.utils import get_machine_id

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.filterwarnings("ignore::pytest_benchmark.logger.PytestBenchmarkWarning")

SUITE = """
import json, pathlib
import pytest
from mnist_models.gates.rules import exact, lower

SECONDS = lower("seconds", rel_tol=1.0, timed=True)
LOSS = lower("loss", key="numerics", exact_key="numerics")
BYTES = exact("bytes", key="kernels")

@pytest.mark.benchmark(group="training")
def test_training(benchmark, gate):
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    values = json.loads(pathlib.Path(__file__).with_name("values.json").read_text())
    benchmark.extra_info["threads"] = 1
    for metric in (SECONDS, LOSS, BYTES):
        gate.record(metric, values[metric.name])
"""
ELSEWHERE = "Imaginary CPU 9000"  # a machine kind that recorded the committed baseline


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-C", str(root), *args],
        check=True,
        capture_output=True,
    )


def _values(root: Path, **values: float) -> None:
    (root / "values.json").write_text(json.dumps({"seconds": 1.0, "bytes": 4096, **values}))


@pytest.fixture
def repo(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project whose committed baseline another machine kind recorded."""
    pytester.makeini("[pytest]\ngate_storage = baselines\n")
    pytester.makepyfile(test_suite=SUITE)
    _values(pytester.path, loss=0.5)
    assert pytester.runpytest("-p", "no:cacheprovider", "--gate-accept").ret == 0
    path = pytester.path / "baselines" / get_machine_id() / "0001_baseline.json"
    data = json.loads(path.read_text())
    data["machine_info"]["cpu_model"] = ELSEWHERE
    for bench in data["benchmarks"]:
        bench["extra_info"]["key_facts"]["cpu_model"] = ELSEWHERE
    path.write_text(json.dumps(data))
    _git(pytester.path, "init", "-q", "-b", "main")
    _git(pytester.path, "add", ".")
    _git(pytester.path, "commit", "-q", "-m", "suite")
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "--benchmark-compare", *args)


def test_without_a_base_run_another_kind_leaves_rows_not_applied(repo: pytest.Pytester) -> None:
    result = _run(repo)
    assert result.ret == 0
    # the tensor bytes' key holds no CPU model: judged; the time and the loss are not
    result.stdout.fnmatch_lines(["training  3 metrics: 1 ok, 2 not applied"])


def test_the_base_run_judges_every_row_and_is_cached(repo: pytest.Pytester) -> None:
    result = _run(repo, "--gate-base", "auto")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "base run: * on this machine, 1 tests (--gate-base)",
            "base run: *.mnist-bench/base-runs/*.json (base run of * here)",
            "training  3 metrics: 3 ok (1 by committed; 2 by base run of * here)",
            "3 metrics: 3 ok, 0 failed, 0 without baseline, 0 not applied, 0 not measured",
        ]
    )
    (cache,) = (repo.path / ".mnist-bench" / "base-runs").glob("*.json")
    before = cache.stat().st_mtime_ns
    _values(repo.path, loss=0.51)  # a change in the working tree: the base revision has 0.5
    result = _run(repo, "--gate-base", "auto")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["loss*0.5*0.51*exact (base run of * here; *)"])
    assert cache.stat().st_mtime_ns == before  # the cached base run served again


def test_a_base_run_that_cannot_be_made_says_why(repo: pytest.Pytester) -> None:
    result = _run(repo, "--gate-base", "no-such-revision")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["no base run: git rev-parse *no-such-revision*; those rows stay not applied"]
    )
    result.stdout.fnmatch_lines(["training  3 metrics: 1 ok, 2 not applied"])


def test_a_project_in_a_folder_of_its_repository_runs_its_base_there(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = pytester.path / "proj"
    project.mkdir()
    (project / "tox.ini").write_text("[pytest]\ngate_storage = baselines\n")
    (project / "test_suite.py").write_text(SUITE)
    _values(project, loss=0.5)
    monkeypatch.chdir(project)
    assert pytester.runpytest("-p", "no:cacheprovider", "--gate-accept").ret == 0
    _git(pytester.path, "init", "-q", "-b", "main")
    _git(pytester.path, "add", ".")
    _git(pytester.path, "commit", "-q", "-m", "suite")
    (project / "test_new.py").write_text(SUITE)  # a test the baseline has no entry for
    _git(pytester.path, "add", ".")
    _git(pytester.path, "commit", "-q", "-m", "a new test")
    result = _run(pytester, "--gate-base", "HEAD")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["training  6 metrics: 6 ok (3 by committed; 3 by base run of * here)"]
    )
    assert (project / ".mnist-bench" / ".gitignore").read_text().endswith("*\n")
