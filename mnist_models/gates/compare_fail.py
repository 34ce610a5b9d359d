"""pytest-benchmark's `--benchmark-compare-fail`, applied where a benchmark's statistics are a
figure: the times of a timed call (latency, training) against a baseline timed on the same kind
of machine, and the instruction lane's counts (its timer reads callgrind's count).

pytest-benchmark applies each check to every benchmark and ends the run with a traceback. Here
a lane whose timed call is a counting or profiling pass (marked `not_a_timing`) is not judged by
it, nor a time measured on another kind of machine; the summary says how many of each, and a
failed check is a line of the summary and a failed run, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .formats import COUNTED_TIMER

MARKER = "not_a_timing"  # @pytest.mark.not_a_timing("what the timed call is"), on a lane


@dataclass
class CompareFail:
    """The checks taken over from pytest-benchmark's session, and what they found."""

    checks: list[Any]
    failures: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> benchmarks
    judged: int = 0

    def judge(self, benchmarks: list[Any], compared: dict[str, dict], not_timed: dict[str, str],
              kind_difference: str) -> None:  # fmt: skip
        """Each benchmark with a compared entry, by every check (pytest-benchmark's own
        `fails`, on the statistics it would use), unless its statistics are no figure here."""
        for bench in benchmarks:
            then = compared.get(bench.fullname)
            if not bench or then is None:
                continue
            counted = _counted(bench)
            if bench.fullname in not_timed:
                reason = f"its timed call is {not_timed[bench.fullname]}, not a figure"
            elif not counted and kind_difference:
                reason = f"timed on {kind_difference}"
            else:
                reason = ""
            if reason:
                self.skipped[reason] = self.skipped.get(reason, 0) + 1
                continue
            self.judged += 1
            flat = {**bench.as_dict(include_data=False, stats=False), **then["stats"]}
            for check in self.checks:
                failed = check.fails(bench, flat)  # as pytest-benchmark calls it
                if failed:
                    self.failures.append(f"{bench.fullname}: {failed}")

    def lines(self) -> list[tuple[str, str]]:
        """The summary's lines: (text, colour)."""
        out = [
            (f"--benchmark-compare-fail: {self.judged} benchmarks judged, "
             f"{len(self.failures)} failed", "red" if self.failures else "")
        ]  # fmt: skip
        out += [(f"  FAILED {line}", "red") for line in self.failures]
        out += [
            (f"  not judged: {n} benchmarks ({reason})", "yellow")
            for reason, n in sorted(self.skipped.items())
        ]
        return out


def _counted(bench: Any) -> bool:
    """The benchmark's timer is the instruction lane's count (its name, in the options)."""
    options = bench.options if isinstance(bench.options, dict) else {}
    return any(getattr(v, "__name__", None) == COUNTED_TIMER for v in options.values())
