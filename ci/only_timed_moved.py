"""ci/local.sh's check of a pull request with unchanged code that got a comment: every row of
its summary's "moved beyond half their tolerance" table is a timed metric (noise on this
machine), none an exact one. Exit 0 when so, 1 otherwise.

    python3 ci/only_timed_moved.py DIR   (DIR holds gate-report.json and pr-summary.md)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HEADING = "### Failed, or moved beyond half their tolerance"


def main(folder: str) -> int:
    where = Path(folder)
    rows = json.loads((where / "gate-report.json").read_text())["rows"]
    timed = {r["metric"].replace("_", "\\_") for r in rows if r["rule"].get("timed")}
    text = (where / "pr-summary.md").read_text()
    if HEADING not in text:
        print("only_timed_moved: the summary has no table of moved rows", file=sys.stderr)
        return 1
    table = text.split(HEADING, 1)[1].split("\n### ", 1)[0]
    moved = [line.split("|")[2].strip() for line in table.splitlines() if line.startswith("| `")]
    untimed = [m for m in moved if m not in timed]
    print(f"only_timed_moved: {len(moved)} rows moved, untimed: {untimed}", file=sys.stderr)
    return 0 if moved and not untimed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
