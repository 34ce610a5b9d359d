"""The CLI as users see it: figures, JSON keys, one-line errors (exit 2), no half-written files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_models import atomic
from mnist_models.measure import data as data_mod


@pytest.mark.parametrize(
    "model_id, params, macs",
    [
        ("mlp-512", 407_050, 406_528),
        ("mlp-1024x3", 2_913_290, 2_910_208),
        ("lenet5", 44_426, 281_640),
        ("lenet5-32", 61_706, 416_520),
    ],
)
def test_count_json(cli, model_id: str, params: int, macs: int) -> None:
    code, out, _ = cli("count", model_id, "--json")
    payload = json.loads(out)
    assert code == 0
    assert (payload["params"], payload["macs"], payload["flops"]) == (params, macs, 2 * macs)
    assert payload["size_bytes"] > 4 * params
    assert sum(layer["macs"] for layer in payload["layers"]) == macs


def test_count_mlp512_flops(cli) -> None:
    _, out, _ = cli("count", "mlp-512", "--json")
    assert json.loads(out)["flops"] == 813_056


def test_count_writes_output_atomically(cli, tmp_path: Path) -> None:
    target = tmp_path / "count.json"
    code, out, _ = cli("count", "lenet5", "-o", str(target))
    assert code == 0 and "lenet5@28" in out
    assert json.loads(target.read_text())["params"] == 44_426
    assert [p.name for p in tmp_path.iterdir()] == ["count.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


@pytest.mark.parametrize(
    "argv, message",
    [
        (["count", "resnet50"], "unknown model 'resnet50'"),
        (["count", "mlp-0"], "width of hidden layer 1 must be an integer in 1..65536, got 0"),
        (["count", "mlp-64x0"], "depth"),
        (["count", "mlp-64", "--resolution", "crop:30"], "a crop cannot be larger"),
        (["count", "mlp-64", "--resolution", "huge"], "resolution must be"),
        (["count", "cnn13", "--resolution", "resize:6"], "cnn13 at resolution resize:6"),
        (["run", "mlp-64", "--epochs", "0"], "epochs must be an integer >= 1"),
        (["run", "mlp-64", "--epochs", "two"], "invalid int value: 'two'"),
        (["run", "mlp-64", "--val-fraction", "1.5"], "val_fraction must be in"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, argv: list[str], message: str) -> None:
    code, out, err = cli(*argv)
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert err.startswith("mnist-models")


def test_unwritable_output_fails_before_work_and_leaves_nothing(cli, tmp_path: Path) -> None:
    targets = [tmp_path / "missing" / "r.json", tmp_path]
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() != 0:  # root ignores permission bits
        targets.append(locked / "r.json")
    try:
        for target in targets:
            code, _, err = cli("run", "mlp-16", "-o", str(target))
            assert code == 2 and err.count("\n") == 1, err
            assert "cannot write" in err or "is a directory" in err
        assert list(locked.iterdir()) == [] and not (tmp_path / "missing").exists()
    finally:
        locked.chmod(0o700)


def test_corrupted_dataset_is_reported_by_data_and_run(cli, fake_mnist: Path) -> None:
    path = data_mod.raw_dir(fake_mnist) / "train-images-idx3-ubyte"
    path.write_bytes(b"garbage")
    for argv in (
        ["data", "--data-root", str(fake_mnist)],
        ["run", "mlp-16", "--data-root", str(fake_mnist)],
    ):
        code, _, err = cli(*argv)
        assert code == 2 and "corrupted MNIST file" in err and err.count("\n") == 1


def test_atomic_write_keeps_the_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "result.json"
    target.write_text("old")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(atomic.OutputError, match="disk full; nothing was replaced"):
        atomic.write_text_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_run_json_has_the_documented_keys(cli, mnist_root: Path, tmp_path: Path) -> None:
    code, out, _ = cli(
        "run",
        "mlp-16",
        "--epochs",
        "1",
        "--batch-size",
        "256",
        "--resolution",
        "resize:7",
        "--threads",
        "1",
        "--val-fraction",
        "0",
        "--data-root",
        str(mnist_root),
        "--json",
        "-o",
        str(tmp_path / "r.json"),
    )
    payload = json.loads(out)
    assert code == 0
    for key in (
        "params",
        "macs",
        "flops",
        "size_bytes",
        "accuracy",
        "train_seconds",
        "epoch_seconds",
        "train_samples",
        "threads",
        "latency_us_p50",
        "train_co2_g",
    ):
        assert key in payload, key
    assert payload["train_samples"] == 60_000 and payload["threads"] == 1
    assert payload["run_id"] == "mlp-16@resize:7" and 0.5 < payload["accuracy"] <= 1
    assert json.loads((tmp_path / "r.json").read_text()) == payload


def test_console_script_has_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_models", "count", "mlp-x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "mnist-models: error: bad MLP id 'mlp-x'; use mlp-W, mlp-WxD or mlp-W1-W2-... (W >= 1)"
    ]


def test_profile_prints_the_operator_table(cli, tmp_path) -> None:
    out_file = tmp_path / "profile.txt"
    code, out, _ = cli("profile", "mlp-64", "--calls", "5", "-o", str(out_file))
    assert code == 0
    assert out.startswith("mlp-64@28: 5 forward passes at batch 1, 1 thread(s)")
    assert "aten::addmm" in out and "Self CPU Mem" in out
    assert out_file.read_text() == out
    code, out, _ = cli("profile", "lenet5", "--calls", "3", "--train")
    assert code == 0 and "training steps" in out and "convolution_backward" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["profile", "mlp-64", "--calls", "0"], "calls"),
        (["profile", "mlp-x"], "mlp-x"),
        (["study", "widht"], "invalid choice: 'widht'"),
        (["study", "width", "--epochs", "0"], "--epochs must be an integer >= 1"),
    ],
)
def test_profile_and_study_bad_input_is_one_line(cli, argv: list[str], message: str) -> None:
    code, out, err = cli(*argv)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1, err
