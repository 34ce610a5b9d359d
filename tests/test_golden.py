"""The gate semantics on a pair of stored runs (tests/data/runs: the base run and a new run with
the edits of tests/data/make_new_run.py), checked against golden output (tests/data/golden), as
asv proves its `compare`: every verdict the pair holds, MISSING, a new benchmark, attribution,
the text `report` prints and the pull-request summary. The same pair judged as if recorded on
another machine kind shows what `not applied` leaves. In-process and fast; each golden file is
what a user reads.

    MNIST_BENCH_GOLDEN=update pytest tests/test_golden.py    # rewrite them; review the diff
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from mnist_models.gates.engine import compare_runs
from mnist_models.gates.record import render_table
from mnist_models.gates.store import load_run_file
from mnist_models.reporting.comparison import render_comparison
from mnist_models.reporting.pr_summary import render_markdown
from mnist_models.verdicts import Verdict

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"


def runs(scenario: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(base, new): as stored, or for `other-kind` the new run relabelled to another CPU model
    at another ISA level, with another thread count (what a run on an AMD EPYC records against
    an Intel Xeon's baseline, and more)."""
    base = load_run_file(DATA / "runs" / "base.json")
    new = load_run_file(DATA / "runs" / "new.json")
    if scenario == "other-kind":
        new = copy.deepcopy(new)
        new["machine_info"].update(cpu_model="Some Other CPU 9000", isa="AVX2")
        for entry in new["benchmarks"]:
            facts = entry["extra_info"].get("key_facts")
            if facts:
                facts.update(cpu_model="Some Other CPU 9000", isa="AVX2")
    return base, new


def rendered(scenario: str) -> dict[str, str]:
    base, new = runs(scenario)
    changes, info = compare_runs(base, new)
    failing: dict[str, list] = {}
    for row in changes:
        if row.failed:
            failing.setdefault(row.nodeid, []).append(row)
    tables = [f"{nodeid} regressed:\n{render_table(rows)}" for nodeid, rows in failing.items()]
    return {
        "txt": render_comparison(changes, info, show_same=True) + "\n\n" + "\n\n".join(tables),
        "md": render_markdown(changes, info, new="new.json", base="base.json"),
        "json": json.dumps([r.to_dict() for r in changes], indent=1, sort_keys=True),
    }


@pytest.mark.parametrize("scenario", ["same-kind", "other-kind"])
@pytest.mark.parametrize("form", ["txt", "md", "json"])
def test_the_judged_pair_matches_its_golden_output(scenario: str, form: str) -> None:
    text = rendered(scenario)[form].rstrip() + "\n"
    golden = GOLDEN / f"{scenario}.{form}"
    if os.environ.get("MNIST_BENCH_GOLDEN") == "update":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.is_file(), f"no {golden}: run with MNIST_BENCH_GOLDEN=update and review it"
    assert text == golden.read_text(), f"{golden} differs: review, then MNIST_BENCH_GOLDEN=update"


# What the golden files must hold, whatever they were last updated to: the verdict of each edit.
EXPECTED = {
    "same-kind": {
        ("test_counts[mlp-32@28]", "params"): Verdict.FAIL,
        ("test_latency[mlp-32@28-bs1]", "latency_cpu_rel"): Verdict.FAIL,
        ("test_forward_instructions[mlp-32@28-bs1]", "instructions"): Verdict.FAIL,
        ("test_training[mlp-128@28-bs64-e2]", "epoch_cpu_rel"): Verdict.BETTER,
        ("test_training[mlp-128@28-bs64-e2]", "accuracy"): Verdict.SAME,
        ("test_inference_memory[mlp-32@28]", "inference_peak_tensor_bytes"): Verdict.MISSING,
        ("test_training_memory[mlp-32@28]", "train_peak_tensor_bytes"): Verdict.SAME,
        ("test_data_pipeline[resize:14]", "data_digest"): Verdict.SAME,
    },
    "other-kind": {
        ("test_counts[mlp-32@28]", "params"): Verdict.FAIL,  # anywhere
        ("test_latency[mlp-32@28-bs1]", "latency_cpu_rel"): Verdict.NOT_APPLIED,
        # timed A/B against its base revision where the run was made: judged by that result
        ("test_training[mlp-128@28-bs64-e2]", "epoch_cpu_rel"): Verdict.BETTER,
        ("test_training_memory[mlp-32@28]", "train_peak_tensor_bytes"): Verdict.NOT_APPLIED,
        ("test_inference_memory[mlp-32@28]", "inference_peak_tensor_bytes"): Verdict.MISSING,
    },
}


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_each_edit_gets_its_verdict(scenario: str) -> None:
    changes, info = compare_runs(*runs(scenario))
    got = {(r.nodeid.split("::")[-1], r.metric.name): r.verdict for r in changes}
    for (test, metric), verdict in EXPECTED[scenario].items():
        assert got.get((test, metric)) == verdict, (test, metric, got.get((test, metric)))
    assert info["only_in_new"] == ["benchmarks/bench_counts.py::test_counts[mlp-64@28]"]


def test_a_failing_count_says_what_moved_inside_it() -> None:
    changes, _ = compare_runs(*runs("same-kind"))
    (row,) = [r for r in changes if r.metric.name == "instructions"]
    assert any("aten::isnan" in line for line in row.why), row.why
