"""Analytic parameter and MAC counts against the real modules, FlopCounterMode and thop."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from mnist_models import ConfigError, get_config, list_models
from mnist_models.measure.metrics import count_params, flop_counts, thop_macs
from mnist_models.zoo.models import ConvNetConfig, ConvStage, MLPConfig
from mnist_models.zoo.resolution import Resolution

# The figures the studies published, fixed here so that a formula change cannot pass unnoticed.
KNOWN = {
    "mlp-512": (407_050, 406_528),
    "mlp-1024x3": (2_913_290, 2_910_208),
    "lenet5": (44_426, 281_640),
    "lenet5-32": (61_706, 416_520),
}


def thop_expected(config: MLPConfig | ConvNetConfig) -> int:
    """thop counts conv and linear MACs as we do, plus one op per AvgPool output element."""
    if getattr(config, "pooling", "max") != "avg":
        return config.macs
    extra = 0
    for layer in config.layers():
        if layer.kind == "pool":
            extra += layer.shape[0] * layer.shape[1] * layer.shape[2]
    return config.macs + extra


def check_counts(config: MLPConfig | ConvNetConfig, device: str = "cpu") -> None:
    with torch.device(device):
        model = config.build()
    shape = (getattr(config, "in_channels", 1), config.input_size, config.input_size)
    assert count_params(model) == config.params
    macs, per_layer = flop_counts(model, shape)
    assert macs == config.macs
    for layer in config.layers():
        assert per_layer.get(layer.name, 0) == layer.macs, layer.name
    assert thop_macs(model, shape) == thop_expected(config)


@pytest.mark.parametrize("model_id", sorted(KNOWN))
def test_published_counts(model_id: str) -> None:
    config, _ = get_config(model_id)
    assert (config.params, config.macs) == KNOWN[model_id]


@pytest.mark.parametrize("model_id", list_models())
@pytest.mark.parametrize("modifiers", ["", ":tanh:avg"])
def test_every_named_model_counts_match(model_id: str, modifiers: str) -> None:
    if model_id.startswith("mlp") and "avg" in modifiers:
        modifiers = ":tanh"
    config, _ = get_config(model_id + modifiers)
    check_counts(config)


def test_thop_does_not_touch_the_live_model() -> None:
    config, _ = get_config("lenet5")
    model = config.build()
    before = set(dict(model.named_buffers()))
    thop_macs(model, (1, 28, 28))
    assert set(dict(model.named_buffers())) == before
    assert not any(m._forward_hooks for m in model.modules())


resolutions = st.one_of(
    st.just(Resolution()),
    st.builds(Resolution, st.just("resize"), st.integers(1, 64)),
    st.builds(Resolution, st.just("crop"), st.integers(1, 28)),
    st.builds(Resolution, st.just("pad"), st.integers(28, 48)),
)


@given(
    hidden=st.lists(st.integers(1, 4096), min_size=1, max_size=8),
    res=resolutions,
    activation=st.sampled_from(["relu", "tanh", "sigmoid"]),
)
def test_mlp_formula_matches_module(hidden: list[int], res: Resolution, activation: str) -> None:
    config = MLPConfig(hidden=tuple(hidden), activation=activation, input_size=res.size)
    check_counts(config, device="meta")  # meta: shapes only, so width 4096 x 8 stays instant


@st.composite
def conv_stacks(draw: st.DrawFn) -> ConvNetConfig:
    """A random valid stack of 1 to 5 conv+pool stages on a 12..40 input."""
    size = draw(st.integers(12, 40))
    stages, side = [], size
    for _ in range(draw(st.integers(1, 5))):
        kernel = draw(st.integers(1, min(7, side + 2)))
        padding = draw(st.integers(0, kernel // 2))
        if kernel > side + 2 * padding:
            break
        after_conv = side - kernel + 2 * padding + 1
        pool = draw(st.integers(1, min(3, after_conv)))
        stages.append(ConvStage(draw(st.integers(1, 24)), kernel, padding, pool))
        side = after_conv // pool
    if not stages:
        stages.append(ConvStage(4, 1, 0, 1))
    return ConvNetConfig(
        stages=tuple(stages),
        head=tuple(draw(st.lists(st.integers(1, 128), max_size=2))),
        activation=draw(st.sampled_from(["relu", "tanh", "sigmoid"])),
        pooling=draw(st.sampled_from(["max", "avg"])),
        input_size=size,
    )


@given(config=conv_stacks())
def test_conv_formula_matches_module(config: ConvNetConfig) -> None:
    check_counts(config)
    model = config.build()
    out = model.features(torch.zeros(2, 1, config.input_size, config.input_size))
    assert out.shape[1:] == config.layers()[2 * len(config.stages) - 1].shape


@given(size=st.integers(1, 11), kernel=st.integers(5, 9))
def test_kernel_larger_than_feature_map_is_rejected(size: int, kernel: int) -> None:
    if kernel <= size:
        return
    with pytest.raises(ConfigError, match=f"kernel {kernel} is larger than its {size}x{size}"):
        ConvNetConfig(stages=(ConvStage(6, kernel, 0, 1),), input_size=size)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden": ()}, "depth"),
        ({"hidden": (0,)}, "got 0"),
        (
            {"hidden": (8,), "activation": "gelu"},
            "activation must be one of relu, tanh, sigmoid, got 'gelu'",
        ),
        ({"hidden": (8,), "input_size": 0}, "input_size"),
    ],
)
def test_invalid_mlp_configs(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MLPConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"stages": ()}, "number of conv stages"),
        ({"stages": (ConvStage(6, 5),), "pooling": "sum"}, "pooling must be one of max, avg"),
        ({"stages": (ConvStage(6, 5, 0, 9),)}, "stage 1 pool"),
        ({"stages": (ConvStage(6, 5),), "name": "vgg"}, "unknown layout"),
    ],
)
def test_invalid_conv_configs(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ConvNetConfig(**kwargs)


def test_analytic_layer_names_are_module_names() -> None:
    config, _ = get_config("cnn13")
    names = {
        n.rsplit(".", 1)[-1]
        for n, m in config.build().named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.MaxPool2d))
    }
    assert names == {layer.name for layer in config.layers()}


class _Block(nn.Module):
    """A user's custom block: its layers in a ModuleList, run in order by its own forward."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for part in self.parts:
            x = part(x)
        return x


def _wrapped(draw: st.DrawFn, layers: list[nn.Module], depth: int) -> list[nn.Module]:
    """The layers, some runs of them nested (Sequential or a custom block), `depth` levels."""
    if depth == 0 or len(layers) < 2:
        return layers
    cut = draw(st.integers(1, len(layers) - 1))
    inner = _wrapped(draw, layers[cut:], depth - 1)
    box = draw(st.sampled_from([nn.Sequential, lambda *m: _Block(list(m))]))
    return [*layers[:cut], box(*inner)]


@st.composite
def nested_models(draw: st.DrawFn) -> tuple[nn.Module, int]:
    """(a model, its input size): conv stages (conv, maybe BatchNorm, ReLU, maybe a 2x2
    max-pool), then a linear head to 10, nested at random in Sequential and in blocks that
    hold a ModuleList."""
    layers: list[nn.Module] = []
    channels, side = 1, draw(st.sampled_from([14, 20, 28]))
    size = side
    for _ in range(draw(st.integers(0, 3))):
        out, k = draw(st.integers(1, 6)), draw(st.sampled_from([1, 3, 5]))
        pad = draw(st.integers(0, k // 2))
        if size + 2 * pad - k + 1 < 2:
            break
        layers.append(nn.Conv2d(channels, out, k, padding=pad))
        channels, size = out, size + 2 * pad - k + 1
        if draw(st.booleans()):
            layers.append(nn.BatchNorm2d(channels))
        layers.append(nn.ReLU())
        if draw(st.booleans()):
            layers.append(nn.MaxPool2d(2))
            size //= 2
    layers.append(nn.Flatten())
    width = channels * size * size
    for hidden in draw(st.lists(st.integers(1, 12), max_size=2)):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*_wrapped(draw, layers, draw(st.integers(0, 3)))), side


def _formula(module: nn.Module, shape: tuple[int, ...]) -> int:
    """MACs by formula of one leaf from its output shape: conv and linear only."""
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        return shape[0] * shape[1] * shape[2] * module.in_channels * k
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    return 0


@given(nested_models())
def test_every_leaf_of_a_nested_model_gets_its_own_macs_and_the_rows_sum_to_the_total(
    drawn: tuple[nn.Module, int],
) -> None:
    from mnist_models.zoo.models.module import ModuleConfig

    model, side = drawn

    def factory(input_size: int = side) -> nn.Module:
        return model

    rows = ModuleConfig("nested", factory, input_size=side).layers()
    leaves = dict(model.named_modules())
    assert [r.name for r in rows] == [n for n, m in leaves.items() if n and not any(m.children())]
    for row in rows:  # each leaf by its full path, wherever it sits
        assert row.macs == _formula(leaves[row.name], row.shape), row
    total, _ = flop_counts(model, (1, side, side))
    assert sum(r.macs for r in rows) == total
