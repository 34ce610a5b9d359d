"""Determinism keys (gates/keys.py): a figure is judged exactly wherever the facts of its key
match, whatever else differs; the policy table in docs is the committed baseline's."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_models import fields
from mnist_models.gates import keys
from mnist_models.gates.engine import evaluate
from mnist_models.gates.policies import policy_table
from mnist_models.gates.rules import exact, higher, lower
from mnist_models.gates.store import BASELINE_NAME, find_baseline, load_run_file

REPO = Path(__file__).resolve().parents[1]
CPU_BASELINE = REPO / "benchmarks/baselines/Linux-CPython-3.11-64bit" / BASELINE_NAME
AVX512 = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]


def machine(cpu_model: str, flags: list[str] = AVX512, **over: object) -> dict:
    return {
        "system": "Linux", "machine": "x86_64", "python_version": "3.11.7",
        "python_implementation": "CPython", "torch": "2.14.1+cu130",
        "torchvision": "0.29.1+cu130", "cpu_model": cpu_model, "cpu_count": 2,
        "cpu": {"flags": flags}, **over,
    }  # fmt: skip


INTEL, AMD = machine("Intel(R) Xeon(R) Processor"), machine("AMD EPYC")
AVX2_ONLY = machine("AMD EPYC 7B12", ["avx2", "fma"])
BYTES = exact("bytes", "B", key="kernels")
OPS = exact("ops", key="build")
LOSS = lower("loss", key="numerics", exact_key="numerics")
ACCURACY = higher("accuracy", abs_tol=0.013, unit="%", exact_key="numerics")


def judge(metric, then_value, now_value, machines, then_extra=None, now_extra=None):
    then = {metric.name: then_value, fields.THREADS: 1, **(then_extra or {})}
    now = {metric.name: now_value, fields.THREADS: 1, **(now_extra or {})}
    return evaluate(metric, "t", then, now, machines)


@pytest.mark.parametrize(
    ("flags", "level"),
    [(AVX512, "AVX512"), (["avx2", "fma"], "AVX2"), (["sse4_2"], "DEFAULT"), ([], None)],
)
def test_the_isa_level_is_read_from_the_flags_of_runs_that_did_not_store_it(flags, level):
    assert keys.isa_from_flags(flags) == level


@pytest.mark.parametrize("metric", [BYTES, OPS])
def test_another_cpu_model_at_the_same_isa_level_is_judged_exactly(metric) -> None:
    assert judge(metric, 4096, 4096, (INTEL, AMD)).verdict == "same"
    row = judge(metric, 4096, 4097, (INTEL, AMD))
    assert row.verdict == "FAIL" and row.metric.allowed_text(4096) == "exact"


def test_tensor_bytes_at_another_isa_level_are_not_applied_and_say_which_fact() -> None:
    row = judge(BYTES, 4096, 5000, (INTEL, AVX2_ONLY))
    assert row.verdict == "not applied"
    assert row.note == "kernels key: isa AVX512 vs AVX2 here"
    assert judge(OPS, 24, 24, (INTEL, AVX2_ONLY)).verdict == "same"  # dispatch: the build only


def test_another_thread_count_is_another_kernels_key() -> None:
    row = judge(BYTES, 4096, 4096, (INTEL, INTEL), now_extra={fields.THREADS: 2})
    assert row.verdict == "not applied" and "threads 1 vs 2 here" in row.note


def test_seeded_training_keeps_the_cpu_model_in_its_key() -> None:
    row = judge(LOSS, 0.0848, 0.0849, (INTEL, AMD))
    assert row.verdict == "not applied" and "cpu_model" in row.note
    assert judge(ACCURACY, 0.9765, 0.9750, (INTEL, AMD)).verdict == "worse (allowed)"
    assert judge(ACCURACY, 0.9765, 0.9750, (AMD, AMD)).verdict == "FAIL"  # exact here


def test_the_facts_an_entry_stores_win_over_its_files_machine() -> None:
    """One file holds entries of several kinds: each is judged under the facts it recorded."""
    stored = {fields.KEY_FACTS: keys.facts_of(AVX2_ONLY)}
    row = judge(BYTES, 4096, 4096, (INTEL, AVX2_ONLY), then_extra=stored)
    assert row.verdict == "same"


def test_a_torch_version_alone_is_a_version_change_of_the_key() -> None:
    """Its declared cross-version band applies; another ISA level beside it is no version
    change, and the figure is not applied."""
    peak = lower("peak", unit="B", key="kernels", across_versions=0.10)
    newer = machine("AMD EPYC", torch="2.15.0")
    row = judge(peak, 4096, 4300, (AMD, newer))
    assert row.verdict == "worse (allowed)" and row.across == "torch 2.14.1+cu130 -> 2.15.0"
    assert judge(peak, 4096, 4600, (AMD, newer)).verdict == "FAIL"
    newer_avx2 = machine("AMD EPYC", ["avx2", "fma"], torch="2.15.0")
    assert judge(peak, 4096, 4300, (AMD, newer_avx2)).verdict == "not applied"


def test_every_policy_has_its_name() -> None:
    from mnist_models.gates.rules import budget

    named = {
        m.policy
        for m in (BYTES, LOSS, ACCURACY, budget("b", 1.0), lower("t", rel_tol=1.0, timed=True),
                  lower("m", abs_tol=1e-6, two_sided=True), higher("a", floor=0.5))
    }  # fmt: skip
    assert named == {
        "exact", "exact under key", "exact under key, band elsewhere", "budget", "timed",
        "two-sided band", "floor",
    }  # fmt: skip


def test_the_policy_table_in_docs_is_the_committed_baselines() -> None:
    doc = (REPO / "docs/determinism-keys.md").read_text()
    table = "\n".join(policy_table(load_run_file(CPU_BASELINE)["benchmarks"]))
    assert table in doc, "regenerate it: python scripts/policy_table.py\n" + table
    for name in (*keys.KEYS, keys.INSTRUCTIONS, keys.MACHINE):
        assert f"| {name} |" in doc


def test_a_bare_compare_takes_the_committed_baseline_not_a_newer_autosaved_run(
    tmp_path: Path,
) -> None:
    own = tmp_path / "Linux-CPython-3.11-64bit"
    own.mkdir()
    for name in (BASELINE_NAME, "0002_abc_20261206_010203.json"):
        (own / name).write_text("{}")
    assert find_baseline(tmp_path, own.name, True) == own / BASELINE_NAME
    assert find_baseline(tmp_path, own.name, "0002").name.startswith("0002_")
    (own / BASELINE_NAME).unlink()
    assert find_baseline(tmp_path, own.name, True).name.startswith("0002_")
