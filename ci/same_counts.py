"""ci/local.sh's check of a pull request with unchanged code: every instruction count the gate
job made equals the committed one to the instruction, where both share the instruction key (the
CPU vendor aside, as the gate has it). The worker's environment is fixed, so its counts depend
on the code and the key alone (docs/determinism-keys.md); a string inherited from the job's
environment would move them at once. Exit 0 when all equal, 1 when any differs, 2 when no row
shares the committed key (another torch or valgrind: nothing to compare).

    python3 ci/same_counts.py GATE-RESULTS.json BASELINE-FOLDER
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

UNDER_THE_PINS = "cpu_vendor"  # as mnist_models/gates/engine.py: not a reason to differ


def _key(text: str) -> str:
    return " ".join(p for p in text.split() if not p.startswith(UNDER_THE_PINS + "="))


def _counts(path: Path) -> dict[str, tuple[str, float]]:
    run = json.loads(path.read_text())
    return {
        b["fullname"]: (_key(b["extra_info"]["instruction_key"]), b["extra_info"]["instructions"])
        for b in run["benchmarks"]
        if "instruction_key" in b.get("extra_info", {})
    }


def main(results: str, folder: str) -> int:
    made = _counts(Path(results))
    stored: dict[str, tuple[str, float]] = {}
    for baseline in sorted(Path(folder).glob("*/0001_baseline.json")):  # CPU baselines only
        stored |= _counts(baseline)
    shared = [name for name, (key, _) in made.items() if stored.get(name, ("",))[0] == key]
    differ = [f"{n}: {stored[n][1]} -> {made[n][1]}" for n in shared if made[n][1] != stored[n][1]]
    print(
        f"same_counts: {len(made)} instruction rows, {len(shared)} share the committed key, "
        f"{len(differ)} differ" + "".join(f"\n  {line}" for line in differ),
        file=sys.stderr,
    )
    if not shared:
        return 2
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
