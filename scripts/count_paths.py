"""Count mlp-128x4@28-bs1 and lenet5@28-bs1 (5 forward calls each, the instruction lane's
cases) with the package found in SOURCE and the worker's files in WORK; print one JSON line:
each count per call as the lane gates it, and as `<case> dump`, the dump's whole total (with
what a count leaves out, measure/callgrind.py LAYOUT_BOUND).

    python scripts/count_paths.py SOURCE WORK [extra]

`extra` counts a batch-64 case first (another selection). scripts/count_paths.sh runs it over
folders, temporary names, loads and selections (docs/determinism-keys.md, "Counts and paths").
"""

import json
import sys
import time
from pathlib import Path

source, work = Path(sys.argv[1]), Path(sys.argv[2])
sys.path.insert(0, str(source))
from mnist_models.measure.instruction_case import InstructionCase  # noqa: E402
from mnist_models.measure.instruction_rules import FORWARD_CALLS  # noqa: E402
from mnist_models.measure.instructions import CallgrindRun  # noqa: E402

calls = FORWARD_CALLS.get(1, 1)
cases = [
    InstructionCase("mlp-128x4@28-bs1", "forward", "mlp-128x4", "28", 1, calls=calls),
    InstructionCase("lenet5@28-bs1", "forward", "lenet5", "28", 1, calls=calls),
]
if sys.argv[3:] == ["extra"]:
    cases.insert(0, InstructionCase("mlp-32@28-bs64", "forward", "mlp-32", "28", 64, calls=1))
started = time.time()
counts = CallgrindRun(cases, work, source=source).start().counts()
row = {"source": str(source), "work": str(work), "extra": len(cases) > 2}
for k, c in counts.items():
    if k.endswith("bs1"):
        row |= {k: c.total // c.case.calls, f"{k} dump": (c.total + c.left_out) // c.case.calls}
print(json.dumps(row | {"seconds": round(time.time() - started)}), flush=True)
