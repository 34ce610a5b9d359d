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
    p.add_argument(
        "--threads", type=thread_count, default=None, help="torch threads (default: torch's)"
    )
    p.add_argument("--data-root", type=nonempty, default=None)


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
    common.add_argument("--json", action="store_true", help="print one JSON object")
    common.add_argument(
        "-o", "--output", type=nonempty, help="also write the JSON object to this file"
    )
    return common
