"""What reviewers read: the gate summary, the one-line machine note, the Markdown summary the
pull-request workflow publishes, and pytest-benchmark's own CLI from the repository root."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_models.cli import main
from mnist_models.gates.machine_notes import machine_note
from mnist_models.gates.record import GateRecord
from mnist_models.gates.rules import exact, lower
from mnist_models.gates.session import GateSession, summary_lines

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "benchmarks/baselines/Linux-CPython-3.11-64bit/0001_baseline.json"


def test_pytest_benchmark_cli_works_from_the_repo_root(tmp_path: Path) -> None:
    cli = str(Path(sys.executable).with_name("pytest-benchmark"))
    storage = "file://benchmarks/baselines"
    listed = subprocess.run(
        [cli, "--storage", storage, "list"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "0001_baseline.json" in listed.stdout
    hist = tmp_path / "hist"
    compared = subprocess.run(
        [cli, "--storage", storage, "compare", "0001", "--columns", "median", "--histogram", hist],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert compared.returncode == 0, compared.stderr[-2000:]
    assert "Traceback" not in compared.stderr
    assert list(tmp_path.glob("hist-*.svg"))


def _rows() -> list[GateRecord]:
    params = exact("params")
    latency = lower("latency_cpu_rel", rel_tol=1.0, timed=True)
    node = "benchmarks/bench_{}.py::test_x[{}]"
    rows = [GateRecord(node.format("counts", f"m{i}"), params, 100, 100, "ok") for i in range(300)]
    # GateRecord(nodeid, metric, now, baseline, verdict, note, lane): the lane is the group the
    # benchmark declares, else its module's name (bench_counts: counts)
    rows += [
        GateRecord(node.format("inference", f"m{i}"), latency, 1.1, 1.0, "ok", "", "latency")
        for i in range(150)
    ]
    rows += [GateRecord(node.format("inference", "moved"), latency, 1.8, 1.0, "ok", "", "latency")]
    rows += [GateRecord(node.format("inference", "slow"), latency, 2.5, 1.0, "FAIL", "", "latency")]
    rows += [
        GateRecord(node.format("counts", f"bad{i}"), params, 101 + i, 100, "FAIL")
        for i in range(20)
    ]
    rows += [GateRecord(node.format("instructions", "x"), params, None, None, "not measured", "no")]
    return rows


def test_gate_summary_is_short_and_leads_with_the_worst() -> None:
    lines = summary_lines(GateSession(rows=_rows()))
    assert len(lines) <= 30
    assert lines[0] == "FAILED (21), worst first:"
    assert "bad" in lines[2]  # exact counts that moved: beyond any tolerance, listed first
    assert any("... and 9 more" in line for line in lines)
    assert any(line.startswith("changed beyond half their tolerance (1)") for line in lines)
    lanes = [line for line in lines if " metrics: " in line]
    assert [line.split()[0] for line in lanes] == ["counts", "instructions", "latency"]
    assert "320 metrics: 20 failed, 300 ok" in lanes[0]


def test_nothing_failed_is_one_line_per_lane() -> None:
    rows = [r for r in _rows() if r.status == "ok" and "moved" not in r.nodeid]
    assert summary_lines(GateSession(rows=rows)) == [
        "counts   300 metrics: 300 ok",
        "latency  150 metrics: 150 ok",
    ]


def test_machine_note_is_one_line_with_the_verdict() -> None:
    info = json.loads(BASELINE.read_text())["machine_info"]
    other = copy.deepcopy(info)
    other["release"] = "6.18.44-fc-v595"
    other["cpu"]["flags"] = other["cpu"]["flags"][:-5]
    (line,) = machine_note(info, other)
    assert "5 CPU flags differ" in line and "kernel" in line and "vs -v595" in line
    assert "same kind: time gates apply" in line
    other["cpu_count"] = 16
    lines = machine_note(info, other, verbose=True)
    assert "another kind: time gates not applied" in lines[0]
    assert any(line.strip().startswith("cpu_count: baseline 2, here 16") for line in lines[1:])
    assert machine_note(info, copy.deepcopy(info)) == []


def _report(capsys: pytest.CaptureFixture[str], tmp_path: Path, new: dict, *extra: str):
    path = tmp_path / "new.json"
    path.write_text(json.dumps(new))
    code = main(["report", str(path), "--against", str(BASELINE), "--markdown", *extra])
    return code, capsys.readouterr().out


def test_markdown_summary_of_a_regression(capsys, tmp_path: Path) -> None:
    new = json.loads(BASELINE.read_text())
    for bench in new["benchmarks"]:
        if "test_training[lenet5@28" in bench["fullname"]:
            recorded = bench["extra_info"]["accuracy"]  # whatever the baseline holds
            bench["extra_info"]["accuracy"] -= 0.02
    ab = tmp_path / "ab.json"
    ab.write_text(
        json.dumps(
            {
                "results": [
                    {
                        "label": "lenet5@28 bs1",
                        "verdict": "slower",
                        "estimates": {
                            q: {"ratio": 1.2, "low": 1.1, "high": 1.3, "baseline_us": 500.0}
                            for q in ("p50", "p90", "p99")
                        },
                    }
                ]
            }
        )
    )
    code, out = _report(capsys, tmp_path, new, "--ab", str(ab), "--links", "artifacts")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "<!-- mnist-bench-report changed=true -->"
    assert lines[1].startswith("## ❌ mnist-bench: 1 gated metrics regressed, 1 slower")
    was, now = f"{100 * recorded:.2f}%", f"{100 * (recorded - 0.02):.2f}%"
    assert f"| `test_training[lenet5@28-bs64-e2]` | accuracy | {was} | {now} |" in out
    # an A/B file of an older version ("slower") reads in today's words
    assert (
        "| `lenet5@28 bs1` | 500.0 | +20.0% [+10.0%, +30.0%] | +20.0% [+10.0%, +30.0%] | **FAIL** |"
        in out
    )
    assert "| training | 1 | 0 |" in out and "Plots and tables: artifacts" in out


def test_markdown_summary_of_an_unchanged_run(capsys, tmp_path: Path) -> None:
    code, out = _report(capsys, tmp_path, json.loads(BASELINE.read_text()))
    assert code == 0
    assert out.startswith("<!-- mnist-bench-report changed=false -->\n## ✅ mnist-bench")
    assert "### Failed" not in out


@pytest.mark.parametrize("timed_ab", [False, True], ids=["no-ab", "timed-ab"])
def test_markdown_machine_note_says_what_judged_the_timed_rows_of_another_kind(
    capsys, tmp_path: Path, timed_ab: bool
) -> None:
    """A run on another machine kind whose lanes timed a row A/B (as the CI gate stores it): the
    summary's machine line says so, and does not call its time gates not applied."""
    new = json.loads(BASELINE.read_text())
    new["machine_info"]["cpu_model"] = "Some Other CPU 9000"
    if timed_ab:
        (entry,) = [b for b in new["benchmarks"] if b["name"] == "test_latency[mlp-32@28-bs1]"]
        entry["extra_info"]["latency_cpu_rel_ab"] = {
            "revision": "0123456789abcdef0123456789abcdef01234567", "verdict": "same",
            "estimates": {
                q: {"ratio": 1.0, "low": 0.98, "high": 1.02, "baseline_us": 50.0,
                    "min_effect": 0.05, "verdict": "same"}
                for q in ("p50", "p90", "p99")
            },
        }  # fmt: skip
    code, out = _report(capsys, tmp_path, new)
    assert code == 0
    (line,) = [x for x in out.splitlines() if "machine: " in x]
    if timed_ab:
        assert "another kind: times judged A/B or by a base run" in line
        assert "| latency | 0 | 0 | 0 | 0 | 1 |" in out
    else:
        assert "another kind: time gates not applied" in line


def test_markdown_needs_a_comparison(capsys) -> None:
    assert main(["report", str(BASELINE), "--markdown"]) == 2
    assert "add --against" in capsys.readouterr().err


@pytest.mark.parametrize(
    "results, message",
    [
        ([{"label": "m", "estimates": {"p99": {}}}], "results[0].estimates.p50 is missing"),
        (
            [{"label": "m", "estimates": {q: {"ratio": "x"} for q in ("p50", "p99")}}],
            "results[0].estimates.p50.ratio must be a finite number",
        ),
        ([{"verdict": "FAIL"}], "results[0] must be an object with a 'label' string"),
    ],
)
def test_an_unsound_ab_file_is_one_line(
    capsys, tmp_path: Path, results: list, message: str
) -> None:
    ab = tmp_path / "ab.json"
    ab.write_text(json.dumps({"results": results}))
    argv = ["report", str(BASELINE), "--against", str(BASELINE), "--markdown", "--ab", str(ab)]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
