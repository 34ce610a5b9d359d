"""Every verdict this tool prints, defined once (a StrEnum: stored and printed as its string).

A gate row of the pytest plugin is OK, FAIL, NEW (no baseline), NOT_APPLIED or NOT_MEASURED.
Two saved runs compared by `report` give SAME, BETTER, WORSE_ALLOWED (within the gate), WORSE,
MISSING (the baseline gates it, the new run lacks it) or NOT_APPLIED. An A/B estimate of
`compare` is SAME, FASTER or SLOWER. FAILING are the verdicts that fail a command.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    OK = "ok"
    FAIL = "FAIL"
    NEW = "new"
    NOT_APPLIED = "not applied"
    NOT_MEASURED = "not measured"
    SAME = "same"
    BETTER = "better"
    WORSE_ALLOWED = "worse (allowed)"
    WORSE = "WORSE"
    MISSING = "MISSING"
    FASTER = "faster"
    SLOWER = "slower"


FAILING = frozenset({Verdict.FAIL, Verdict.WORSE, Verdict.MISSING, Verdict.SLOWER})
