"""`mnist-models history`: a store built commit by commit in a temporary git repository, with
known steps; the detector finds those steps and nothing else, and plots them."""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_models.cli import main
from mnist_models.gates.schema import SchemaError
from mnist_models.reporting.history import find_steps, load, model_of, series, steps

N = 30
LATENCY = "benchmarks/bench_inference.py::test_latency[mlp-1024@28-bs1]"
COUNTS = "benchmarks/bench_counts.py::test_counts[mlp-32@28]"
TRAINING = "benchmarks/bench_training.py::test_training[lenet5@28-bs64-e2]"


def _gate(name: str, direction: str, rel_tol: float = 0.0) -> dict:
    return {"name": name, "direction": direction, "rel_tol": rel_tol}


def _run(i: int, rng: random.Random) -> dict:
    """Commit i's saved run: latency +6% from commit 10 and -5% from 20 (1% noise), accuracy
    flat (noise only), params up by 10 at commit 15 (exact, no noise)."""
    level = 1.0 * (1.06 if i >= 10 else 1.0) * (0.95 if i >= 20 else 1.0)
    return {
        "machine_info": {"cpu_model": "Test CPU", "cpu_count": 2, "python_version": "3.11.7"},
        "benchmarks": [
            {
                "fullname": LATENCY,
                "stats": {"median": 1e-4},
                "extra_info": {
                    "latency_cpu_rel": level * (1 + rng.gauss(0, 0.01)),
                    "gates": {"latency_cpu_rel": _gate("latency_cpu_rel", "lower", 1.0)},
                },
            },
            {
                "fullname": TRAINING,
                "stats": {"median": 10.0},
                "extra_info": {
                    "accuracy": 0.985 + rng.gauss(0, 0.0005),
                    "gates": {"accuracy": _gate("accuracy", "higher")},
                },
            },
            {
                "fullname": COUNTS,
                "stats": {"median": 1e-3},
                "extra_info": {
                    "params": 25_450 + (10 if i >= 15 else 0),
                    "gates": {"params": _gate("params", "exact")},
                },
            },
        ],
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A history appended the way the workflow does it: one commit, one run, one --append."""
    repo = tmp_path_factory.mktemp("repo")
    store = repo / "history" / "history.jsonl"
    rng = random.Random(7)

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    cwd = Path.cwd()
    try:
        import os

        os.chdir(repo)  # the commit and date come from git's HEAD
        for i in range(N):
            (repo / "code.txt").write_text(f"change {i}\n")
            git("add", "code.txt")
            date = f"2026-01-{1 + i // 2:02d}T{10 + i % 2}:00:00+00:00"
            git(
                "-c", "user.name=t", "-c", "user.email=t@t",
                "commit", "-qm", f"change {i}", "--date", date,
            )  # fmt: skip
            run = repo / "run.json"
            run.write_text(json.dumps(_run(i, rng)))
            assert main(["history", "--append", str(run), "--store", str(store)]) == 0
    finally:
        os.chdir(cwd)
    return store


def test_every_run_is_stored_once_per_commit(store: Path) -> None:
    points = load(store)
    assert len(points) == 3 * N
    assert len({p["commit"] for p in points}) == N
    assert {p["machine"] for p in points} == {"Test CPU x2 cpu py3.11"}


def test_the_injected_steps_are_found_and_nothing_else(store: Path) -> None:
    found = {s.metric: [st.index for st in find_steps(s)] for s in series(load(store))}
    assert found == {"latency_cpu_rel": [10, 20], "accuracy": [], "params": [15]}
    latency = next(s for s in series(load(store), "latency_cpu_rel"))
    changes = [round(st.change, 2) for st in find_steps(latency)]
    assert changes == [0.06, -0.05]


def test_cli_lists_the_commits_plots_and_the_compare_command(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hist"
    assert main(["history", "mlp-1024@28", "--store", str(store), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1 series, 2 steps" in text
    assert re.search(r"\+6\.\d% between \w{12} and \w{12}", text)
    assert re.search(r"-[45]\.\d% between", text)
    assert "confirm: mnist-models compare --baseline" in text and "--models mlp-1024@28" in text
    assert (out / "index.md").exists() and len(list(out.glob("*.png"))) == 1
    assert main(["history", "no-such-model", "--store", str(store)]) == 2


def test_a_re_run_of_a_commit_replaces_its_figures(store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "h.jsonl"
    copy.write_text(store.read_text())
    first = load(copy)[0]
    run = tmp_path / "run.json"
    run.write_text(json.dumps(_run(0, random.Random(1))))
    args = ["--commit", first["commit"], "--date", first["date"]]
    assert main(["history", "--append", str(run), "--store", str(copy), *args]) == 0
    assert len(load(copy)) == 3 * N


def test_pure_noise_has_no_steps_and_short_series_none() -> None:
    rng = random.Random(3)
    assert steps([1 + rng.gauss(0, 0.02) for _ in range(60)]) == []
    assert steps([1.0, 2.0, 1.0]) == []
    assert steps([1.0] * 10 + [1.005] * 10) == []  # below the 1% minimum effect


def test_model_ids_come_from_benchmark_names() -> None:
    assert model_of(LATENCY) == "mlp-1024@28"
    assert model_of(TRAINING) == "lenet5@28"
    assert model_of("benchmarks/bench_x.py::test_y") is None


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("commit", "abc -o /tmp/pwned", "commit must be a hex commit id"),
        ("date", "yesterday", "date must be an ISO 8601 date"),
        ("value", "1", "value must be a finite number"),
        ("machine", 7, "machine must be a non-empty string"),
        ("direction", "sideways", "direction must be exact, higher or lower"),
    ],
)
def test_every_field_of_the_store_is_checked_on_read(
    store: Path, tmp_path: Path, field: str, value: object, message: str
) -> None:
    bad = tmp_path / "h.jsonl"
    first = {**load(store)[0], field: value}
    bad.write_text(json.dumps(first) + "\n")
    with pytest.raises(SchemaError, match=f"h.jsonl:1: {message}"):
        load(bad)


@pytest.mark.parametrize("content", [b"\xff\xfe not text", None])
def test_an_unreadable_store_is_one_line(
    tmp_path: Path, content: bytes | None, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "h.jsonl"
    if content is None:
        bad.mkdir()  # a folder
    else:
        bad.write_bytes(content)
    assert main(["history", "--store", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "cannot read the history" in err and "Traceback" not in err


def test_confirm_passes_arguments_as_a_list_and_fails_when_compare_fails(
    store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mnist_models.cli as cli

    calls: list[list[str]] = []
    real_main = cli.main

    def fake_main(argv):  # compare itself is tested elsewhere: record and fail it
        if argv and argv[0] == "compare":
            calls.append(list(argv))
            return 1
        return real_main(argv)

    monkeypatch.setattr(cli, "main", fake_main)
    code = real_main(["history", "mlp-1024@28", "--store", str(store), "--confirm"])
    assert code == 1 and len(calls) == 2
    assert calls[0][:2] == ["compare", "--baseline"] and calls[0][-2:] == [
        "--models",
        "mlp-1024@28",
    ]


def test_history_out_keeps_a_users_folder(store: Path, tmp_path: Path) -> None:
    theirs = tmp_path / "mine"
    theirs.mkdir()
    (theirs / "index.md").write_text("my notes\n")
    assert main(["history", "mlp-1024@28", "--store", str(store), "--out", str(theirs)]) == 2
    assert (theirs / "index.md").read_text() == "my notes\n"
    again = tmp_path / "plots"
    for _ in range(2):  # a folder it wrote itself is written again
        assert main(["history", "mlp-1024@28", "--store", str(store), "--out", str(again)]) == 0


def test_two_machine_kinds_never_share_a_plot_file(store: Path, tmp_path: Path) -> None:
    both = tmp_path / "h.jsonl"
    points = load(store)
    other = [{**p, "machine": "Other CPU x8 cpu py3.11"} for p in points]
    both.write_text("".join(json.dumps(p) + "\n" for p in points + other))
    out = tmp_path / "plots"
    args = ["history", "mlp-1024@28", "--store", str(both), "--out", str(out), "--all"]
    assert main(args) == 0
    assert len(list(out.glob("*.png"))) == 2


FIELD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["abc1234", "2026-01-01T00:00:00+00:00", "exact", "-o /tmp/x", "a b"]),
    st.lists(st.integers(), max_size=2),
)  # fmt: skip
SOUND = {
    "commit": "0123abcd", "date": "2026-01-01T00:00:00+00:00", "machine": "m", "benchmark": "b",
    "metric": "x", "value": 1.5, "direction": "lower",
}  # fmt: skip
# each field sound or crafted, one at a time or several: both branches are reached
RECORDS = st.fixed_dictionaries(
    {name: st.one_of(st.just(value), FIELD_VALUES) for name, value in SOUND.items()}
)


@given(record=RECORDS)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_history_line_is_a_sound_record_or_one_named_error(tmp_path: Path, record) -> None:
    store = tmp_path / "h.jsonl"
    store.write_text(json.dumps(record) + "\n")
    try:
        (point,) = load(store)
    except SchemaError as err:
        assert str(err).startswith(f"{store}:1")
        return
    # what loads is what the commands may use: a hex commit, an ISO date, a finite value
    assert re.fullmatch(r"[0-9a-f]{7,40}", point["commit"])
    assert math.isfinite(point["value"]) and isinstance(point["benchmark"], str)
    assert point["direction"] in (None, "exact", "higher", "lower")
