"""Train, evaluate and measure one model: the row that `run`, the studies and reports share."""

from __future__ import annotations

import time
from typing import Any

from .. import __version__, fields
from .energy import EnergyModel
from .record import RunRecord
from .train import TrainConfig

DATA_BYTES = 70_000 * 28 * 28 * 4  # MNIST's 70,000 images as float32 at 28x28


def count_payload(model_id: str, resolution: str | None) -> dict[str, Any]:
    """Everything `count` reports: analytic per-layer figures checked against the real module."""
    from ..zoo.registry import build_model, get_config

    config, res = get_config(model_id, resolution)
    _require_counting_memory(config)
    return count_model(config, res, build_model(config))


def _require_counting_memory(config: Any) -> None:
    from ..zoo.memory_check import FLOAT_BYTES, activation_bytes, require_memory

    # thop profiles a deep copy; the size with Adam serialises a copy with its state: at the
    # peak about eleven copies of the weights are alive (measured: cnn9-4096-4096 needed 37 GB)
    require_memory(
        11 * FLOAT_BYTES * config.params + activation_bytes(config, 1),
        f"counting {config.id} ({config.params:,} parameters)",
    )


def count_model(config: Any, res: Any, model: Any) -> dict[str, Any]:
    """The counts of a built model of `config` at `res` (its weights' values do not matter:
    counting runs no training and leaves the model as it was)."""
    from ..zoo.registry import run_id
    from .metrics import count_params, flop_counts, size_bytes, thop_extra, thop_macs

    input_shape = (1, res.size, res.size)
    macs, per_layer = flop_counts(model, input_shape)
    return {
        "model": config.id,
        "resolution": res.id,
        "run_id": run_id(config, res),
        fields.PARAMS: count_params(model),
        "params_analytic": config.params,
        fields.MACS: macs,
        "macs_analytic": config.macs,
        "macs_thop": thop_macs(model, input_shape),
        "macs_thop_extra": thop_extra(model, input_shape),  # what thop counts beyond, by type
        fields.FLOPS: 2 * macs,
        fields.SIZE: size_bytes(model),
        fields.SIZE_WITH_ADAM: size_bytes(model, with_optimizer=True),
        "layers": [
            {
                "name": layer.name,
                "kind": layer.kind,
                "output_shape": list(layer.shape),
                fields.PARAMS: layer.params,
                fields.MACS: layer.macs,
                "macs_counted": per_layer.get(layer.name, 0),
            }
            for layer in config.layers()
        ],
    }


def measure_run(
    model_id: str,
    resolution: str | None,
    train_config: TrainConfig,
    *,
    val_fraction: float = 0.2,
    data_root: str | None = None,
    energy: EnergyModel | None = None,
    progress: bool = False,
    device: str = "cpu",
    mode: str = "eager",
) -> RunRecord:
    """Counts, training (time per epoch, accuracy per epoch), test accuracy, batch-1 and batched
    latency, and the energy/CO2eq estimate of one model, as one record. On CUDA the
    data stays resident on the GPU and the model trains and is timed there; `mode` is how the
    timed forward passes run (device.MODES)."""
    from ..zoo.memory_check import FLOAT_BYTES, activation_bytes, require_memory
    from ..zoo.registry import build_model, get_config
    from .data import load_mnist
    from .device import check_mode, device_info, resolve_device
    from .metrics import measure_latency
    from .train import evaluate, train

    energy = energy or EnergyModel()
    where = resolve_device(device)  # validates before the data is loaded
    check_mode(mode, where)
    config, res = get_config(model_id, resolution)
    bs = train_config.batch_size
    # weights, gradients and Adam's two moments; a training batch forward and backward; the
    # batched latency input and outputs; the data set (all float32)
    require_memory(
        4 * FLOAT_BYTES * config.params + 3 * activation_bytes(config, bs) + DATA_BYTES,
        f"training and timing {config.id} at batch size {bs:,}",
        device=str(where),
        fix="lower --batch-size or choose a smaller model",
    )
    _require_counting_memory(config)
    model = build_model(config, seed=train_config.seed)  # parsed once, built once
    counts = count_model(config, res, model)
    data = load_mnist(res, val_fraction=val_fraction, seed=train_config.seed, root=data_root)
    data = data.to(where)
    model = model.to(where)
    result = train(model, data, train_config, progress=progress)
    test_pass = time.perf_counter()
    _, accuracy = evaluate(model, data.test_x, data.test_y)
    test_pass = time.perf_counter() - test_pass
    shape = (1, res.size, res.size)
    lat1 = measure_latency(model, shape, 1, threads=result.threads, mode=mode)
    latb = measure_latency(
        model, shape, bs, threads=result.threads, rounds=max(20, min(200, 20_000 // bs)), mode=mode
    )
    gpus = int(where.type == "cuda")
    keys = ("model", "resolution", "run_id", fields.PARAMS, fields.MACS, fields.FLOPS, fields.SIZE)
    return RunRecord(
        **{k: counts[k] for k in keys},
        size_with_adam_bytes=counts[fields.SIZE_WITH_ADAM],
        epochs=train_config.epochs,
        batch_size=bs,
        lr=train_config.lr,
        seed=train_config.seed,
        val_fraction=val_fraction,
        threads=result.threads,
        accuracy=accuracy,
        train_samples=result.train_samples,
        train_seconds=result.train_seconds,
        epoch_seconds=result.epoch_seconds,
        history=result.as_dict()[fields.HISTORY],
        latency_us_p50=lat1.p50_us,
        latency_us_p90=lat1.p90_us,
        latency_us_p99=lat1.p99_us,
        latency_batched=latb.as_dict(),
        device=where.type,
        device_info=device_info(where),
        mode=mode,
        setup_s=lat1.setup_s,
        test_pass_s=test_pass,
        train_energy_j=energy.joules(result.train_seconds, result.threads, gpus),
        train_co2_g=energy.co2_grams(result.train_seconds, result.threads, gpus),
        inference_co2_g=energy.co2_grams(lat1.p50_us / 1e6, result.threads, gpus),
        energy_model={
            "watts_per_core": energy.watts_per_core,
            "watts_per_gpu": energy.watts_per_gpu if gpus else 0.0,
            "grid_g_per_kwh": energy.grid_g_per_kwh,
            "pue": energy.pue,
        },
        version=__version__,
    )


def summary_table(r: RunRecord) -> str:
    """The run as `run` prints it: one row under a header."""
    from ..table import text_table

    header = ["model", "epochs", "train s", "s/epoch", "lat us", "test s", "acc %", "FLOPs"]
    header += [fields.PARAMS]
    header += ["size with Adam B", "CO2eq g"]  # count's "(... B with Adam state)"
    row = [
        r.run_id,
        str(r.epochs),
        f"{r.train_seconds:.2f}",
        f"{r.epoch_seconds:.2f}",
        f"{r.latency_us_p50:.1f}",
        "-" if r.test_pass_s is None else f"{r.test_pass_s:.3f}",
        f"{100 * r.accuracy:.2f}",
        f"{r.flops:,}",
        f"{r.params:,}",
        f"{r.size_with_adam_bytes:,}",
        f"{r.train_co2_g:.4f}",
    ]
    return "\n".join(text_table(header, [row]))
