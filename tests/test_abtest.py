"""The interleaved A/B gate: its decision rule on synthetic timings with known answers, the
alternation of the timing loop, loading another revision's package, and the `compare` CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import mnist_models
from benchmarks.slowdown import ProportionalSlowdown
from mnist_models.ab.abtest import (
    ABSettings,
    decide,
    decide_rounds,
    student_t_quantile,
    time_interleaved,
)
from mnist_models.ab.revision import load_revision
from mnist_models.cli import main
from mnist_models.errors import ConfigError

SETTINGS = ABSettings(resamples=1000)


def synthetic(
    ratio: float = 1.0,
    *,
    pairs: int = 60,
    calls: int = 20,
    drift: float = 0.0,
    tail_share: float = 0.0,
    seed: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-call times around 100 us with 10% lognormal noise; B is `ratio` times A. `drift`
    scales both sides alike pair by pair (a machine getting slower); `tail_share` of B's calls
    take twice as long (a tail-only regression)."""
    rng = np.random.default_rng(seed)
    level = 100 * np.exp(np.linspace(0, drift, pairs))[:, None]
    a = level * rng.lognormal(0, 0.1, (pairs, calls))
    b = ratio * level * rng.lognormal(0, 0.1, (pairs, calls))
    if tail_share:
        b = np.where(rng.random((pairs, calls)) < tail_share, 2 * b, b)
    return a, b


def test_unchanged_code_is_same_and_interval_holds_one() -> None:
    result = decide(*synthetic(1.0), SETTINGS)
    p50 = result.estimates["p50"]
    assert result.verdict == "same" and not result.failed
    assert p50.low < 1 < p50.high
    assert abs(p50.ratio - 1) < 0.03


@pytest.mark.parametrize("ratio", [1.10, 1.20, 1.50])
def test_real_slowdown_fails_with_its_size(ratio: float) -> None:
    result = decide(*synthetic(ratio), SETTINGS)
    p50 = result.estimates["p50"]
    assert result.failed and p50.verdict == "FAIL"
    assert p50.low < ratio < p50.high
    assert p50.describe().startswith(f"+{100 * (p50.ratio - 1):.1f}%")


def test_significant_change_below_the_minimum_effect_passes() -> None:
    a, b = synthetic(1.03, pairs=400)
    result = decide(a, b, SETTINGS)
    p50 = result.estimates["p50"]
    assert p50.low > 1, "the synthetic 3% must be significant for this test to mean anything"
    assert result.verdict == "same"
    strict = decide(a, b, ABSettings(resamples=1000, min_effect={"p50": 0.01}))
    assert strict.failed


def test_speedup_is_reported_as_faster_and_passes() -> None:
    result = decide(*synthetic(0.7), SETTINGS)
    assert result.verdict == "better" and not result.failed


def test_drift_shared_by_both_sides_cancels() -> None:
    # The machine slows 2x over the run: a sequential A-then-B comparison sees about +40%.
    a, b = synthetic(1.0, drift=np.log(2))
    assert np.median(b[30:]) / np.median(a[:30]) > 1.3
    result = decide(a, b, SETTINGS)
    assert result.verdict == "same"
    assert abs(result.estimates["p50"].ratio - 1) < 0.03


def test_tail_only_regression_fails_on_p90() -> None:
    result = decide(*synthetic(1.0, tail_share=0.2, pairs=100), SETTINGS)
    assert result.estimates["p50"].verdict == "same"
    assert result.estimates["p90"].verdict == "FAIL"
    assert result.failed


def in_rounds(ratio: float, seed: int, *, layout: float = 0.06) -> list:
    """Five rounds of fresh process pairs: each process's speed moved by its memory layout
    (lognormal, `layout` wide) on top of 10% call-to-call noise; B is `ratio` times A."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(5):
        offset_a, offset_b = np.exp(rng.normal(0, layout, 2))
        a = 100 * offset_a * rng.lognormal(0, 0.1, (20, 20))
        b = ratio * 100 * offset_b * rng.lognormal(0, 0.1, (20, 20))
        out.append((a, b))
    return out


@pytest.mark.parametrize(
    "p, df, table", [(0.975, 1, 12.706), (0.975, 4, 2.776), (0.95, 9, 1.833), (0.975, 1000, 1.962)]
)
def test_student_t_quantile_matches_the_tables(p: float, df: int, table: float) -> None:
    assert student_t_quantile(p, df) == pytest.approx(table, abs=1e-3)


def test_rounds_keep_the_false_alarm_rate_near_the_confidence_level() -> None:
    # 5 rounds are 4 degrees of freedom: a percentile bootstrap over them failed 23 of these 300
    # A/A comparisons (7.7%), Student's t fails about 3% with the same layout spread.
    failed = sum(decide_rounds(in_rounds(1.0, seed), SETTINGS).failed for seed in range(300))
    assert failed / 300 <= 0.05


def test_rounds_still_catch_a_real_slowdown() -> None:
    caught = sum(decide_rounds(in_rounds(1.3, seed), SETTINGS).failed for seed in range(50))
    assert caught >= 48


def test_rounds_need_at_least_three() -> None:
    with pytest.raises(ConfigError, match="at least 3 rounds"):
        decide_rounds(in_rounds(1.0, 0)[:2], SETTINGS)


def test_decide_rejects_mismatched_samples() -> None:
    a, b = synthetic()
    with pytest.raises(ConfigError, match="one shape"):
        decide(a, b[:10], SETTINGS)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"threads": 0}, "threads"),
        ({"seconds": 0}, "seconds"),
        ({"confidence": 1.5}, "confidence"),
        ({"min_effect": {"p95": 0.1}}, "min_effect"),
    ],
)
def test_settings_are_validated(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ABSettings(**kwargs)


def test_timing_alternates_blocks_and_keeps_the_sides_apart() -> None:
    order: list[str] = []
    settings = ABSettings(warmup_s=0, seconds=0.01, block_s=0.0001, min_pairs=6)
    a, b = time_interleaved(lambda: order.append("a"), lambda: order.append("b"), settings)
    assert a.shape == b.shape and a.shape[0] >= 6
    calls = a.shape[1]
    timed = "".join(order[-2 * calls * a.shape[0] :])
    blocks = [timed[i : i + calls] for i in range(0, len(timed), calls)]
    assert all(len(set(block)) == 1 for block in blocks)  # a block is one side only
    firsts = [blocks[2 * i][0] for i in range(a.shape[0])]
    assert firsts[:4] == ["a", "b", "a", "b"]  # A B, B A, A B, ...
    assert (a > 0).all() and (b > 0).all()


def test_proportional_slowdown_adds_work_and_keeps_the_output() -> None:
    model = mnist_models.get_model("mlp-256", seed=0).eval()
    x = torch.randn(1, 1, 28, 28)
    slowed = ProportionalSlowdown(model, x, 0.5)
    assert slowed.steps >= 1
    with torch.inference_mode():
        assert torch.equal(slowed(x), model(x))
    with pytest.raises(ConfigError, match="fraction"):
        ProportionalSlowdown(model, x, 0)


# --- other revisions ---------------------------------------------------------------------------

SLOW_FORWARD = """    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(4):  # injected: four times the work
            out = self.net(x)
        return out
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def two_revisions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A git repo whose first commit holds this package and whose second slows MLP.forward."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path_factory.mktemp("repo")
    package = Path(mnist_models.__file__).parent
    shutil.copytree(package, repo / "mnist_models", ignore=shutil.ignore_patterns("__pycache__"))
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "fast")
    fast = _git(repo, "rev-parse", "HEAD")
    mlp = repo / "mnist_models" / "zoo" / "models" / "mlp.py"
    text = mlp.read_text()
    original = "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        return self.net(x)"
    assert original in text, "MLP.forward changed; update SLOW_FORWARD"
    end = text.index("\n", text.index("return self.net(x)"))
    mlp.write_text(text[: text.index(original)] + SLOW_FORWARD + text[end + 1 :])
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "slow")
    return repo, fast, _git(repo, "rev-parse", "HEAD")


def test_revision_is_imported_as_its_own_package(two_revisions: tuple[Path, str, str]) -> None:
    repo, fast, slow = two_revisions
    old = load_revision(fast, repo)
    new = load_revision(slow, repo)
    assert old is not new and old.__name__ != new.__name__ != "mnist_models"
    assert old.__revision__ == fast
    model = old.get_model("mlp-64", seed=0)
    assert type(model).__module__.startswith(old.__name__)  # not the installed package
    x = torch.randn(2, 1, 28, 28)
    with torch.inference_mode():
        assert torch.equal(model(x), new.get_model("mlp-64", seed=0)(x))


def test_unknown_revision_and_non_repo_are_clear(tmp_path: Path, two_revisions) -> None:
    repo, _, _ = two_revisions
    with pytest.raises(ConfigError, match="unknown revision 'no-such-branch'"):
        load_revision("no-such-branch", repo)
    with pytest.raises(ConfigError, match="not inside a git checkout"):
        load_revision("HEAD", tmp_path)


def run_compare(capsys, repo: Path, monkeypatch, *argv: str) -> tuple[int, str, str]:
    monkeypatch.chdir(repo)
    try:
        code = main(["compare", *argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_fails_an_injected_slowdown_with_its_estimate(
    capsys, monkeypatch, two_revisions, tmp_path: Path
) -> None:
    repo, fast, slow = two_revisions
    out_file = tmp_path / "ab.json"
    args = ["--models", "mlp-256", "--batch-sizes", "1", "--seconds", "0.4", "-o", str(out_file)]
    args.append("--no-training")
    code, out, _ = run_compare(capsys, repo, monkeypatch, "--baseline", fast, "--head", slow, *args)
    assert code == 1, out
    row = next(line for line in out.splitlines() if line.startswith("mlp-256@28 bs1"))
    assert row.endswith("FAIL")
    assert "1 of 1 slower: mlp-256@28 bs1" in out
    payload = __import__("json").loads(out_file.read_text())
    assert payload["failed"] == ["mlp-256@28 bs1"]
    assert payload["results"][0]["estimates"]["p50"]["ratio"] > 2
    # the same change read the other way round is a speed-up, which passes
    code, out, _ = run_compare(capsys, repo, monkeypatch, "--baseline", slow, "--head", fast, *args)
    assert code == 0 and out.splitlines()[2].endswith("better"), out


def test_compare_times_training_steps_of_both_revisions(
    capsys, monkeypatch, two_revisions, mnist_root: Path
) -> None:
    # the slowed forward pass is part of every training step of the `slow` revision's train()
    repo, fast, slow = two_revisions
    args = ["--models", "mlp-256", "--batch-sizes", "1", "--seconds", "0.4"]
    args += ["--data-root", str(mnist_root), "--json"]
    code, out, _ = run_compare(capsys, repo, monkeypatch, "--baseline", fast, "--head", slow, *args)
    payload = __import__("json").loads(out)
    assert code == 1 and "mlp-256@28 train bs64" in payload["failed"], out
    train = next(r for r in payload["results"] if r["label"] == "mlp-256@28 train bs64")
    assert train["batch_size"] == 64 and train["estimates"]["p50"]["ratio"] > 1.2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--baseline", "no-such-branch"], "unknown revision 'no-such-branch'"),
        (["--baseline", "HEAD", "--models", "mlp-0"], "width"),
        (["--baseline", "HEAD", "--batch-sizes", "0"], "integers >= 1"),
        (["--baseline", "HEAD", "--seconds", "-1"], "number > 0"),
        (["--baseline", "HEAD", "--threads", "0"], "expected a whole number of threads from 1"),
    ],
)
def test_compare_bad_input_is_one_line(
    capsys, monkeypatch, two_revisions, argv: list[str], message: str
) -> None:
    repo, _, _ = two_revisions
    code, out, err = run_compare(capsys, repo, monkeypatch, *argv)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("rows", ["forward", "training"])
@pytest.mark.parametrize(("second", "kept"), [(1.0, "same"), (1.5, "FAIL")])
def test_a_failing_row_is_timed_again_and_fails_only_if_it_repeats(
    monkeypatch, second: float, kept: str, rows: str
) -> None:
    """A noisy stretch of a shared machine fails one timing, not two in a row; a real
    slowdown fails both. The second timing is of models built afresh (where the first's
    tensors landed in memory is not confirmed), for forward passes and training steps alike.
    The row says what the first timing said."""
    from types import SimpleNamespace

    from mnist_models.ab import abtest, compare
    from mnist_models.ab.compare import Side, compare_sides, compare_training, render

    timings = iter([decide(*synthetic(1.5), SETTINGS), decide(*synthetic(second), SETTINGS)])
    timed: list[tuple[object, object]] = []

    def fake(a, b, *args, **kwargs):
        timed.append((a, b))
        return next(timings)

    built: list[object] = []
    real_build = compare._build
    monkeypatch.setattr(compare, "_build", lambda *a: built.append(real_build(*a)) or built[-1])
    monkeypatch.setattr(abtest, "compare_callables", fake)
    side = Side(mnist_models, "here")
    if rows == "forward":
        ((label, result),) = compare_sides(side, side, ["mlp-16"], [1], SETTINGS)
        checked = 0
    else:  # the trainers are never called: only timed, and the timing is faked
        data = SimpleNamespace(first=lambda n: SimpleNamespace(to=lambda where: "images"))
        ((label, result),) = compare_training(side, side, ["mlp-16"], SETTINGS, lambda r: data)
        checked = 2  # whether each side builds the model at all, before any timing
    assert result.verdict == kept and result.first == "FAIL"
    assert len(built) == checked + 4 and len({id(m) for m in built}) == checked + 4
    assert all(first is not again for first, again in zip(*timed, strict=True))
    row = next(line for line in render([(label, result)], side, side, SETTINGS).splitlines()
               if line.startswith(label))  # fmt: skip
    assert row.endswith("same (first FAIL, not repeated)" if kept == "same" else "FAIL")


def test_a_lanes_timed_row_is_timed_ab_against_a_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    """The latency lane's A/B (suite/timed_ab.py): this package at HEAD against the working
    tree, timed alternately; its result makes the gate's row; a revision that does not exist
    is a ConfigError that names it (the row is then judged without A/B)."""
    from types import SimpleNamespace

    from mnist_models.gates.rules import lower
    from mnist_models.gates.timed_ab import ab_record
    from mnist_models.suite import timed_ab
    from mnist_models.suite.grid import Case

    root = Path(mnist_models.__file__).parent.parent
    head = _git(root, "rev-parse", "HEAD")
    result = timed_ab.latency(Case("mlp-32"), 1, "eager", 1)(head)
    p50 = result["estimates"]["p50"]
    assert result["pairs"] >= 30 and p50["baseline_us"] > 0 and p50["candidate_us"] > 0
    assert p50["low"] <= p50["ratio"] <= p50["high"]
    metric = lower("latency_cpu_rel", rel_tol=1.0, timed=True)
    row = ab_record("t::test_latency[mlp-32@28-bs1]", metric, result, head)
    assert row.source == f"A/B against {head[:10]} here" and row.metric.unit == "us"
    with pytest.raises(ConfigError, match="unknown revision"):
        timed_ab.latency(Case("mlp-32"), 1, "eager", 1)("f" * 40)
    # it applies to the package's own models where the project measured is this package
    here = SimpleNamespace(rootpath=root)
    assert timed_ab.applies(here, Case("mlp-32"))
    assert not timed_ab.applies(SimpleNamespace(rootpath=root / "tests"), Case("mlp-32"))
    monkeypatch.setattr(timed_ab, "model_origin", lambda name: "mynet")  # a user's model
    assert not timed_ab.applies(here, Case("mlp-32"))
