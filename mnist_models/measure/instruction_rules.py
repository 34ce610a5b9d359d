"""The bands instruction counts are gated with (the instruction lane of `pytest benchmarks`
and `compare --env --instructions` use the same declarations, through the one engine)."""

from __future__ import annotations

from .. import fields
from ..gates.rules import Metric, lower

FORWARD_CALLS = {1: 5}  # calls counted per case (default 1): instructions repeat call to call
TRAIN_STEPS = 10  # training steps counted per training case (batch 64)

# The bands: about twice the largest move between runs of one checkout with different
# selections, so a 3% forward-pass change fails at every batch size and a 0.7% optimizer change
# fails training (the measurements: docs/deterministic-gates.md, "Instruction lane").
TOLERANCE_BATCH_1 = 0.01
# A floor in instructions: the heap's state moves small calls by a fixed offset (same doc).
ABS_TOLERANCE_BATCH_1 = 4_000
TOLERANCE_BATCHED = 0.005
TOLERANCE_TRAINING = 0.003

# Across torch versions (`across_versions`): batch 1 gets twice its largest move between 2.13.0
# and 2.14.1; batched passes and training keep the lane's bands, which Adam's extra work per
# step in 2.13.0 exceeds (docs/deterministic-gates.md, "Across PyTorch versions").
ACROSS_VERSIONS_BATCH_1 = 0.02
INSTRUCTIONS_BATCH_1 = lower(
    fields.INSTRUCTIONS,
    rel_tol=TOLERANCE_BATCH_1,
    abs_tol=ABS_TOLERANCE_BATCH_1,
    key="instructions",
    two_sided=True,
    across_versions=ACROSS_VERSIONS_BATCH_1,
)
INSTRUCTIONS_BATCHED = lower(
    fields.INSTRUCTIONS,
    rel_tol=TOLERANCE_BATCHED,
    key="instructions",
    two_sided=True,
    across_versions=TOLERANCE_BATCHED,
)
INSTRUCTIONS_TRAINING = lower(
    fields.INSTRUCTIONS,
    rel_tol=TOLERANCE_TRAINING,
    key="instructions",
    two_sided=True,
    across_versions=TOLERANCE_TRAINING,
)


def instruction_rule(kind: str, batch_size: int) -> Metric:
    """The band a case's count is gated with: training steps, forward passes at batch 1 (an
    absolute floor for small calls), batched forward passes."""
    if kind == "train":
        return INSTRUCTIONS_TRAINING
    return INSTRUCTIONS_BATCH_1 if batch_size == 1 else INSTRUCTIONS_BATCHED


def cases_for(
    models: list[str] | tuple[str, ...],
    batch_sizes: list[int] | tuple[int, ...],
    *,
    training: bool = True,
) -> list:
    """The instruction cases of `compare --env --instructions`, counted as the lane counts
    them: forward passes at each batch size and (`training`) steps at batch 64, per model."""
    from ..labels import case_id
    from ..zoo.registry import get_config, run_id
    from .instruction_case import InstructionCase

    cases = []
    for text in models:
        model_id, _, resolution = text.partition("@")
        config, res = get_config(model_id, resolution or None)
        rid = run_id(config, res)
        for bs in batch_sizes:
            cases.append(
                InstructionCase(
                    case_id(rid, bs),
                    "forward",
                    model_id,
                    res.id,
                    bs,
                    calls=FORWARD_CALLS.get(bs, 1),
                )
            )
        if training:
            cases.append(
                InstructionCase(
                    case_id(rid, 64, "train"), "train", model_id, res.id, 64, steps=TRAIN_STEPS
                )
            )
    return cases
