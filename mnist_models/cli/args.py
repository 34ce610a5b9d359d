"""What every command shares: the parser class, argument types, the model options, device and
output checks, and printing a result (JSON or text, written atomically with -o)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the bad value (exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    """Print JSON (with its format version) or text; also write the JSON atomically to --output
    when given."""
    from ..atomic import write_text_atomic
    from ..fields import FORMAT

    rendered = json.dumps({"format": FORMAT, **payload}, indent=2, sort_keys=True)
    print(rendered if args.json else text, flush=True)  # first: a failed write loses nothing
    if args.output:
        write_text_atomic(args.output, rendered + "\n")


def check_device(args: argparse.Namespace) -> None:
    """--device and --mode checked before any work (a missing GPU is a one-line error)."""
    from ..measure.device import check_mode, resolve_device

    device = resolve_device(args.device)
    if getattr(args, "mode", None):
        check_mode(args.mode, device)


def add_device_options(p: argparse.ArgumentParser, *, mode: bool = True) -> None:
    from ..measure.device import DEVICES, MODES

    p.add_argument(
        "--device",
        default="cpu",
        choices=DEVICES,
        help="where the models train and are timed; on cuda the data stays on the GPU and "
        "times come from CUDA events",
    )
    if mode:
        p.add_argument(
            "--mode",
            default="eager",
            choices=MODES,
            help="how the timed forward passes run: eager, a replayed CUDA graph (cuda only) or "
            "torch.compile (compile time is reported apart, never in latency)",
        )


def add_training_options(p: argparse.ArgumentParser) -> None:
    """How runs train, for the commands that train (run, study): epochs, learning rate, torch
    threads, where the data is."""
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    add_threads_option(p, default=None)
    add_data_root_option(p)


# --- options several commands share, defined once (as asv's common_args) -----------------------


def add_threads_option(p: argparse.ArgumentParser, *, default: int | None = 1) -> None:
    """--threads: torch's thread count for the work measured (None: torch's own default)."""
    shown = "torch's" if default is None else str(default)
    p.add_argument(
        "--threads", type=thread_count, default=default, help=f"torch threads (default: {shown})"
    )


def add_data_root_option(p: argparse.ArgumentParser) -> None:
    """--data-root: the folder holding MNIST/raw/."""
    p.add_argument(
        "--data-root",
        type=nonempty,
        default=None,
        help="folder holding MNIST/raw/ (default: $MNIST_BENCH_DATA or ~/.cache/mnist-bench)",
    )


def add_output_options(
    p: argparse.ArgumentParser, *, what: str = "the JSON object", json: bool = True
) -> None:
    """--json (with `json`: the command can print JSON) and -o/--output FILE, written
    atomically."""
    if json:
        p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-o", "--output", type=nonempty, help=f"also write {what} to this file")


def add_force_option(p: argparse.ArgumentParser, *, what: str = "") -> None:
    """--force: write into a non-empty output folder that another tool made."""
    target = f"{what} into" if what else "into"
    p.add_argument(
        "--force", action="store_true", help=f"write {target} a non-empty folder another tool made"
    )


def add_storage_option(p: argparse.ArgumentParser) -> None:
    """--storage: the baseline folder, by default the project's gate_storage."""
    p.add_argument(
        "--storage",
        help="baseline folder (default: the gate_storage of ./pyproject.toml's pytest options)",
    )


def check_output(args: argparse.Namespace) -> None:
    from ..atomic import check_writable

    if getattr(args, "output", None):
        check_writable(args.output)  # fail before the work, not after it


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return values


def finite_float(text: str) -> float:
    """A finite number: NaN and infinity would end up in JSON results and gates."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


# torch aborts (a segfault, no message) when asked for tens of thousands of threads; more than a
# few per core only oversubscribes the machine
MAX_THREADS_PER_CORE = 4


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def thread_count(text: str) -> int:
    """--threads: a whole number from 1 to MAX_THREADS_PER_CORE x this machine's cores."""
    import os

    limit = MAX_THREADS_PER_CORE * (os.cpu_count() or 1)
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= limit:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of threads from 1 to {limit} ({MAX_THREADS_PER_CORE} per "
            f"core here), got {text!r}"
        )
    return value


def check_batch_memory(model_ids: list[str], batch_size: int, device: str, what: str) -> None:
    """Refuse, before any work, a batch whose forward and backward pass cannot fit in memory."""
    from ..zoo.memory_check import FLOAT_BYTES, activation_bytes, require_memory
    from ..zoo.registry import get_config

    for run_id in model_ids:
        model_id, _, resolution = run_id.partition("@")  # MODEL or MODEL@RESOLUTION
        config, _ = get_config(model_id, resolution or None)
        require_memory(
            4 * FLOAT_BYTES * config.params + 3 * activation_bytes(config, batch_size),
            f"{what} {config.id} at batch size {batch_size:,}",
            device=device,
            fix="choose a smaller --batch-size",
        )


def positive_float(text: str) -> float:
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def nonempty(text: str) -> str:
    """A path or name that is not empty (an empty -o or --data-root is a mistake, not a default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def model_list(text: str) -> list[str]:
    models = [m.strip() for m in text.split(",") if m.strip()]
    if not models:
        raise argparse.ArgumentTypeError(
            f"no model ids in {text!r}; give ids such as mlp-1024,lenet5 (comparing nothing "
            "would pass every time)"
        )
    return models


def model_options() -> Parser:
    """The options of the commands that take one model: id, resolution, --json, -o."""
    common = Parser(add_help=False)
    common.add_argument("model", help="model id, e.g. mlp-1024, mlp-512x3, lenet5:tanh, cnn9-6-20")
    common.add_argument(
        "--resolution",
        default=None,
        help="28, resize:N, crop:N or pad:N (default: the model's native one)",
    )
    add_output_options(common)
    return common
