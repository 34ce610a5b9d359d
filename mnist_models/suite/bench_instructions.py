"""CPU instructions of forward passes and of training steps of the real `train()`, counted by
callgrind: deterministic where wall time is not, so a few percent more work fails the run.

One valgrind process counts every selected case (suite/plugin.py starts it as the run begins
and these tests, run last, read its counts). The gated figure is instructions per call
(forward) or per step (training); per sample goes to extra_info beside it. The tolerance is
two-sided: an unexplained improvement fails too, so the stored figure stays current. Counts are
compared only with a baseline of the same instruction key (torch build, ISA path, valgrind...).
"""

from __future__ import annotations

import pytest

from .. import fields
from ..gates.formats import COUNTED_TIMER
from ..gates.rules import budget
from ..labels import case_id
from ..measure.instruction_case import InstructionCase
from ..measure.instruction_rules import FORWARD_CALLS, TRAIN_STEPS, instruction_rule
from .grid import BATCH_SIZE_TRAINING, BATCH_SIZES, architecture_cases, gate_training

pytestmark = [pytest.mark.instructions, pytest.mark.full]

GATE_BATCH_SIZES = (1, 64)
# Instruction budgets: a ceiling per forward pass at batch 1 for the named models, with or
# without a baseline, on any machine (the ISA path is pinned, instruction_key.ISA_PINS). About 1.5x
# what torch 2.14 counts here (what a count leaves out aside), so a torch or Python upgrade fits
# and a model doing half as much again does not (docs/deterministic-gates.md, "Latency budgets").
INSTRUCTION_BUDGETS = {
    "mlp-128@28-bs1": 360_000,
    "mlp-1024@28-bs1": 1_500_000,
    "mlp-512x3@28-bs1": 1_850_000,
    "lenet5@28-bs1": 2_000_000,
    "cnn9@pad:32-bs1": 4_500_000,
}


class _CountedClock:
    """pytest-benchmark's timer for this lane: it reads the instructions callgrind counted, so
    the statistics saved beside a count are the count itself (gates/formats.py, format 2) and
    not the time of the lookup that fetches it from the worker."""

    __name__ = COUNTED_TIMER  # how pytest-benchmark names the timer in a saved run

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, count: float) -> None:
        self.now += count


CLOCK = _CountedClock()


def forward_cases() -> list:
    return [
        pytest.param(
            InstructionCase(
                key=case_id(case.id, bs),
                kind="forward",
                model=case.model,
                resolution=case.res.id,
                batch_size=bs,
                calls=FORWARD_CALLS.get(bs, 1),
            ),
            id=case_id(case.id, bs),
            marks=[pytest.mark.gate] if bs in GATE_BATCH_SIZES else [],
        )
        for case in architecture_cases()
        for bs in BATCH_SIZES
    ]


def training_cases() -> list:
    trained = gate_training()
    return [
        pytest.param(
            InstructionCase(
                key=case_id(case.id, BATCH_SIZE_TRAINING, "train"),
                kind="train",
                model=case.model,
                resolution=case.res.id,
                batch_size=BATCH_SIZE_TRAINING,
                steps=TRAIN_STEPS,
            ),
            id=case_id(case.id, BATCH_SIZE_TRAINING),
            marks=[pytest.mark.gate] if case.id in trained else [],
        )
        for case in architecture_cases()
    ]


def _check(icase: InstructionCase, benchmark, gate, instruction_counts) -> None:
    rule = instruction_rule(icase.kind, icase.batch_size)
    if instruction_counts.unavailable:
        gate.not_measured(rule, instruction_counts.unavailable)
        pytest.skip(f"instructions not measured: {instruction_counts.unavailable}")
    count = instruction_counts.get(icase.key)
    benchmark.pedantic(CLOCK.advance, args=(count.per_call,), rounds=1, iterations=1)
    benchmark.extra_info.update(
        {
            fields.MODEL: icase.model,
            fields.RESOLUTION: icase.resolution,
            fields.BATCH_SIZE: icase.batch_size,
            fields.THREADS: 1,
            fields.KIND: icase.kind,
            fields.CALLS: icase.calls,
            fields.STEPS: icase.steps,
            fields.INSTRUCTIONS_TOTAL: count.total,
            fields.INSTRUCTIONS_LEFT_OUT: count.left_out,
            fields.INSTRUCTIONS_PER_SAMPLE: count.per_sample,
            fields.INSTRUCTION_KEY: count.key,
        }
    )
    profile = count.attribution()  # what a failing count names: the operators that moved
    if profile:
        benchmark.extra_info.setdefault(fields.ATTRIBUTION, {})[rule.name] = profile
    gate.record(rule, count.per_call)
    if icase.kind == "forward" and icase.key in INSTRUCTION_BUDGETS:
        gate.record(
            budget(fields.INSTRUCTIONS_BUDGET, INSTRUCTION_BUDGETS[icase.key]), count.per_call
        )


@pytest.mark.benchmark(group="instructions", timer=CLOCK)
@pytest.mark.parametrize("icase", forward_cases())
def test_forward_instructions(icase: InstructionCase, benchmark, gate, instruction_counts) -> None:
    _check(icase, benchmark, gate, instruction_counts)


@pytest.mark.benchmark(group="instructions", timer=CLOCK)
@pytest.mark.parametrize("icase", training_cases())
def test_training_instructions(icase: InstructionCase, benchmark, gate, instruction_counts) -> None:
    _check(icase, benchmark, gate, instruction_counts)
