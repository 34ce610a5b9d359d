"""Give the stored declarations of a baseline the determinism keys the lanes declare now
(gates/keys.py), every gated value unchanged: python scripts/redeclare_keys.py [FILE...].

Run once when a key is re-measured (docs/determinism-keys.md): the gates judge by the stored
declaration, so a key changed in code alone would not reach the committed baseline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mnist_models import fields
from mnist_models.atomic import locked, write_text_atomic
from mnist_models.gates.formats import with_key_facts
from mnist_models.gates.rules import gated_metrics
from mnist_models.gates.schema import validate_run
from mnist_models.gates.store import load_run_file

REPO = Path(__file__).resolve().parents[1]
# metric -> (key, exact_key) as the CPU lanes declare them now
CPU_KEYS = {
    fields.TRAIN_PEAK: ("kernels", None),
    fields.TRAIN_RETAINED: ("kernels", None),
    fields.INFERENCE_PEAK: ("kernels", None),
    fields.INFERENCE_RETAINED: ("kernels", None),
    fields.INFERENCE_OPS: ("build", None),
    fields.DATA_DIGEST: ("build", None),
}


def redeclare(path: Path) -> int:
    """Rewrite one CPU baseline with CPU_KEYS; the number of declarations changed."""
    with locked(path.parent):
        data = load_run_file(path, f"restore it (`git checkout -- {path}`)")
        if data["machine_info"].get("device", "cpu") != "cpu":
            return 0
        changed = 0
        for i, bench in enumerate(data["benchmarks"]):
            extra = bench["extra_info"]
            before = {n: extra.get(n) for n in gated_metrics(extra)}
            for name, spec in (extra.get(fields.GATES) or {}).items():
                if name in CPU_KEYS and (spec.get("key"), spec.get("exact_key")) != CPU_KEYS[name]:
                    spec["key"], spec["exact_key"] = CPU_KEYS[name]
                    changed += 1
            assert before == {n: extra.get(n) for n in gated_metrics(extra)}
            data["benchmarks"][i] = with_key_facts(bench, data["machine_info"])
        validate_run(data, str(path))
        write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return changed


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((REPO / "benchmarks/baselines").rglob("*.json"))
    for path in paths:
        print(f"{path}: {redeclare(path)} declarations given their current key")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
