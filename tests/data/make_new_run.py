"""Writes tests/data/runs/new.json from base.json: the base run (eight benchmarks of the gate
tier, as the committed baseline recorded them) with the edits below, each the effect a real
change has. tests/test_golden.py judges the pair and checks the output against tests/data/golden/.

    python tests/data/make_new_run.py    # after changing an edit here; then review the diff
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

HERE = Path(__file__).parent / "runs"
COUNTS = "benchmarks/bench_counts.py::test_counts[mlp-32@28]"
LATENCY = "benchmarks/bench_inference.py::test_latency[mlp-32@28-bs1]"
INSTRUCTIONS = "benchmarks/bench_instructions.py::test_forward_instructions[mlp-32@28-bs1]"
INFERENCE_MEMORY = "benchmarks/bench_memory.py::test_inference_memory[mlp-32@28]"
TRAINING = "benchmarks/bench_training.py::test_training[mlp-128@28-bs64-e2]"
ADDED = "benchmarks/bench_counts.py::test_counts[mlp-64@28]"


def main() -> None:
    base = json.loads((HERE / "base.json").read_text())
    new = copy.deepcopy(base)
    entries = {b["fullname"]: b for b in new["benchmarks"]}

    # a layer added to the MLP (10 -> 10 linear): 110 more parameters, 100 more MACs; exact
    counts = entries[COUNTS]["extra_info"]
    counts.update(params=counts["params"] + 110, macs=counts["macs"] + 100)
    counts.update(flops=counts["flops"] + 200, size_bytes=counts["size_bytes"] + 440)
    counts.update(size_with_adam_bytes=counts["size_with_adam_bytes"] + 1320)

    # 2.5x the batch-1 on-CPU time relative to the reference: beyond the +100% time tolerance
    latency = entries[LATENCY]["extra_info"]
    latency["latency_cpu_rel"] = round(latency["latency_cpu_rel"] * 2.5, 6)

    # an input check in forward(): aten::isnan and aten::any per call, +3.4% instructions
    instr = entries[INSTRUCTIONS]["extra_info"]
    added = round(instr["instructions"] * 0.034)
    instr["instructions"] += added
    instr["instructions_total"] += added * instr["calls"]
    instr["instructions_per_sample"] = instr["instructions"] / instr["batch_size"]
    ops = instr["attribution"]["instructions"]["operator"]
    ops["aten::isnan"] = [0, round(added * instr["calls"] * 0.6)]
    ops["aten::any"] = [0, round(added * instr["calls"] * 0.4)]

    # the training epoch 20% faster on the CPU (better, within no tolerance: allowed)
    training = entries[TRAINING]["extra_info"]
    training["epoch_cpu_rel"] = round(training["epoch_cpu_rel"] * 0.8, 6)
    # ... and timed A/B against its base revision, as a run on another machine kind stores it
    # (gates/timed_ab.py): there that result judges the row, not the baseline's figure
    training["epoch_cpu_rel_ab"] = {
        "revision": "0123456789abcdef0123456789abcdef01234567",
        "verdict": "better",
        "first": "",
        "pairs": 30,
        "estimates": {
            stat: {"baseline_us": base_us, "candidate_us": 0.8 * base_us, "ratio": 0.8,
                   "low": 0.78, "high": 0.82, "min_effect": effect, "verdict": "better"}
            for stat, base_us, effect in (
                ("p50", 3214.0, 0.05), ("p90", 3390.0, 0.08), ("p99", 3601.0, 0.25)
            )
        },
    }  # fmt: skip

    # the inference-memory benchmark selected but not recorded (it errored): MISSING
    new["benchmarks"] = [b for b in new["benchmarks"] if b["fullname"] != INFERENCE_MEMORY]

    # a benchmark only the new run has: mlp-64's counts, with no baseline to compare against
    added_entry = copy.deepcopy(entries[COUNTS])
    added_entry.update(fullname=ADDED, name="test_counts[mlp-64@28]", param="mlp-64@28")
    added_entry["extra_info"].update(model="mlp-64", params=50890, macs=50816, flops=101632)
    new["benchmarks"].append(added_entry)
    new["mnist_bench"]["selected"] = [*base["mnist_bench"]["selected"], ADDED]

    (HERE / "new.json").write_text(json.dumps(new, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
