"""Users' own models: any nn.Module factory registered from outside the package (directly or
through the `mnist_bench.models` entry point), counted from the module, checked against a
declaration, trained repeatably. The example is PyTorch's MNIST model (examples/pytorch_net)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mnist_models import ConfigError, get_config, get_model, list_models, model_origin
from mnist_models.measure.data import MNISTData, load_mnist
from mnist_models.measure.train import TrainConfig, train
from mnist_models.zoo import registry
from mnist_models.zoo.registry import register_module

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pytorch_net"
NET_PARAMS = 1_199_882  # pytorch/examples mnist/main.py Net
NET_MACS = 11_992_448  # conv1 194,688 + conv2 10,616,832 + fc1 1,179,648 + fc2 1,280 (thop agrees)


@pytest.fixture
def own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry as the package ships it, restored after the test; the example importable."""
    monkeypatch.setattr(registry, "_NAMED", dict(registry._NAMED))
    monkeypatch.setattr(registry, "_ORIGIN", dict(registry._ORIGIN))
    monkeypatch.setattr(registry, "_entry_points_loaded", True)
    monkeypatch.syspath_prepend(str(EXAMPLE))


def _net():
    from pytorch_net import Net

    return Net


def test_a_module_factory_is_counted_from_the_module(own_registry: None, cli) -> None:
    register_module("pytorch-net", _net())
    config, res = get_config("pytorch-net")
    assert (config.params, config.macs, res.id) == (NET_PARAMS, NET_MACS, "28")
    model = get_model("pytorch-net")
    assert sum(p.numel() for p in model.parameters()) == NET_PARAMS
    by_name = {layer.name: layer for layer in config.layers()}
    assert by_name["conv2"].shape == (64, 24, 24) and by_name["fc1"].macs == 9216 * 128
    code, out, _ = cli("count", "pytorch-net")
    assert code == 0 and f"params {NET_PARAMS:,}  MACs {NET_MACS:,}" in out
    assert f"thop MACs {NET_MACS:,}" in out
    code, out, _ = cli("list")
    row = next(line for line in out.splitlines() if line.startswith("pytorch-net"))
    assert "1,199,882" in row and "pytorch_net" in row


def test_a_declared_count_is_checked_against_the_module(own_registry: None) -> None:
    register_module("net-declared", _net(), params=NET_PARAMS, macs=NET_MACS)
    assert get_config("net-declared")[0].params == NET_PARAMS
    register_module("net-wrong", _net(), params=1_000_000)
    with pytest.raises(ConfigError, match=r"1,000,000 parameters declared, 1,199,882 measured"):
        get_config("net-wrong")[0].layers()


@pytest.mark.parametrize(
    "name, message",
    [("Net", "lowercase"), ("mlp-3", "grammar"), ("lenet5", "grammar"), ("", "lowercase")],
)
def test_bad_names_are_refused(own_registry: None, name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        register_module(name, _net())


def test_a_fixed_size_model_refuses_another_resolution(own_registry: None) -> None:
    register_module("pytorch-net", _net())
    with pytest.raises(ConfigError, match="28x28 input only: its factory has no input_size"):
        get_config("pytorch-net", "resize:14")


def test_a_factory_with_input_size_runs_at_every_resolution(own_registry: None) -> None:
    def sized(input_size: int = 28) -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(input_size**2, 10))

    register_module("linear-any", sized)
    config, res = get_config("linear-any", "crop:14")
    assert (config.params, config.macs, res.id) == (14 * 14 * 10 + 10, 14 * 14 * 10, "crop:14")


def test_a_factory_that_fails_is_one_error_naming_the_model(own_registry: None) -> None:
    def broken() -> torch.nn.Module:
        return torch.nn.Linear(3, 4)  # expects 3 features, gets a 1x28x28 image

    register_module("broken", broken)
    with pytest.raises(ConfigError, match="model 'broken': a forward pass of a 1x28x28 input"):
        get_config("broken")[0].layers()
    register_module("not-a-module", lambda: "net")
    with pytest.raises(ConfigError, match="returned str, not an nn.Module"):
        get_model("not-a-module")


@pytest.fixture
def installed(own_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """install(VALUE): a distribution declaring `pytorch-net = VALUE` on sys.path, as pip
    leaves one, and the registry about to read the entry points again."""

    def install(value: str) -> None:
        info = tmp_path / "user_models-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: user-models\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[mnist_bench.models]\npytorch-net = {value}\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setattr(registry, "_entry_points_loaded", False)

    return install


def test_an_entry_point_registers_the_model(installed) -> None:
    installed("pytorch_net:Net")
    assert "pytorch-net" in list_models()
    assert model_origin("pytorch-net") == "entry point pytorch_net:Net"
    assert model_origin("mlp-128") == "mnist_models"
    assert get_config("pytorch-net")[0].params == NET_PARAMS


def test_an_entry_point_that_does_not_load_names_itself(installed) -> None:
    installed("no_such_module:Net")
    with pytest.raises(ConfigError, match=r"entry point pytorch-net = 'no_such_module:Net'"):
        get_config("anything-unknown")


@pytest.fixture(scope="module")
def few_images(mnist_root: Path) -> MNISTData:
    data = load_mnist(root=mnist_root)
    return replace(
        data,
        train_x=data.train_x[:512],
        train_y=data.train_y[:512],
        val_x=data.val_x[:256],
        val_y=data.val_y[:256],
    )


def test_the_example_with_dropout_trains_to_the_same_bits_twice(
    own_registry: None, few_images: MNISTData
) -> None:
    register_module("pytorch-net", _net())
    config = TrainConfig(epochs=1, batch_size=64, seed=0, threads=1)
    results = []
    for noise in (1, 2):
        torch.manual_seed(noise)
        model = get_model("pytorch-net", seed=0)
        history = train(model, few_images, config).history[-1]
        results.append((model.state_dict(), history.train_loss, history.val_accuracy))
    (first, loss_1, acc_1), (second, loss_2, acc_2) = results
    assert (loss_1, acc_1) == (loss_2, acc_2)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert sys.modules["pytorch_net"].__file__.startswith(str(EXAMPLE))


def test_the_environment_variable_registers_models(
    own_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNIST_BENCH_MODELS", "pytorch-net=pytorch_net:Net, other=pytorch_net:Net")
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    assert get_config("pytorch-net")[0].params == NET_PARAMS
    assert model_origin("other") == "MNIST_BENCH_MODELS pytorch_net:Net"
    assert registry.external_models() == ["pytorch-net", "other"]


@pytest.mark.parametrize(
    "value, message",
    [("pytorch-net", "give name=package.module:factory"),
     ("x=pytorch_net", "not of the form package.module:factory"),
     ("x=pytorch_net:Nope", "does not load: AttributeError"),
     ("mlp-128=pytorch_net:Net", "the name 'mlp-128' is already the model of the package"),
     ("lenet5=pytorch_net:Net", "the name 'lenet5' is already the model of the package"),
     ("a=pytorch_net:Net,a=pytorch_net:Other", "'a' is already the model of MNIST_BENCH_MODELS")],
)  # fmt: skip
def test_a_bad_environment_variable_is_one_error(
    own_registry: None, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("MNIST_BENCH_MODELS", value)
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    with pytest.raises(ConfigError, match=f"MNIST_BENCH_MODELS entry .*{message}"):
        list_models()


@pytest.mark.parametrize("name", ["mlp-128", "lenet5", "mlp-77"])
def test_a_declaration_that_reuses_a_zoo_id_is_refused_when_that_id_is_asked_for(
    own_registry: None, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Not only where the declarations are listed: `count lenet5` with `lenet5=...` declared
    must not count the zoo's model silently."""
    monkeypatch.setenv("MNIST_BENCH_MODELS", f"{name}=pytorch_net:Net")
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    with pytest.raises(ConfigError, match=f"MNIST_BENCH_MODELS entry .*{name}"):
        get_config(name)


def test_the_gate_tier_guards_declared_and_registered_models(
    own_registry: None, tmp_path: Path
) -> None:
    from mnist_models.suite.grid import architecture_cases
    from mnist_models.zoo.grid_config import guarded_models

    register_module("pytorch-net", _net())
    (tmp_path / "pyproject.toml").write_text('[tool.mnist-bench]\nmodels = ["mlp-300x2"]\n')
    assert guarded_models(tmp_path) == ("pytorch-net", "mlp-300x2")
    ids = [case.id for case in architecture_cases()]
    assert "pytorch-net@28" in ids and ids.count("pytorch-net@28") == 1


@pytest.mark.parametrize(
    "text, message",
    [('models = "mlp-3"', "models must be a list of strings"),
     ('models = ["nonsense"]', r"\[tool.mnist-bench\] models: unknown model 'nonsense'"),
     ("models = [", "cannot read"),
     ('zoo = "no"', "zoo must be true or false"),
     ("colour = 1", "has no key 'colour'; the keys are models, resolutions, zoo"),
     ("resolutions = []", "resolutions is empty"),
     ('resolutions = ["blur:3"]', r"\[tool.mnist-bench\] resolutions: resolution must be"),
     ('models = ["lenet5"]\nresolutions = ["28", "crop:7"]', "models: lenet5 at resolution")],
)  # fmt: skip
def test_a_bad_grid_declaration_names_the_file(
    own_registry: None, tmp_path: Path, text: str, message: str
) -> None:
    from mnist_models.zoo.grid_config import guarded_models

    (tmp_path / "pyproject.toml").write_text(f"[tool.mnist-bench]\n{text}\n")
    with pytest.raises(ConfigError, match=message):
        guarded_models(tmp_path)


def test_a_project_may_run_its_own_models_only_at_its_resolutions(
    own_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mnist_models.suite.grid import architecture_cases, gate_training

    (tmp_path / "pyproject.toml").write_text(
        '[tool.mnist-bench]\nmodels = ["mlp-300x2"]\nresolutions = ["28", "crop:20"]\nzoo = false\n'
    )
    monkeypatch.chdir(tmp_path)
    ids = ["mlp-300x2@28", "mlp-300x2@crop:20"]
    assert [case.id for case in architecture_cases()] == ids
    assert gate_training() == tuple(ids)


class _Nested(torch.nn.Module):
    """Two conv stages with BatchNorm and dropout inside Sequentials, a ModuleList, and an
    operation in forward outside any module."""

    def __init__(self) -> None:
        super().__init__()
        conv = torch.nn.Conv2d
        self.features = torch.nn.Sequential(
            torch.nn.Sequential(conv(1, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU()),
            torch.nn.Sequential(conv(8, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU()),
            torch.nn.Dropout(0.25),
        )
        self.heads = torch.nn.ModuleList([torch.nn.Linear(8 * 24 * 24, 32)])
        self.out = torch.nn.Linear(32, 10)
        self.mix = torch.nn.Parameter(torch.ones(32, 32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.heads[0](self.features(x).flatten(1))
        return self.out(x @ self.mix)  # (B, 32) @ (32, 32): in forward, no module


def test_every_nested_layer_gets_its_own_macs_and_the_rows_add_up(own_registry: None, cli) -> None:
    register_module("nested", _Nested)
    config, _ = get_config("nested")
    by_name = {layer.name: layer for layer in config.layers()}
    assert by_name["features.0.0"].macs == 8 * 9 * 26 * 26
    assert by_name["features.1.0"].macs == 8 * 8 * 9 * 24 * 24
    assert by_name["heads.0"].macs == 8 * 24 * 24 * 32 and by_name["out"].macs == 32 * 10
    assert by_name["(in forward)"].macs == 32 * 32
    assert sum(layer.macs for layer in by_name.values()) == config.macs
    assert sum(layer.params for layer in by_name.values()) == config.params
    code, out, _ = cli("count", "nested", "--json")
    assert code == 0
    import json

    payload = json.loads(out)
    extra = payload["macs_thop_extra"]  # thop gives BatchNorm ops of its own
    assert set(extra) >= {"BatchNorm2d"}
    diff = payload["macs_thop"] - payload["macs"]
    assert diff == sum(extra.values()) - 32 * 32  # thop misses the matmul in forward
    code, out, _ = cli("count", "nested")
    assert (
        f"thop MACs differ by {diff:+,}: it counts BatchNorm2d {extra['BatchNorm2d']:,} as ops "
        "of their own and it misses 1,024 computed in forward outside any module" in out
    )


class _NoWeights(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :10]


class _FiveClasses(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(784, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


@pytest.mark.parametrize(
    "factory, message",
    [(_NoWeights, "model 'bad' has no trainable parameters: .* give it at least one layer"),
     (_FiveClasses, r"model 'bad': a \(1, 1, 28, 28\) input gave an output of shape \(1, 5\); "
                    r"the lanes need \(batch, 10\) logits")],
)  # fmt: skip
def test_a_model_the_lanes_cannot_use_is_refused_before_any_work(
    own_registry: None, cli, factory, message: str
) -> None:
    register_module("bad", factory)
    with pytest.raises(ConfigError, match=message):
        get_model("bad")
    code, _, err = cli("count", "bad")
    assert code == 2 and "Traceback" not in err and "bad" in err


@pytest.mark.parametrize("tier", ["gate", "full"])
def test_a_project_without_the_zoo_collects_its_declared_grid_only(tier: str) -> None:
    """The example declares its model at 28x28 with zoo = false: every lane, the data lane
    too, runs that grid only, and no lane collects an empty parameter set (`NOTSET`)."""
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(EXAMPLE),
           "MNIST_BENCH_MODELS": "pytorch-net=pytorch_net:Net"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "--co", "-q", "-m", tier,
         "-p", "no:cacheprovider"],
        cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    assert ids and not [i for i in ids if "NOTSET" in i]
    data = [i for i in ids if "test_data_pipeline" in i]
    assert data == ["benchmarks/bench_data.py::test_data_pipeline[28]"]
    assert all("pytorch-net" in i for i in ids if "test_data_pipeline" not in i), ids
