"""Print the policy table and the key table of a baseline as docs/determinism-keys.md shows
them: python scripts/policy_table.py [BASELINE]."""

from __future__ import annotations

import sys
from pathlib import Path

from mnist_models.gates.keys import key_table
from mnist_models.gates.policies import policy_table
from mnist_models.gates.store import load_run_file
from mnist_models.table import markdown_table

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "benchmarks/baselines/Linux-CPython-3.11-64bit/0001_baseline.json"


def main(argv: list[str]) -> int:
    data = load_run_file(Path(argv[0]) if argv else DEFAULT)
    print("\n".join(markdown_table(["key", "facts", "why"], key_table(), left=3)))
    print()
    print("\n".join(policy_table(data["benchmarks"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
