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
    return _project(pytester, test_suite=SUITE)


def _project(pytester: pytest.Pytester, **files: str) -> pytest.Pytester:
    pytester.makeini("[pytest]\ngate_storage = baselines\n")
    pytester.makepyfile(**files)
    _values(pytester.path, loss=0.5)
    _ab_result(pytester.path, "same", 1.004, 0.99, 1.02)
    assert pytester.runpytest("-p", "no:cacheprovider", "--gate-accept").ret == 0
    path = pytester.path / "baselines" / get_machine_id() / "0001_baseline.json"
    data = json.loads(path.read_text())
    data["machine_info"]["cpu_model"] = ELSEWHERE
    for bench in data["benchmarks"]:
        if "key_facts" in bench["extra_info"]:  # the lanes with a keyed figure
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


PINNED_SUITE = """
import json, pathlib
import pytest
from mnist_models.gates.rules import lower

LOSS = lower("loss", key="pinned", exact_key="pinned")

@pytest.mark.benchmark(group="training")
def test_seeded_training(benchmark, gate):
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    here = pathlib.Path(__file__).parent
    values = json.loads((here / "values.json").read_text())
    benchmark.extra_info["threads"] = 1
    benchmark.extra_info["numeric_path"] = (here / "path.txt").read_text()
    gate.record(LOSS, values["loss"])
"""


@pytest.mark.parametrize(
    ("path", "loss", "line"),
    [
        ("isa=AVX2", 0.5, "training  1 metrics: 1 ok"),
        ("isa=AVX2", 0.51, "loss*0.5*0.51*exact (same environment: exact)"),
        ("isa=DEFAULT", 0.51, "training  1 metrics: 1 not applied"),
    ],
    ids=["same", "changed", "another-path"],
)
def test_a_pinned_figure_of_another_cpu_model_is_judged_by_the_committed_baseline(
    pytester: pytest.Pytester, path: str, loss: float, line: str
) -> None:
    """The `pinned` key holds no CPU model: no base run is made for it on another kind, and the
    committed figure judges it exactly; another numeric path (the test states it) is another key."""
    (pytester.path / "path.txt").write_text("isa=AVX2")
    _project(pytester, test_suite=PINNED_SUITE)
    (pytester.path / "path.txt").write_text(path)
    _values(pytester.path, loss=loss)
    result = _run(pytester, "--gate-base", "auto")
    assert "base run:" not in result.stdout.str(), result.stdout.str()
    result.stdout.fnmatch_lines([line])
    assert result.ret == (1 if line.startswith("loss") else 0), result.stdout.str()


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


# A lane that times its timed row A/B itself (gates/timed_ab.py): `ab(commit)` returns what
# ab.json holds (an `ABResult.as_dict()`), or raises the error it names; it leaves the commit
# it was asked for in ab_commit.txt.
AB_SUITE = """
import json, pathlib
import pytest
from mnist_models.errors import ConfigError
from mnist_models.gates.rules import lower

SECONDS = lower("seconds", rel_tol=1.0, timed=True)
HERE = pathlib.Path(__file__).parent

def ab(commit):
    (HERE / "ab_commit.txt").write_text(commit)
    result = json.loads((HERE / "ab.json").read_text())
    if "error" in result:
        raise ConfigError(result["error"])
    return result

@pytest.mark.timed_ab
@pytest.mark.benchmark(group="latency")
def test_latency(benchmark, gate):
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    benchmark.extra_info["threads"] = 1
    gate.record(SECONDS, 1.0, ab=ab)
"""


def _ab_result(root: Path, verdict: str, ratio: float, low: float, high: float) -> None:
    """An A/B result as `ABResult.as_dict()` writes it: p50 moved by `ratio`, the tails not."""

    def estimate(stat: str, r: float, lo: float, hi: float, effect: float) -> dict:
        decided = "FAIL" if lo > 1 and r > 1 + effect else "same"
        return {"metric": stat, "baseline_us": 100.0, "candidate_us": 100.0 * r, "ratio": r,
                "low": lo, "high": hi, "min_effect": effect, "verdict": decided}  # fmt: skip

    estimates = {
        "p50": estimate("p50", ratio, low, high, 0.05),
        "p90": estimate("p90", 1.0, 0.98, 1.02, 0.08),
        "p99": estimate("p99", 1.0, 0.95, 1.05, 0.25),
    }
    (root / "ab.json").write_text(
        json.dumps({"verdict": verdict, "first": "", "estimates": estimates, "pairs": 50})
    )


@pytest.fixture
def ab_repo(pytester: pytest.Pytester) -> pytest.Pytester:
    """The project above with an A/B lane beside its training lane."""
    return _project(pytester, test_suite=SUITE, test_ab=AB_SUITE)


def test_a_timed_row_is_judged_ab_and_spares_the_base_run(ab_repo: pytest.Pytester) -> None:
    result = _run(ab_repo, "--gate-base", "HEAD")
    assert result.ret == 0, result.stdout.str()
    head = subprocess.run(
        ["git", "-C", str(ab_repo.path), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert (ab_repo.path / "ab_commit.txt").read_text() == head
    result.stdout.fnmatch_lines(
        [
            "base run: * on this machine, 1 tests (--gate-base)",  # the training test only
            f"*; the base run of {head[:10]} here and timing A/B against "
            f"{head[:10]} here judge what it cannot",
            f"latency   1 metrics: 1 ok (1 by A/B against {head[:10]} here)",
        ]
    )
    _ab_result(ab_repo.path, "FAIL", 1.12, 1.09, 1.15)
    result = _run(ab_repo, "--gate-base", "HEAD")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["seconds*100 us*112 us*+12.0%*<= 105 us (A/B against * here; p50 +12.0% ?+9.0%, +15.0%?)"]
    )


def test_with_timed_ab_rows_alone_the_summary_still_names_what_judged(
    ab_repo: pytest.Pytester,
) -> None:
    """No base run is needed for the latency test alone; its lane still says the A/B judged it."""
    result = _run(ab_repo, "--gate-base", "HEAD", "-k", "test_latency")
    assert result.ret == 0, result.stdout.str()
    assert "base run:" not in result.stdout.str()
    result.stdout.fnmatch_lines(["latency  1 metrics: 1 ok (1 by A/B against * here)"])


def test_without_a_base_revision_the_ab_row_stays_not_applied(ab_repo: pytest.Pytester) -> None:
    result = _run(ab_repo)
    assert result.ret == 0
    assert not (ab_repo.path / "ab_commit.txt").exists()  # nothing to time against
    result.stdout.fnmatch_lines(["latency   1 metrics: 1 not applied"])


def test_a_row_the_lane_cannot_time_ab_says_why(ab_repo: pytest.Pytester) -> None:
    (ab_repo.path / "ab.json").write_text(json.dumps({"error": "no model mlp-7 there"}))
    result = _run(ab_repo, "--gate-base", "HEAD", "--gate-report", "rows.json")
    assert result.ret == 0
    rows = json.loads((ab_repo.path / "rows.json").read_text())["rows"]
    (row,) = [r for r in rows if r["metric"] == "seconds" and "test_ab" in r["nodeid"]]
    assert row["status"] == "not applied"
    assert "no A/B against" in row["note"] and "no model mlp-7 there" in row["note"]


@pytest.mark.parametrize(
    ("verdict", "p90", "first", "status", "note"),
    [
        ("same", (1.0, 0.98, 1.02), "", "same", "p50 +0.4% [-1.0%, +2.0%]"),
        ("better", (1.0, 0.98, 1.02), "", "better", "p50 +0.4% [-1.0%, +2.0%]"),
        # a tail that failed is the statistic the note names
        ("FAIL", (1.2, 1.1, 1.3), "", "FAIL", "p90 +20.0% [+10.0%, +30.0%]"),
        ("same", (1.0, 0.98, 1.02), "FAIL", "same", "first timing FAIL, not repeated"),
    ],
)
def test_an_ab_result_becomes_its_row(
    tmp_path: Path, verdict: str, p90: tuple, first: str, status: str, note: str
) -> None:
    from mnist_models.gates.rules import lower
    from mnist_models.gates.timed_ab import ab_record

    _ab_result(tmp_path, verdict, 1.004, 0.99, 1.02)
    result = json.loads((tmp_path / "ab.json").read_text())
    ratio, low, high = p90
    failed = "FAIL" if low > 1 and ratio > 1.08 else "same"
    result["estimates"]["p90"].update(ratio=ratio, low=low, high=high, verdict=failed)
    result["first"] = first
    metric = lower("latency_cpu_rel", rel_tol=1.0, unit="x ref", timed=True)
    row = ab_record("b.py::test_latency[x]", metric, result, "0123456789abcdef", "latency")
    assert str(row.verdict) == status
    assert note in row.note
    assert row.source == "A/B against 0123456789 here"
    assert (row.baseline, row.now) == (100.0, pytest.approx(100.4))  # the p50 estimate
    assert row.metric.unit == "us" and row.metric.rel_tol == 0.05  # p50's smallest effect
