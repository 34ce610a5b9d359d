"""Every verdict this tool prints, one vocabulary for all its commands (a StrEnum: stored and
printed as its string). Each word means one thing wherever it appears:

    ok               within its gate (a gate row of the pytest plugin)
    same             no change worth a word (two runs compared; an A/B estimate not significant)
    better           improved (two runs compared; an A/B estimate significantly faster)
    worse (allowed)  worse, but within its gate
    FAIL             worse beyond its gate: the command exits 1
    MISSING          the baseline gates a metric the new run lacks: exit 1
    new              no baseline to compare with
    not applied      the stored figure says nothing here (its determinism key differs) and no
                     base run judged it
    not measured     the measurement could not be made here (e.g. no valgrind)

Older files wrote `WORSE` and `slower` for FAIL and `faster` for better; they still load
(`Verdict("slower") is Verdict.FAIL`).
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    OK = "ok"
    SAME = "same"
    BETTER = "better"
    WORSE_ALLOWED = "worse (allowed)"
    FAIL = "FAIL"
    MISSING = "MISSING"
    NEW = "new"
    NOT_APPLIED = "not applied"
    NOT_MEASURED = "not measured"

    @classmethod
    def _missing_(cls, value: object) -> Verdict | None:
        return _LEGACY.get(str(value))


# the words of files written before the vocabulary was one
_LEGACY = {"WORSE": Verdict.FAIL, "slower": Verdict.FAIL, "SLOWER": Verdict.FAIL}
_LEGACY["faster"] = Verdict.BETTER

FAILING = frozenset({Verdict.FAIL, Verdict.MISSING})
