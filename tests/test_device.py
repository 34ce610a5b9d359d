"""The device axis (cpu, cuda) and execution modes: the device-independent logic on the CPU,
and the CUDA paths themselves where a GPU is present (skipped with the reason elsewhere)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fakes import run_row
from pytest_benchmark.utils import get_machine_id

from mnist_models import get_model
from mnist_models.cli import main
from mnist_models.errors import ConfigError
from mnist_models.machine import machine_kind
from mnist_models.measure.data import MNISTData
from mnist_models.measure.device import (
    MODES,
    check_mode,
    device_info,
    device_memory,
    gpu_ops_per_call,
    per_call_us,
    prepare_forward,
    resolve_device,
    where_parts,
)
from mnist_models.measure.example_input import example_input
from mnist_models.measure.metrics import measure_latency
from mnist_models.measure.train import TrainConfig, train
from mnist_models.studies.catalog import StudyRun
from mnist_models.studies.latency import side_by_side_key
from mnist_models.studies.run_store import run_key
from mnist_models.studies.settings import StudySettings
from mnist_models.suite.bench_inference import latency_params
from mnist_models.suite.grid import COMPILE_GATE, parse_modes
from mnist_models.zoo.resolution import parse_resolution

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="no CUDA GPU visible to torch")
without_cuda = pytest.mark.skipif(HAS_CUDA, reason="checks the error shown where no GPU is")


# --- device and mode names -----------------------------------------------------------------------


def test_cpu_resolves_and_unknown_devices_are_refused() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    for bad in ("tpu", "cpu:1", "cuda:x", ""):
        with pytest.raises(ConfigError, match="choose cpu, cuda or cuda:N"):
            resolve_device(bad)


@without_cuda
def test_cuda_without_a_gpu_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="no CUDA GPU is visible.*--device cpu"):
        resolve_device("cuda")


def test_modes_are_checked_against_the_device() -> None:
    assert check_mode("eager", "cpu") == "eager"
    assert check_mode("compile", torch.device("cpu")) == "compile"
    assert check_mode("cuda-graph", "cuda:0") == "cuda-graph"
    with pytest.raises(ConfigError, match="cuda-graph needs --device cuda"):
        check_mode("cuda-graph", "cpu")
    with pytest.raises(ConfigError, match="unknown execution mode 'graph'"):
        check_mode("graph", "cuda")


def test_only_non_default_device_and_mode_enter_names() -> None:
    assert where_parts("cpu") == ()
    assert where_parts(torch.device("cpu"), "eager") == ()
    assert where_parts("cuda") == ("cuda",)
    assert where_parts("cuda:1", "cuda-graph") == ("cuda", "cuda-graph")
    assert where_parts("cpu", "compile") == ("compile",)


def test_cache_keys_tell_devices_apart_and_keep_cpu_keys() -> None:
    from mnist_models.measure.record import RunRecord
    from mnist_models.studies.records import StudyRow

    run = StudyRun("mlp-128")
    cpu = run_key(run, StudySettings(), 0)
    cuda = run_key(run, StudySettings(device="cuda"), 0)
    graph = run_key(run, StudySettings(device="cuda", mode="cuda-graph"), 0)
    assert cpu.startswith("mlp-128@28|bs64|e2|seed0|lr0.001|tdefault|val0.2|v")  # as before
    assert len({cpu, cuda, graph}) == 3
    assert "|cuda|" in cuda and "|cuda|cuda-graph|" in graph
    fields = {"run_id": "mlp-128@28", "model": "mlp-128", "threads": 1}
    older = StudyRow(RunRecord.from_dict(run_row(**fields)))  # stored before the device axis
    on = {d: StudyRow(RunRecord.from_dict(run_row(**fields, device=d))) for d in ("cpu", "cuda")}
    assert side_by_side_key([older]) != side_by_side_key([on["cuda"]])
    assert side_by_side_key([older]) == side_by_side_key([on["cpu"]])


def test_study_settings_refuse_an_unknown_device() -> None:
    with pytest.raises(ConfigError, match="--device must be cpu or cuda"):
        StudySettings(device="gpu")


# --- the suite's device axis ---------------------------------------------------------------------


def test_default_modes_per_device_and_explicit_lists() -> None:
    assert parse_modes(None, "cpu") == ("eager",)
    assert parse_modes(None, "cuda") == MODES
    assert parse_modes("eager, compile,eager", "cpu") == ("eager", "compile")
    with pytest.raises(ConfigError, match="cuda-graph needs --device cuda"):
        parse_modes("eager,cuda-graph", "cpu")
    with pytest.raises(ConfigError, match="names no mode"):
        parse_modes(" , ", "cpu")


def test_latency_ids_keep_eager_names_and_gate_few_compiles() -> None:
    params = latency_params(("eager", "cuda-graph", "compile"))
    ids = [p.id for p in params]
    assert "mlp-1024@28-bs1" in ids  # the CPU baseline's names are unchanged
    assert "mlp-1024@28-bs1-cuda-graph" in ids and "lenet5@28-bs64-compile" in ids
    assert len(ids) == len(set(ids))
    gated = {
        p.id for p in params if any(m.name == "gate" for m in p.marks) and p.id.endswith("-compile")
    }
    assert gated == {f"{case}-bs{bs}-compile" for case in COMPILE_GATE for bs in (1, 64)}


def test_cuda_baselines_are_stored_apart() -> None:
    from types import SimpleNamespace

    from mnist_models.suite.plugin import pytest_gate_storage

    def config(device: str) -> SimpleNamespace:
        return SimpleNamespace(getoption=lambda name: device)

    root = Path("baselines")
    assert pytest_gate_storage(config("cpu"), root) is None  # the ini's folder as it is
    assert pytest_gate_storage(config("cuda"), root) == root / "cuda"
    assert pytest_gate_storage(config("cuda:1"), root) == root / "cuda"


def test_a_baseline_that_cannot_be_written_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a GPU session once ran the whole CUDA gate tier into a read-only baseline file
    target = tmp_path / get_machine_id() / "0001_baseline.json"
    target.parent.mkdir()
    target.write_text("{}")
    target.chmod(0o444)
    code = main(["baseline", "--storage", str(tmp_path), "--", "benchmarks/no_such_file.py"])
    assert code == 2, capsys.readouterr()
    assert "cannot write" in capsys.readouterr().err and target.read_text() == "{}"


def test_device_and_gpu_are_part_of_the_machine_kind() -> None:
    cpu = {"system": "Linux", "python_version": "3.11.7", "cpu_model": "X", "cpu_count": 2}
    assert machine_kind(cpu) == machine_kind({**cpu, "device": "cpu"})  # older CPU baselines
    h100 = {**cpu, "device": "cuda", "gpu_name": "NVIDIA H100 80GB HBM3"}
    h200 = {**cpu, "device": "cuda", "gpu_name": "NVIDIA H200"}
    assert machine_kind(cpu) != machine_kind(h100) != machine_kind(h200)
    assert device_info("cpu") == {"device": "cpu"}


# --- the CPU side of the shared paths ------------------------------------------------------------


def test_host_clock_times_cpu_calls_and_compile_needs_no_gpu() -> None:
    model = get_model("mlp-16", seed=0).eval()
    x = example_input((1, 28, 28), 2)
    eager = prepare_forward(model, x)
    assert eager.mode == "eager" and eager.setup_s == 0.0
    samples = per_call_us(eager.call, 5, 1, "cpu")
    assert len(samples) == 5 and min(samples) > 0
    with pytest.raises(ConfigError, match="cuda-graph needs --device cuda"):
        prepare_forward(model, x, "cuda-graph")
    with pytest.raises(ConfigError, match="measures CUDA memory"):
        device_memory(lambda: None, "cpu")
    with pytest.raises(ConfigError, match="counts CUDA operations"):
        gpu_ops_per_call(lambda: None, "cpu")


def test_latency_records_device_and_mode() -> None:
    stats = measure_latency(get_model("mlp-16", seed=0), (1, 28, 28), 1, warmup=1, rounds=3)
    assert (stats.device, stats.mode, stats.setup_s) == ("cpu", "eager", 0.0)
    assert stats.as_dict()["device"] == "cpu"


def test_data_moves_with_every_tensor() -> None:
    t = torch.arange(6, dtype=torch.float32)
    data = MNISTData(parse_resolution("28"), t, t.long(), t[:2], t[:2].long(), t, t.long())
    moved = data.to("cpu")
    assert moved.resolution == data.resolution
    assert all(torch.equal(getattr(moved, f), getattr(data, f)) for f in ("train_x", "test_y"))


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "mlp-16", "--device", "cuda"],
        ["study", "width", "--device", "cuda"],
        ["profile", "mlp-16", "--device", "cuda"],
        ["compare", "--baseline", "HEAD", "--device", "cuda"],
    ],
    ids=["run", "study", "profile", "compare"],
)
@without_cuda
def test_cli_without_a_gpu_exits_2_before_any_work(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    if argv[0] == "study":
        argv = [*argv, "--out", str(tmp_path / "s")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no CUDA GPU is visible" in err
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())


def test_cli_refuses_cuda_graph_on_the_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "mlp-16", "--mode", "cuda-graph"]) == 2
    assert "cuda-graph needs --device cuda" in capsys.readouterr().err


@pytest.mark.slow
def test_compiled_forward_matches_eager_on_the_cpu() -> None:
    model = get_model("mlp-16", seed=0).eval()
    x = example_input((1, 28, 28), 4)
    compiled = prepare_forward(model, x, "compile")
    assert compiled.setup_s > 0
    with torch.inference_mode():
        torch.testing.assert_close(compiled.call(), model(x))


# --- CUDA itself (a GPU machine) -----------------------------------------------------------------


@needs_cuda
@pytest.mark.parametrize("mode", ["eager", "cuda-graph", "compile"])
def test_cuda_modes_compute_what_eager_computes(mode: str) -> None:
    device = resolve_device("cuda")
    model = get_model("lenet5", seed=0).to(device).eval()
    x = example_input((1, 28, 28), 8, device=str(device))
    prepared = prepare_forward(model, x, mode)
    with torch.inference_mode():
        torch.testing.assert_close(prepared.call(), model(x), rtol=1e-3, atol=1e-3)
        samples = per_call_us(prepared.call, 20, 5, device)
    assert len(samples) == 20 and min(samples) > 0
    assert (prepared.setup_s > 0) == (mode != "eager")


@needs_cuda
def test_cuda_memory_counts_what_a_call_allocates() -> None:
    device = resolve_device("cuda")
    mem, out = device_memory(lambda: torch.empty(1 << 20, device=device), device)
    assert mem.peak_bytes >= 4 << 20 and mem.retained_bytes >= 4 << 20
    del out
    again, _ = device_memory(lambda: torch.empty(1 << 20, device=device).sum(), device)
    assert again.peak_bytes >= 4 << 20 and again.retained_bytes < 4 << 20


@needs_cuda
def test_gpu_operations_are_counted_per_call_and_repeat() -> None:
    device = resolve_device("cuda")
    a, b = torch.ones(1024, device=device), torch.ones(1024, device=device)
    kernels: dict = {}
    assert gpu_ops_per_call(lambda: a + b, device, breakdown=kernels) == 1  # one elementwise
    assert kernels["per"] == 4 and [c for c, _ in kernels["kernel"].values()] == [4]
    model = get_model("mlp-1024", seed=0).to(device).eval()
    x = example_input((1, 28, 28), 1, device=str(device))
    with torch.inference_mode():
        plain = gpu_ops_per_call(lambda: model(x), device)
        checked = gpu_ops_per_call(lambda: (x.isnan().any().item(), model(x)), device)
        again = gpu_ops_per_call(lambda: model(x), device)
    assert plain >= 3  # two linear layers and an activation at least
    assert again == plain  # the same code, the same count
    assert checked > plain  # an input check adds its kernels and a copy to the host


def test_the_operators_a_call_dispatches_are_counted_by_name() -> None:
    from mnist_models.measure.device import cpu_ops_per_call

    model = get_model("mlp-128", seed=0).eval()
    x = example_input((1, 28, 28), 1)
    with torch.inference_mode():
        plain: dict = {}
        checked: dict = {}
        ops = cpu_ops_per_call(lambda: model(x), breakdown=plain)
        more = cpu_ops_per_call(lambda: (x.isnan().any().item(), model(x)), breakdown=checked)
    assert ops == sum(c for c, _ in plain["operator"].values()) / plain["per"]
    assert "aten::isnan" not in plain["operator"]
    assert checked["operator"]["aten::isnan"] == [4, 4] and more > ops  # one per call


@needs_cuda
def test_trainer_runs_on_the_gpu_with_resident_data(mnist_root) -> None:
    from mnist_models.measure.data import load_mnist

    device = resolve_device("cuda")
    data = load_mnist("28", root=mnist_root, seed=0).first(64 * 50).to(device)
    model = get_model("mlp-128", seed=0).to(device)
    result = train(model, data, TrainConfig(epochs=1, batch_size=64, seed=0))
    assert data.train_x.device.type == "cuda"
    assert result.history[0].train_accuracy > 0.5 and result.history[0].seconds > 0
    info = device_info(device)
    assert info["device"] == "cuda" and info["gpu_name"] and info["cuda_version"]
