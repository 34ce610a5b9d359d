"""The worker of `mnist-models compare --env`: one per environment, run by that environment's
interpreter, timing what the parent asks for, one block of calls at a time.

Run as a script (`PYTHON .../envworker.py`), not as a module of the package: it imports the
`mnist_models` it finds on its PYTHONPATH (the working tree, or a revision extracted by the
parent) through its public names only, so a revision older than this file works too. Requests
and replies are JSON lines on stdin and stdout; anything else the worker prints goes to stderr.
Only torch and the package under test are imported: nothing of the parent's environment.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import sys
import time
import traceback
from typing import Any

# Environment variables that change which kernels torch runs (named in the headline)
TORCH_SETTINGS = (
    "MKL_CBWR",
    "ONEDNN_MAX_CPU_ISA",
    "ATEN_CPU_CAPABILITY",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TORCH_MKLDNN_MATMUL_MIN_DIM",
)


def _time_calls(fn: Any, calls: int) -> list[float]:
    clock = time.perf_counter_ns
    out = []
    for _ in range(calls):
        start = clock()
        fn()
        out.append((clock() - start) / 1e3)
    return out


class Worker:
    def __init__(self) -> None:
        import torch

        import mnist_models

        self.torch, self.package = torch, mnist_models
        self.call: Any = None
        self.grad = False

    def hello(self) -> dict[str, Any]:
        """What this environment is: the versions a comparison names in its headline."""
        torch = self.torch
        try:  # its version without importing it (a second of start-up per worker)
            from importlib.metadata import version

            vision = version("torchvision")
        except Exception as err:  # not installed: worth naming, not fatal here
            vision = f"unavailable ({type(err).__name__})"
        import numpy

        return {
            "python": platform.python_version(),
            "executable": sys.executable,
            "torch": torch.__version__,
            "torchvision": vision,
            "numpy": numpy.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkldnn": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
            "package": os.path.dirname(self.package.__file__),
            # what changes a build's work without changing its version
            "sitecustomize": getattr(sys.modules.get("sitecustomize"), "__file__", None),
            "settings": {k: os.environ[k] for k in TORCH_SETTINGS if k in os.environ},
            "pid": os.getpid(),
        }

    def _model(self, model: str, resolution: str | None, weights: str | None) -> Any:
        built = self.package.get_model(model, resolution, seed=0)
        if weights:
            built.load_state_dict(self.torch.load(weights, weights_only=True))
        return built

    def _resolution(self, model: str, resolution: str | None) -> Any:
        return self.package.get_config(model, resolution)[1]

    def setup(self, req: dict[str, Any]) -> dict[str, Any]:
        """Make the one callable the next `run` requests time: a forward pass on the input
        file, or `train()` over the data file (each call the same amount of work)."""
        torch = self.torch
        torch.set_num_threads(int(req["threads"]))
        model = self._model(req["model"], req.get("resolution"), req.get("weights"))
        if req["kind"] == "forward":
            x = torch.load(req["input"], weights_only=True)
            model.eval()
            self.call, self.grad = (lambda: model(x)), False
        else:
            train, train_config, data_class = _training_api(self.package)
            res = self._resolution(req["model"], req.get("resolution"))
            x, y = torch.load(req["data"], weights_only=True)
            none_x, none_y = x[:0], y[:0]
            data = data_class(res, x, y, none_x, none_y, none_x, none_y)
            config = train_config(
                epochs=1, batch_size=int(req["batch_size"]), seed=0, threads=int(req["threads"])
            )
            self.call, self.grad = (lambda: train(model, data, config)), True
        return {"ok": True}

    def run(self, req: dict[str, Any]) -> dict[str, Any]:
        """Per-call microseconds of `calls` calls, the collector off, as in one process."""
        if self.call is None:
            raise RuntimeError("run before setup")
        enabled = gc.isenabled()
        gc.disable()
        try:
            with self.torch.inference_mode(not self.grad):
                return {"us": _time_calls(self.call, int(req["calls"]))}
        finally:
            if enabled:
                gc.enable()

    def outputs(self, req: dict[str, Any]) -> dict[str, Any]:
        """Every leaf module's output (and the model's) on the input file, with the weights
        file loaded: saved to `out`, for `compare --numerics`."""
        torch = self.torch
        torch.set_num_threads(int(req.get("threads", 1)))
        model = self._model(req["model"], req.get("resolution"), req.get("weights")).eval()
        x = torch.load(req["input"], weights_only=True)
        seen: dict[str, Any] = {}
        names: list[str] = []
        hooks = []
        for name, module in model.named_modules():
            if name and not list(module.children()):

                def keep(_m: Any, _i: Any, out: Any, name: str = name) -> None:
                    if isinstance(out, torch.Tensor):
                        seen[name] = out.detach().clone()
                        names.append(name)

                hooks.append(module.register_forward_hook(keep))
        with torch.inference_mode():
            seen["(output)"] = model(x).detach().clone()
        names.append("(output)")
        for hook in hooks:
            hook.remove()
        torch.save({"order": names, "outputs": seen}, req["out"])
        return {"layers": names}


def _training_api(package: Any) -> tuple[Any, Any, Any]:
    """train, TrainConfig and MNISTData of the package under test (exported since the
    subpackage layout; from the flat modules before it)."""
    import importlib

    if hasattr(package, "TrainConfig"):
        data = importlib.import_module(f"{package.__name__}.measure.data")
        return package.train, package.TrainConfig, data.MNISTData
    flat = importlib.import_module(f"{package.__name__}.train")
    data = importlib.import_module(f"{package.__name__}.data")
    return flat.train, flat.TrainConfig, data.MNISTData


def main() -> int:
    # the script's own folder is not a place to import from (it holds the parent's modules)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever else prints goes to stderr, never into the replies
    try:
        worker = Worker()
    except Exception as err:
        replies.write(json.dumps({"error": f"{type(err).__name__}: {err}"}) + "\n")
        return 1
    for line in sys.stdin:
        req = json.loads(line)
        op = req.get("op")
        if op == "quit":
            break
        try:
            handler = getattr(worker, op) if op in ("hello", "setup", "run", "outputs") else None
            if handler is None:
                raise ValueError(f"unknown request {op!r}")
            reply = handler() if op == "hello" else handler(req)
        except Exception as err:
            traceback.print_exc()
            reply = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
        replies.write(json.dumps(reply) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
