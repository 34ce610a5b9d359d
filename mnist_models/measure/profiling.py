"""torch.profiler operator tables for one model: where the time (and memory) of a forward pass
or a training step goes, as the LeNet-5 vs MLP study reported."""

from __future__ import annotations

import os

from ..errors import ConfigError

SORT_KEYS = (
    "self_cpu_time_total",
    "cpu_time_total",
    "self_cpu_memory_usage",
    "count",
    "self_device_time_total",  # with --device cuda: the kernels' own time
    "device_time_total",
    "self_device_memory_usage",
)


def profile_model(
    model_id: str,
    resolution: str | None = None,
    *,
    batch_size: int = 1,
    calls: int = 100,
    warmup: int = 10,
    train: bool = False,
    threads: int | None = 1,
    rows: int = 15,
    sort_by: str = "self_cpu_time_total",
    device: str = "cpu",
) -> tuple[str, str]:
    """(title, operator table) for `calls` forward passes (or Adam training steps) after
    `warmup` untimed ones, sorted by `sort_by`, with memory; on CUDA the kernels' device time
    and memory too."""
    if batch_size < 1 or calls < 1 or warmup < 0 or rows < 1:
        raise ConfigError(
            f"need batch_size, calls, rows >= 1 and warmup >= 0; got {batch_size}, {calls}, "
            f"{rows}, {warmup}"
        )
    if sort_by not in SORT_KEYS:
        raise ConfigError(f"unknown sort key {sort_by!r}; choose one of {', '.join(SORT_KEYS)}")
    # Kineto's own start/stop lines and its failed GPU probe are noise on a CPU-only run.
    os.environ.setdefault("KINETO_LOG_LEVEL", "5")
    import torch
    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity

    from ..zoo.registry import build_model, get_config, run_id
    from .device import quiet_profile, resolve_device, synchronize
    from .example_input import example_input
    from .threads import num_threads

    where = resolve_device(device)
    if "device" in sort_by and where.type != "cuda":
        raise ConfigError(f"--sort-by {sort_by} needs --device cuda")
    config, res = get_config(model_id, resolution)
    model = build_model(config, seed=0).to(where)
    x = example_input((1, res.size, res.size), batch_size, device=str(where))
    y = torch.zeros(batch_size, dtype=torch.long, device=where)
    if train:
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), fused=True)

        def step() -> None:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    else:
        model.eval()

        def step() -> None:
            with torch.inference_mode():
                model(x)

    activities = [ProfilerActivity.CPU]
    if where.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with num_threads(threads) as used:
        for _ in range(warmup):
            step()
        synchronize(where)
        with quiet_profile(activities, profile_memory=True) as prof:
            for _ in range(calls):
                step()
            synchronize(where)
        averages = prof.key_averages()
    what = "training steps (forward, backward, Adam)" if train else "forward passes"
    on = f" on {where}" if where.type != "cpu" else ""
    title = (
        f"{run_id(config, res)}: {calls} {what} at batch {batch_size}{on}, {used} thread(s), "
        f"after {warmup} warm-up; sorted by {sort_by}"
    )
    table = averages.table(sort_by=sort_by, row_limit=rows, max_name_column_width=40)
    return title, table
