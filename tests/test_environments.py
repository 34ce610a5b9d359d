"""A PyTorch upgrade gets a verdict: the engine's cross-environment rules (torch-free), and
`compare --env` end to end on environments made in seconds (a venv that sees this one's
packages, optionally with a sitecustomize that makes torch do more work)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from mnist_models.gates.engine import environment_change, evaluate, version_change
from mnist_models.gates.rules import higher, lower
from mnist_models.gates.session import environment_headline
from mnist_models.verdicts import Verdict

KEY = (
    "torch=2.14.1+cu130 python=3.11 machine=x86_64 cpu_vendor=GenuineIntel "
    "cpu_capability=DEFAULT valgrind=3.19.0"
)
OTHER_TORCH = KEY.replace("2.14.1", "2.13.0")
COUNT = lower(
    "instructions", rel_tol=0.003, key="instructions", two_sided=True, across_versions=0.003
)
MACHINE = {
    "system": "Linux",
    "python_version": "3.11.2",
    "machine": "x86_64",
    "cpu_model": "Some CPU",
    "cpu_count": 2,
}
MACHINES = ({**MACHINE, "torch": "2.14.1+cu130"}, {**MACHINE, "torch": "2.13.0+cu130"})


def count_entry(value: float, key: str = KEY) -> dict:
    return {"instructions": value, "instruction_key": key}


@pytest.mark.parametrize(
    ("now", "verdict"),
    [(100_000, Verdict.SAME), (100_250, Verdict.WORSE_ALLOWED), (103_670, Verdict.FAIL)],
)
def test_a_count_from_another_torch_is_judged_by_the_declared_band(now, verdict) -> None:
    row = evaluate(COUNT, "case", count_entry(100_000), count_entry(now, OTHER_TORCH), MACHINES)
    assert row.verdict == verdict
    assert row.across == "torch 2.14.1+cu130 -> 2.13.0+cu130"
    assert row.note == "torch 2.14.1+cu130 -> 2.13.0+cu130: cross-environment band"


def test_another_isa_level_keeps_the_count_not_applied() -> None:
    other = OTHER_TORCH.replace("cpu_capability=DEFAULT", "cpu_capability=AVX2")
    row = evaluate(COUNT, "case", count_entry(100_000), count_entry(100_000, other), MACHINES)
    assert row.verdict == Verdict.NOT_APPLIED
    assert row.note == (
        "instruction key: torch 2.14.1+cu130 vs 2.13.0+cu130; cpu_capability DEFAULT vs AVX2 here"
    )
    assert version_change("instructions", MACHINES, (count_entry(1), count_entry(1, other))) == ""


@pytest.mark.parametrize("key", [KEY, OTHER_TORCH])
def test_another_cpu_vendor_is_compared_under_the_isa_pins(key: str) -> None:
    amd = key.replace("GenuineIntel", "AuthenticAMD")
    same_torch = key == KEY
    row = evaluate(COUNT, "case", count_entry(100_000), count_entry(100_250, amd), MACHINES)
    assert row.verdict == Verdict.WORSE_ALLOWED
    assert row.note == (
        "" if same_torch else "torch 2.14.1+cu130 -> 2.13.0+cu130: cross-environment band"
    )
    assert evaluate(COUNT, "case", count_entry(100_000), count_entry(101_000, amd), MACHINES).failed


def test_a_rule_without_a_cross_version_band_does_not_apply_across_versions() -> None:
    rule = lower("instructions", rel_tol=0.003, key="instructions")
    row = evaluate(rule, "case", count_entry(100_000), count_entry(100_000, OTHER_TORCH), MACHINES)
    assert row.verdict == Verdict.NOT_APPLIED
    assert "torch 2.14.1+cu130 vs 2.13.0+cu130" in row.note


ACCURACY = higher("accuracy", abs_tol=0.013, unit="%", exact_key="numerics")
LOSS = lower("final_train_loss", key="numerics", exact_key="numerics")
GATES = {m.name: m.to_dict() for m in (ACCURACY, LOSS)}


def trained(accuracy: float, loss: float) -> dict:
    return {"accuracy": accuracy, "final_train_loss": loss, "threads": 1, "gates": GATES}


def test_training_that_repeats_bit_for_bit_across_versions_is_judged_exactly() -> None:
    then = now = trained(0.9765, 0.08480981953938801)
    rows = [evaluate(m, "t", then, now, MACHINES) for m in (ACCURACY, LOSS)]
    assert [r.verdict for r in rows] == [Verdict.SAME, Verdict.SAME]
    assert all(r.metric.direction == "exact" or r.metric.rel_tol == 0 for r in rows)
    assert all(r.note.endswith("training repeated bit for bit: exact") for r in rows)
    assert all(r.across for r in rows)


def test_training_that_did_not_repeat_takes_the_tolerance_and_the_loss_is_not_applied() -> None:
    then = trained(0.9765, 0.08480981953938801)
    accuracy = evaluate(ACCURACY, "t", then, trained(0.9760, 0.0851), MACHINES)
    assert accuracy.verdict == Verdict.WORSE_ALLOWED
    assert accuracy.note.endswith("training did not repeat bit for bit: tolerance")
    assert evaluate(ACCURACY, "t", then, trained(0.95, 0.0851), MACHINES).verdict == Verdict.FAIL
    loss = evaluate(LOSS, "t", then, trained(0.9760, 0.0851), MACHINES)
    assert loss.verdict == Verdict.NOT_APPLIED
    # the same environment: exact, as before
    same = (MACHINES[0], MACHINES[0])
    assert evaluate(ACCURACY, "t", then, trained(0.9760, 0.0851), same).verdict == Verdict.FAIL


def test_the_gate_summary_leads_with_the_environment_change() -> None:
    rows = [
        evaluate(COUNT, "a", count_entry(100_000), count_entry(100_100, OTHER_TORCH), MACHINES),
        evaluate(COUNT, "b", count_entry(100_000), count_entry(100_000, OTHER_TORCH), MACHINES),
        evaluate(ACCURACY, "t", trained(0.9, 0.1), trained(0.9, 0.1), MACHINES),
    ]
    line = environment_headline(MACHINES, rows)
    assert line.startswith("environment: torch 2.14.1+cu130 -> 2.13.0+cu130; 3 rows changed")
    assert "2 under the cross-environment band" in line
    assert "1 exact (training repeated bit for bit)" in line
    assert environment_headline((MACHINES[0], MACHINES[0]), rows) == ""
    assert environment_change((MACHINES[0], {})) == ""  # never recorded: no claim


# --- compare --env end to end --------------------------------------------------------------

# Makes torch's linear layers do their work twice, in that environment only.
SLOWER_LINEAR = """
import torch.nn.functional as F
_linear = F.linear
def _twice(x, w, b=None):
    _linear(x, w, b)
    return _linear(x, w, b)
F.linear = _twice
"""


def overlay_env(where: Path, sitecustomize: str | None = None) -> Path:
    """A venv (made in about a second, no pip) that sees this environment's packages through
    a .pth file; `sitecustomize` runs at its start-up."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    lib = next((where / "lib").glob("python3*")) / "site-packages"
    (lib / "this-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    if sitecustomize:
        (lib / "sitecustomize.py").write_text(sitecustomize)
    return where / "bin" / "python"


def compare_env(
    python: Path | str, other: Path | str, *args: str, cwd: Path | None = None
) -> tuple[int, dict, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [str(python), "-m", "mnist_models", "compare", "--env", str(other), "--json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        cwd=cwd,
    )
    payload = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    return done.returncode, payload, done.stderr


@pytest.mark.slow
def test_the_same_environment_twice_passes_with_identical_numerics(tmp_path: Path) -> None:
    other = overlay_env(tmp_path / "same")
    # An A/A timing comparison fails by chance about 3% of the time (the rounds' t interval at
    # 95%: test_abtest.py measures it); one such false alarm failed this test in CI. So a run
    # whose only failure is the timing row is repeated once: two in a row are about 0.1%.
    for _attempt in range(2):
        code, payload, err = compare_env(
            sys.executable,
            "same",  # a venv folder, relative (the workflow's .venv-base): workers run elsewhere
            *("--models", "mlp-128", "--batch-sizes", "1", "--seconds", "0.5"),
            *("--no-training", "--numerics"),
            cwd=tmp_path,
        )
        if not (code == 1 and payload.get("failed") == ["mlp-128@28 bs1"]):
            break
    assert code == 0, err + json.dumps(payload.get("results"))[-3000:]
    assert payload["headline"] == "environment: the same versions on both sides"
    assert [r["verdict"] for r in payload["results"]] != ["FAIL"]
    assert payload["numerics"]["mlp-128@28"]["verdict"] == "identical to the bit in every layer"
    assert payload["environments"]["baseline"]["executable"] == str(other)


@pytest.mark.slow
def test_an_environment_whose_torch_does_more_work_fails_counts_and_timing(
    tmp_path: Path,
) -> None:
    """The candidate runs in an environment whose F.linear works twice: the A/B and the
    instruction count fail, and the headline names the sitecustomize that did it."""
    from mnist_models.measure.instruction_key import valgrind_path

    if valgrind_path() is None:
        pytest.skip("valgrind is not installed (make valgrind)")
    slower = overlay_env(tmp_path / "slower", SLOWER_LINEAR)
    code, payload, err = compare_env(
        slower,
        sys.executable,
        *("--models", "mlp-512", "--batch-sizes", "64", "--seconds", "0.5"),
        *("--no-training", "--instructions"),
    )
    assert code == 1, err
    assert "sitecustomize None -> " in payload["headline"]
    (ab,) = payload["results"]
    assert ab["verdict"] == "FAIL" and ab["estimates"]["p50"]["ratio"] > 1.5
    (counted,) = payload["instructions"]
    assert counted["verdict"] == "FAIL" and counted["now"] > 1.9 * counted["baseline"]
    assert counted["note"] == ""  # the same torch: the lane's own band, no cross-version rule
    assert payload["failed"] == ["mlp-512@28 bs64", "mlp-512@28-bs64"]


def test_a_missing_environment_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    code, _, err = compare_env(sys.executable, tmp_path / "nowhere", "--no-training")
    assert code == 2
    assert "no such interpreter" in err and "scripts/make-env.sh" in err
    assert "Traceback" not in err


def test_a_dependency_bump_summary_leads_with_what_the_upgrade_did() -> None:
    from mnist_models.gates.record import GateRecord
    from mnist_models.reporting.pr_summary import render_markdown

    count = evaluate(
        COUNT,
        "mlp-1024@28-bs64-train",
        count_entry(100_000),
        count_entry(103_670, OTHER_TORCH),
        MACHINES,
    )
    estimate = {"ratio": 0.988, "low": 0.979, "high": 0.997, "baseline_us": 140.0}
    env = {
        "environments": {"baseline": {"torch": "2.14.1"}, "candidate": {"torch": "2.13.0"}},
        "headline": "environment: torch 2.14.1 -> 2.13.0",
        "results": [
            {
                "label": "mlp-1024@28 bs1",
                "verdict": "same",
                "estimates": {q: estimate for q in ("p50", "p90", "p99")},
            }
        ],
        "instructions": [count.to_dict()],
        "numerics": {"mlp-1024@28": {"verdict": "identical to the bit in every layer"}},
    }
    text = render_markdown([], {}, new="new.json", base="base.json", ab=[env])
    lead = next(line for line in text.splitlines() if line.startswith("**")).replace("\\", "")
    assert lead.startswith(
        "**torch 2.14.1 -> 2.13.0: instructions: 1 of 1 cases outside their band"
    )
    assert "(worst mlp-1024@\u200b28-bs64-train +3.7%)" in lead
    assert "latency p50 -1.2% (median of 1 rows, 0 slower)" in lead
    assert "outputs identical to the bit on 1 of 1 models" in lead
    assert "1 instruction counts moved by the environment" in text.splitlines()[1]
    assert GateRecord.from_dict(count.to_dict()).across == "torch 2.14.1+cu130 -> 2.13.0+cu130"
