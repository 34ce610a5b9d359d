"""One case the instruction worker counts, and the uncounted warm-up before it: all the worker
needs of the parent's side. The worker imports this module and no other of the lane's own
(instructions.py, launch_folder.py, instruction_key.py stay out of it): what it imports before
it forks is part of what the counts measure, so an edit to code that only starts and reads the
worker must not move them (docs/determinism-keys.md, "Counts and paths")."""

from __future__ import annotations

from dataclasses import dataclass

# Collection is toggled around the measured calls only; these many calls are warm-up, uncounted.
WARMUP_CALLS = 1
TRAIN_WARMUP_STEPS = 2


@dataclass(frozen=True)
class InstructionCase:
    """One thing to count: `calls` forward passes at `batch_size`, or `steps` training steps.

    kind "forward": the model in eval mode under inference_mode, one fixed seeded input.
    kind "train": the project's own `train()` for one epoch of `steps` batches of `batch_size`
    images from the start of the seeded training split (`data` names the saved subset).
    """

    key: str  # the benchmark's run id, e.g. "mlp-1024@28-bs1"
    kind: str
    model: str
    resolution: str
    batch_size: int
    calls: int = 0
    steps: int = 0
    data: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("forward", "train"):
            raise ValueError(f"kind must be forward or train, got {self.kind!r}")

    @property
    def samples(self) -> int:
        """Images processed by the counted work (for instructions per sample)."""
        return self.batch_size * (self.calls if self.kind == "forward" else self.steps)
