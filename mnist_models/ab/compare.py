"""`mnist-models compare`: the latency of two versions of the models, timed alternately.

The baseline revision's package is imported beside the current one (revision.py); for each
model and batch size both versions run on one input tensor, in alternating blocks
(abtest.py), and the change of p50/p90/p99 is reported with its interval and a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..labels import batch_label
from ..table import text_table
from ..zoo import REPRESENTATIVE_MODELS

if TYPE_CHECKING:  # abtest imports torch and numpy: not at CLI start-up
    from .abtest import ABResult, ABSettings

# The representative models (the gate tier trains the same), at batch 1 and 64.
DEFAULT_MODELS = REPRESENTATIVE_MODELS
DEFAULT_BATCH_SIZES = (1, 64)
# Training rows: each timed call is the side's own `train()` over this many steps of batch 64
# (a fixed slice of the seeded training split), so data slicing, forward, backward and Adam
# of both versions are timed alternately like the forward passes.
TRAIN_STEPS = 4
TRAIN_BATCH_SIZE = 64


@dataclass(frozen=True)
class Side:
    """One version of the package under comparison, and how to name it in reports."""

    package: ModuleType
    name: str


def split_run_id(text: str) -> tuple[str, str | None]:
    """`mlp-1024@resize:14` -> ("mlp-1024", "resize:14"); `lenet5` -> ("lenet5", None)."""
    model, _, res = text.strip().partition("@")
    if not model:
        raise ConfigError(f"empty model id in {text!r}; give ids such as mlp-1024 or lenet5@28")
    return model, (res or None)


def _build(
    side: Side, model_id: str, resolution: str | None, device: object = "cpu"
) -> object | None:
    """The side's model on `device`, or None when that version does not know the id."""
    errors = getattr(side.package, "MnistBenchError", ConfigError)
    try:
        return side.package.get_model(model_id, resolution, seed=0).to(device).eval()
    except errors:
        return None


def _synchronized(fn: Callable[[], object], device: object) -> Callable[[], object]:
    """fn, then wait for the GPU: a host-timed call then lasts as long as its work."""
    from ..measure.device import synchronize

    def call() -> object:
        out = fn()
        synchronize(device)
        return out

    return call


def _forward_calls(
    model_a: object, model_b: object, x: object, mode: str, where: object,
    wrap: Callable[[object, object], object] | None,
) -> tuple[Callable[[], object], Callable[[], object]]:  # fmt: skip
    """Each side's forward call on `x` in execution mode `mode` (B wrapped where asked); on
    CUDA each call ends with a synchronise."""
    from ..measure.device import prepare_forward

    call_a = prepare_forward(model_a, x, mode).call
    call_b = prepare_forward(wrap(model_b, x) if wrap else model_b, x, mode).call
    if getattr(where, "type", "cpu") == "cuda":
        return _synchronized(call_a, where), _synchronized(call_b, where)
    return call_a, call_b


def timed_twice_if_failing(
    timing: Callable[[tuple[Any, Any]], ABResult],
    fresh: Callable[[], tuple[Any, Any]],
    first: tuple[Any, Any] | None = None,
) -> ABResult:
    """`timing` of both sides (`first`, or `fresh()`), and where it fails once more on both
    built afresh: a real slowdown persists; a noisy stretch does not, nor where the first
    models' tensors happened to land in memory (that moves a side by several percent:
    docs/determinism-keys.md, "Timed rows"). The second result names the first's verdict."""
    result = timing(first if first is not None else fresh())
    if not result.failed:
        return result
    return replace(timing(fresh()), first=str(result.verdict))


def _pair(build: Callable[..., Any], baseline: Side, candidate: Side, *args: Any) -> tuple:
    """`build(side, *args)` of the baseline and the candidate."""
    return build(baseline, *args), build(candidate, *args)


def _time_forward(
    models: tuple[Any, Any], *, x: Any, mode: str, where: Any, wrap: Any, settings: ABSettings,
    label: str, batch_size: int,
) -> ABResult:  # fmt: skip
    from .abtest import compare_callables

    pair = _forward_calls(*models, x, mode, where, wrap)
    return compare_callables(*pair, settings, label=label, batch_size=batch_size)


def _time_training(
    trainers: tuple[Any, Any], *, settings: ABSettings, label: str, batch_size: int
) -> ABResult:
    from .abtest import compare_callables

    return compare_callables(*trainers, settings, label=label, batch_size=batch_size, grad=True)


def compare_sides(
    baseline: Side,
    candidate: Side,
    models: Sequence[str],
    batch_sizes: Sequence[int],
    settings: ABSettings,
    *,
    wrap: Callable[[object, object], object] | None = None,
    on_result: Callable[[str, ABResult | None], None] | None = None,
    device: str = "cpu",
    mode: str = "eager",
) -> list[tuple[str, ABResult | None]]:
    """(run id and batch, result) per model and batch size; None where the baseline lacks the
    model. `wrap(model, x)` may replace the candidate's model (gate_quality's injected work).
    On CUDA both sides run on the GPU in execution mode `mode`, and every timed call ends with
    a synchronise, so its time is that of its GPU work and not of its launches."""
    from ..measure.device import check_mode, resolve_device
    from ..measure.example_input import example_input
    from ..zoo.registry import get_config, run_id

    where = resolve_device(device)
    check_mode(mode, where)
    if not models or not batch_sizes:
        raise ConfigError("nothing to compare: give at least one model and one batch size")

    cases = []
    for text in models:  # validate every id before any timing starts
        model_id, resolution = split_run_id(text)
        config, res = get_config(model_id, resolution)
        cases.append((model_id, resolution, run_id(config, res), (1, res.size, res.size)))
    for bs in batch_sizes:
        if isinstance(bs, bool) or not isinstance(bs, int) or bs < 1:
            raise ConfigError(f"batch sizes must be integers >= 1, got {bs!r}")
    results: list[tuple[str, ABResult | None]] = []
    for model_id, resolution, rid, shape in cases:
        model_b = _build(candidate, model_id, resolution, where)
        model_a = _build(baseline, model_id, resolution, where)
        if model_b is None:
            raise ConfigError(f"{candidate.name} cannot build {rid}")
        for bs in batch_sizes:
            label = batch_label(rid, bs)
            if model_a is None:
                results.append((label, None))
                if on_result:
                    on_result(label, None)
                continue
            x = example_input(shape, bs, device=str(where))
            timing = partial(
                _time_forward, x=x, mode=mode, where=where, wrap=wrap, settings=settings,
                label=label, batch_size=bs,
            )  # fmt: skip
            fresh = partial(_pair, _build, baseline, candidate, model_id, resolution, where)
            result = timed_twice_if_failing(timing, fresh, first=(model_a, model_b))
            results.append((label, result))
            if on_result:
                on_result(label, result)
    return results


def _trainer(
    side: Side,
    model_id: str,
    resolution: str | None,
    data: object,
    batch_size: int,
    settings: ABSettings,
    device: object = "cpu",
) -> Callable[[], object]:
    """One call of the side's own train() on a model of its own (training continues from call
    to call: each call is the same amount of work; it ends with its work on the device)."""
    train, train_config = _revision_trainer(side.package)
    model = _build(side, model_id, resolution, device)
    config = train_config(epochs=1, batch_size=batch_size, seed=0, threads=settings.threads)
    return lambda: train(model, data, config)


def _revision_trainer(package: ModuleType) -> tuple[Callable[..., object], Callable[..., object]]:
    """A revision's `train` and `TrainConfig`: exported by the package since the subpackage
    layout, from its flat `train` module before it."""
    if hasattr(package, "TrainConfig"):
        return package.train, package.TrainConfig
    import importlib

    flat = importlib.import_module(f"{package.__name__}.train")
    return flat.train, flat.TrainConfig


def compare_training(
    baseline: Side,
    candidate: Side,
    models: Sequence[str],
    settings: ABSettings,
    data_for: Callable[[object], object],
    *,
    steps: int = TRAIN_STEPS,
    batch_size: int = TRAIN_BATCH_SIZE,
    on_result: Callable[[str, ABResult | None], None] | None = None,
    device: str = "cpu",
) -> list[tuple[str, ABResult | None]]:
    """(label, result) per model: `steps` training steps of each side's own `train()`, timed
    alternately. `data_for(resolution)` gives the data (an MNISTData); its first
    steps x batch_size training images are used, without validation, resident on `device`."""

    from ..measure.device import resolve_device
    from ..zoo.registry import get_config, run_id

    where = resolve_device(device)

    cases = []
    for text in models:
        model_id, resolution = split_run_id(text)
        config, res = get_config(model_id, resolution)
        cases.append((model_id, resolution, res, run_id(config, res)))
    n = steps * batch_size
    results: list[tuple[str, ABResult | None]] = []
    for model_id, resolution, res, rid in cases:
        label = batch_label(rid, batch_size, "train")
        data = data_for(res)
        subset = data.first(n).to(where)
        if _build(candidate, model_id, resolution) is None:
            raise ConfigError(f"{candidate.name} cannot build {rid}")
        if _build(baseline, model_id, resolution) is None:
            results.append((label, None))
        else:
            trainer = partial(
                _trainer, data=subset, batch_size=batch_size, settings=settings, device=where
            )
            fresh = partial(_pair, trainer, baseline, candidate, model_id, resolution)
            timing = partial(_time_training, settings=settings, label=label, batch_size=batch_size)
            results.append((label, timed_twice_if_failing(timing, fresh)))
        if on_result:
            on_result(*results[-1])
    return results


def render(
    results: Iterable[tuple[str, ABResult | None]],
    baseline: Side,
    candidate: Side,
    settings: ABSettings,
    *,
    where: str = "cpu",
) -> str:
    """The comparison table and the rule that produced its verdicts."""
    from .abtest import METRICS

    results = list(results)
    body = []
    for label, result in results:
        if result is None:
            body.append([label, "", "(not in the baseline)"])
            continue
        verdict = result.verdict  # a failure that did not repeat says so
        if result.first and result.first != verdict:
            verdict = f"{verdict} (first {result.first}, not repeated)"
        body.append(
            [
                label,
                f"{result.estimates['p50'].baseline_us:.1f}",
                *(result.estimates[m].describe() for m in METRICS),
                verdict,
            ]
        )
    header = [
        "model",
        "base p50 us",
        *(f"{m} change [95% CI]" for m in METRICS),
        "verdict",
    ]
    lines = [
        f"A/B latency: {candidate.name} against {baseline.name}, timed alternately, "
        f"{settings.threads} thread(s), {settings.seconds:g} s per row"
        + (f", on {where} (each call synchronised)" if where != "cpu" else ""),
        *text_table(header, body, align="lrrrrl"),
    ]
    floors = ", ".join(f"{m} +{100 * settings.min_effect[m]:g}%" for m in METRICS)
    lines.append(
        f"FAIL = slower: the {100 * settings.confidence:g}% interval lies above 0 and the change "
        f"exceeds {floors}, in a first timing and again when the row is timed a second time"
    )
    slower = [label for label, r in results if r is not None and r.failed]
    lines.append(
        f"{len(slower)} of {len(results)} slower" + (f": {', '.join(slower)}" if slower else "")
    )
    return "\n".join(lines)
