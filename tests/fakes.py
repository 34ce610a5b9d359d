"""Complete stored runs without training one: the fields of a RunRecord as JSON, for the tests of
the run store, the studies and the records (from before the device fields were added, so the
defaults of newer fields are exercised too)."""

from __future__ import annotations

from typing import Any

BASE_ROW: dict[str, Any] = {
    "model": "mlp-16", "resolution": "28", "run_id": "mlp-16@28", "params": 12_730,
    "macs": 12_704, "flops": 25_408, "size_bytes": 53_277, "size_with_adam_bytes": 158_067,
    "epochs": 1, "batch_size": 64, "lr": 1e-3, "seed": 0, "val_fraction": 0.2, "threads": 1,
    "accuracy": 0.9, "train_samples": 48_000, "train_seconds": 1.0, "epoch_seconds": 1.0,
    "history": [], "latency_us_p50": 10.0, "latency_us_p90": 11.0, "latency_us_p99": 12.0,
    "latency_batched": {}, "train_energy_j": 12.0, "train_co2_g": 0.0016,
    "inference_co2_g": 1e-8, "energy_model": {"watts_per_core": 12.0}, "version": "0.1.0",
}  # fmt: skip


def run_row(**fields: Any) -> dict[str, Any]:
    """A complete stored run with the given fields overridden."""
    return {**BASE_ROW, **fields}


# A callgrind dump, names compressed as callgrind writes them (test_attribution.py's DUMP
# explains the format), with what the memory layout decides: python looks a type attribute up
# (_PyType_Lookup, 70 with the dict lookup inside it), allocates (malloc, 40) and allocates an
# object (pymalloc's _PyObject_Malloc: 15 of its own and a malloc of 30); torch reallocates
# (realloc, 30, whose malloc inside it, 20, is counted once) and frees (free, 10). Left out:
# 70 + 40 + 15 + 30 + 30 + 10 = 195 of 1165.
LAYOUT_DUMP = """events: Ir
summary: 1165

ob=(1) /usr/lib/libpython3.11.so.1.0
fn=(1) _PyEval_EvalFrameDefault
0 50
cfn=(5) _PyType_Lookup
calls=3 0
0 70
cob=(3) /lib/x86_64-linux-gnu/libc.so.6
cfn=(6) malloc
calls=1 0
0 40
cfn=(10) _PyObject_Malloc
calls=2 0
0 45
cob=(2) /opt/torch/lib/libtorch_cpu.so
cfn=(2) at::_ops::linear::call(at::Tensor const&)
calls=1 0
0 960

fn=(5)
0 50
cfn=(7) _Py_dict_lookup
calls=1 0
0 20

fn=(7)
0 20

fn=(10)
0 15
cob=(3)
cfn=(6)
calls=1 0
0 30

ob=(2)
fn=(2)
0 920
cob=(3)
cfn=(8) realloc
calls=1 0
0 30
cob=(3)
cfn=(9) free
calls=2 0
0 10

ob=(3)
fn=(8)
0 10
cfn=(6)
calls=1 0
0 20

fn=(6)
0 90

fn=(9)
0 10
"""
