"""Rewrite the committed baselines at the current file format (mnist_models/gates/formats.py),
checking that every gated value is unchanged: python scripts/migrate_baselines.py [FILE...]."""

from __future__ import annotations

import sys
from pathlib import Path

from mnist_models.fields import FORMAT
from mnist_models.gates.store import migrate

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((REPO / "benchmarks/baselines").rglob("*.json"))
    for path in paths:
        done = migrate(path)
        state = "already current" if done.before == FORMAT else f"format {done.before} -> {FORMAT}"
        print(f"{path}: {state}; {done.entries} entries, {done.gated} gated values unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
