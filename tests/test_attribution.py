"""Attribution: a callgrind dump read per ATen operator and library (measure/callgrind.py), the
sites of the tensors a call keeps (measure/allocation_sites.py), and the lines a failing row
shows of what moved between two breakdowns (gates/attribution.py)."""

from __future__ import annotations

import pytest
import torch
from fakes import LAYOUT_DUMP

from mnist_models.gates.attribution import explain
from mnist_models.gates.engine import evaluate
from mnist_models.gates.record import render_table
from mnist_models.gates.rules import lower
from mnist_models.measure.allocation_sites import _is_own
from mnist_models.measure.callgrind import layout_bound, parse_profile
from mnist_models.measure.metrics import tensor_memory

# A dump in callgrind's format, names compressed as callgrind writes them: python calls
# at::_ops::linear::call twice (inclusive 900), which calls at::_ops::addmm::call (600); isnan
# is called once from python (120). Self costs: python 50 + 5, torch 300 + 600 + 120.
DUMP = """# callgrind format
version: 1
positions: line
events: Ir
summary: 1075

ob=(1) /usr/lib/libpython3.11.so.1.0
fl=(1) ceval.c
fn=(1) _PyEval_EvalFrameDefault
0 50
cob=(2) /opt/venv/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so
cfi=(2) ops.cpp
cfn=(2) at::_ops::linear::call(at::Tensor const&, at::Tensor const&)
calls=2 0
0 900
cob=(2)
cfi=(2)
cfn=(4) at::_ops::isnan::call(at::Tensor const&)
calls=1 0
+3 120
+1 5

ob=(2)
fl=(2)
fn=(2)
0 300
cfn=(3) at::_ops::addmm::call(at::Tensor const&)
calls=2 0
0 600

fn=(3)
0 600

fn=(4)
0 120
"""


def test_a_dump_is_read_per_operator_and_library() -> None:
    profile = parse_profile(DUMP)
    assert profile["operator"] == {
        "aten::linear": [2, 900],
        "aten::addmm": [2, 600],
        "aten::isnan": [1, 120],
    }
    assert profile["library"] == {"libpython3.11.so": [0, 55], "libtorch_cpu.so": [0, 1020]}
    assert sum(v[1] for v in profile["library"].values()) == 1075  # the dump's summary


@pytest.mark.parametrize(
    "text, expected",
    [(DUMP, 0), (LAYOUT_DUMP, 195)],
    ids=["none", "type-cache-allocator-pymalloc"],
)
def test_a_count_leaves_out_the_calls_the_memory_layout_decides(text: str, expected: int) -> None:
    assert layout_bound(text) == expected
    # the self costs add up to the dump's summary: what is left out is a part of that total
    own = sum(v[1] for v in parse_profile(text)["library"].values())
    assert own == int(text.split("summary: ")[1].split()[0])


def _entry(value: float, ops: dict, per: int = 5) -> dict:
    part = {"per": per, "source": "callgrind", "operator": ops, "library": {}}
    return {"instructions": value, "attribution": {"instructions": part}}


def test_an_added_operator_is_named_first_with_its_calls() -> None:
    then = _entry(1000, {"aten::addmm": [5, 50_000], "aten::relu": [5, 5_000]})
    now = _entry(1100, {"aten::addmm": [5, 50_500], "aten::relu": [5, 5_000],
                        "aten::isnan": [5, 20_000], "aten::any": [5, 15_000]})  # fmt: skip
    lines = explain("instructions", then, now)
    assert lines[0] == "operator aten::isnan  calls 0 -> 1  +4,000  (0 -> 4,000)"
    assert lines[1] == "operator aten::any  calls 0 -> 1  +3,000  (0 -> 3,000)"
    assert lines[2] == "operator aten::addmm  +100  (10,000 -> 10,100)"
    assert len(lines) == 3  # relu did not move: not listed


def test_without_a_breakdown_on_either_side_there_is_nothing_to_say() -> None:
    now = _entry(1100, {"aten::isnan": [5, 20_000]})
    assert explain("instructions", {"instructions": 1000}, now) == []
    assert explain("instructions", now, {"instructions": 1000}) == []


@pytest.mark.parametrize("limit, shown", [(2, 3), (None, 4)])
def test_the_lines_are_few_and_say_how_many_more(limit: int | None, shown: int) -> None:
    then = _entry(1, {f"aten::op{i}": [1, 100] for i in range(4)})
    now = _entry(2, {f"aten::op{i}": [1, 100 + 10 * i + 1] for i in range(4)})
    lines = explain("instructions", then, now, limit=limit)
    assert len(lines) == shown
    assert lines[0].startswith("operator aten::op3  +6")  # the largest move first
    if limit:
        assert lines[-1] == "... 2 more (mnist-models explain)"


def test_a_failing_row_carries_and_prints_what_moved() -> None:
    rule = lower("instructions", rel_tol=0.01, two_sided=True)
    then = _entry(1000, {"aten::addmm": [5, 5_000]})
    now = _entry(1100, {"aten::addmm": [5, 5_000], "aten::isnan": [5, 500]})
    machines = ({}, {})
    row = evaluate(rule, "t::x", then, now, machines)
    assert row.failed and row.why[0].startswith("what moved in instructions (callgrind")
    table = render_table([row])
    assert "  operator aten::isnan  calls 0 -> 1  +100  (0 -> 100)" in table.splitlines()
    assert row.to_dict()["why"] == list(row.why)
    ok = evaluate(rule, "t::x", then, then, machines)
    assert not ok.failed and ok.why == ()  # a passing row is not explained


@pytest.mark.parametrize(
    "test, parsed",
    [("test_forward_instructions[mlp-1024@28-bs1]", ("forward", "mlp-1024@28", 1)),
     ("benchmarks/bench_instructions.py::test_training_instructions[cnn9@pad:32-bs64]",
      ("train", "cnn9@pad:32", 64))],
)  # fmt: skip
def test_explain_takes_an_instruction_tests_id(test: str, parsed: tuple) -> None:
    from mnist_models.cli.explain import parse_test

    assert parse_test(test) == parsed


def test_explain_refuses_another_lane_in_one_line(capsys: pytest.CaptureFixture) -> None:
    from mnist_models.cli import main

    assert main(["explain", "test_latency[mlp-128@28-bs1]"]) == 2
    err = capsys.readouterr().err
    assert "is not an instruction benchmark" in err and len(err.strip().splitlines()) == 1


class _Keeper(torch.nn.Module):
    """A model that keeps every output (a debugging cache): what a call leaves allocated."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(8, 4)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc(x)
        self.seen.append(out)
        return out


def test_the_tensors_a_call_keeps_are_named_by_function_layer_and_operator() -> None:
    model, x = _Keeper().eval(), torch.ones(2, 8)

    def calls() -> None:
        with torch.inference_mode():
            for _ in range(3):
                model(x)

    kept, _ = tensor_memory(calls)
    site = "test_attribution.calls > test_attribution.forward > Linear_0 > aten::linear"
    assert kept.sites["retained"] == {site: [3, kept.retained_bytes]}
    assert kept.retained_bytes == 3 * 2 * 4 * 4  # three float32 outputs of 2 x 4
    part = kept.attribution("retained")
    assert part["count"] == "tensors" and part["site"] == kept.sites["retained"]
    plain, _ = tensor_memory(calls, sites=False)  # the gated figures do not need the stacks
    assert (plain.peak_bytes, plain.retained_bytes, plain.sites) == (
        kept.peak_bytes, kept.retained_bytes, {}
    )  # fmt: skip


@pytest.mark.parametrize(
    "path, own",
    [("torch/nn/modules/module.py", False), ("contextlib.py", False),
     ("/usr/lib/python3.11/functools.py", False), ("pytorch_net/__init__.py", True),
     ("/work/main/mnist_models/measure/train.py", True), ("<string>", False)],
)  # fmt: skip
def test_a_site_names_the_code_under_test_not_torch_or_the_standard_library(
    path: str, own: bool
) -> None:
    assert _is_own(path) is own


def _run_file(path, value: float, sites: dict) -> str:
    import json

    part = {"per": 1, "source": "torch.profiler", "count": "tensors", "site": sites}
    extra = {"train_peak_tensor_bytes": value, "attribution": {"train_peak_tensor_bytes": part}}
    bench = {"name": "test_training_memory[m@28]", "fullname": "b.py::test_training_memory[m@28]",
             "stats": {}, "extra_info": extra}  # fmt: skip
    path.write_text(json.dumps({"machine_info": {}, "benchmarks": [bench]}))
    return str(path)


def test_explain_compares_a_finished_runs_breakdowns_with_the_baseline(
    tmp_path, capsys: pytest.CaptureFixture
) -> None:
    from mnist_models.cli import main

    (tmp_path / "store" / "m").mkdir(parents=True)
    _run_file(tmp_path / "store" / "m" / "0001_baseline.json", 100, {"a > aten::index": [1, 100]})
    run = _run_file(tmp_path / "run.json", 300, {"a > aten::index": [1, 100],
                                                 "a > aten::clone": [1, 200]})  # fmt: skip
    argv = ["explain", "test_training_memory[m@28]", "--run", run, "--storage"]
    assert main([*argv, str(tmp_path / "store")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("train_peak_tensor_bytes, the stored baseline -> the run: 100 -> 300")
    assert out[-1] == "  site a > aten::clone  tensors 0 -> 1  +200  (0 -> 200)"


def test_an_item_that_appears_comes_first_even_without_counts() -> None:
    # callgrind's breakdown holds instructions only (its call counts include the warm-up)
    then = _entry(1000, {"aten::addmm": [0, 50_000]})
    now = _entry(1100, {"aten::addmm": [0, 52_000], "aten::isnan": [0, 100]})
    assert explain("instructions", then, now) == [
        "operator aten::isnan  +20  (0 -> 20)",
        "operator aten::addmm  +400  (10,000 -> 10,400)",
    ]
