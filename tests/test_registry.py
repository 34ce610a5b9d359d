"""The id grammar: every named model and every form parses, and ids round-trip."""

import pytest
import torch

from mnist_models import ConfigError, get_config, get_model, list_models, parse_model_id, run_id
from mnist_models.zoo.models import ConvNetConfig, MLPConfig
from mnist_models.zoo.registry import register_model


@pytest.mark.parametrize("model_id", list_models())
def test_named_models_round_trip_and_run(model_id: str) -> None:
    config, res = get_config(model_id)
    assert config.id == model_id
    assert parse_model_id(config.id) == config
    model = get_model(model_id)
    out = model(torch.zeros(3, 1, res.size, res.size))
    assert out.shape == (3, 10)


@pytest.mark.parametrize(
    "model_id, hidden",
    [
        ("mlp-1024", (1024,)),
        ("mlp-512x3", (512,) * 3),
        ("mlp-512-256-120-84", (512, 256, 120, 84)),
        ("mlp-7x1", (7,)),
    ],
)
def test_mlp_forms(model_id: str, hidden: tuple[int, ...]) -> None:
    config = parse_model_id(model_id)
    assert isinstance(config, MLPConfig) and config.hidden == hidden


@pytest.mark.parametrize(
    "model_id, canonical",
    [
        ("mlp-512-512-512", "mlp-512x3"),
        ("mlp-64x1", "mlp-64"),
        ("cnn9-6-16", "cnn9"),
        ("CNN9-6-20", "cnn9-6-20"),
        ("cnn11-6-20-20-20", "cnn11-6-20"),
        ("cnn11-8-16-32-64", "cnn11-8-16-32-64"),
        ("lenet5:relu:max", "lenet5"),
        ("lenet5:avg:tanh", "lenet5:tanh:avg"),
        ("mlp-128:sigmoid", "mlp-128:sigmoid"),
    ],
)
def test_canonical_ids(model_id: str, canonical: str) -> None:
    assert parse_model_id(model_id).id == canonical


def test_feature_maps_and_modifiers_reach_the_module() -> None:
    config = parse_model_id("cnn9-6-20:tanh:avg")
    assert isinstance(config, ConvNetConfig)
    assert config.feature_maps == (6, 20, 20)
    model = config.build()
    kinds = {type(m).__name__ for m in model.modules()}
    assert {"Tanh", "AvgPool2d"} <= kinds and not {"ReLU", "MaxPool2d"} & kinds


def test_resolution_resizes_the_input_layer() -> None:
    config, res = get_config("mlp-100", "crop:14")
    assert config.input_size == 14 and config.params == 196 * 100 + 100 + 1010
    assert run_id(config, res) == "mlp-100@crop:14"
    lenet, res = get_config("lenet5-32")
    assert res.id == "pad:32" and lenet.params == 61_706


@pytest.mark.parametrize(
    "model_id, message",
    [
        ("mlp-0", "width of hidden layer 1 must be an integer in 1..65536, got 0"),
        ("mlp-512x0", "depth"),
        ("mlp-", "bad MLP id"),
        ("resnet50", "unknown model"),
        ("", "non-empty"),
        ("cnn9-6", "takes 2 feature-map numbers"),
        ("cnn9-0-16", "feature maps"),
        ("lenet5:bogus", "unknown modifier ':bogus'"),
        ("mlp-8:avg", "does not apply"),
    ],
)
def test_bad_ids_raise_config_error(model_id: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_model_id(model_id)


def test_resolution_too_small_for_the_network() -> None:
    with pytest.raises(ConfigError, match=r"cnn13 at resolution resize:7: stage \d"):
        get_config("cnn13", "resize:7")


def test_register_model_rejects_duplicates() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model("lenet5")(lambda: parse_model_id("lenet5"))


def test_get_model_is_seeded() -> None:
    a, b, c = get_model("mlp-16", seed=1), get_model("mlp-16", seed=1), get_model("mlp-16", seed=2)
    assert torch.equal(a.net.fc1.weight, b.net.fc1.weight)
    assert not torch.equal(a.net.fc1.weight, c.net.fc1.weight)
