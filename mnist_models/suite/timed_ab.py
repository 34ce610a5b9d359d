"""The lanes' A/B timings against the base revision, for timed rows that no stored figure of
this machine kind can judge (gates/timed_ab.py makes the row): the base revision's package is
imported beside this one (ab/revision.py) and its forward pass, or its training steps, timed
alternately with this one's in this process, by `mnist-models compare`'s rule (ab/abtest.py).

It applies where the project measured is this package itself (its root holds the imported
`mnist_models`) and the model is one of the package's: a user's model comes from the user's
code, which the base revision of this package does not hold; its rows stay judged by the base
run's figures.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import ConfigError
from ..gates.timed_ab import MARKER
from ..zoo.registry import model_origin
from .grid import Case

if TYPE_CHECKING:
    from ..ab.abtest import ABResult, ABSettings
    from ..measure.data import MNISTData

PACKAGE = __name__.split(".")[0]
# the lanes' tests that pass `ab=` for their timed rows on the CPU (latency() and training())
LANE_TESTS = ("test_latency", "test_training")
# compare's rule with less timing per row: the gate tier has 155 timed rows, compare 10; the
# false alarms and slowdowns caught at 0.5 s are in docs/determinism-keys.md ("Timed rows")
SECONDS = 0.5
WARMUP_S = 0.1
# The smallest effect per statistic: compare's for p50 and p90; p99 only where the tail doubles.
# In 0.5 s a call of 10 ms or more is timed 30 times a side, and the p99 of 30 calls is the
# largest of them: in a busy `make bench` 3 of 155 unchanged rows failed a first timing (each
# cleared when timed again), none of 48 under a spinning process alone.
MIN_EFFECT = {"p50": 0.05, "p90": 0.08, "p99": 1.0}


def settings(threads: int) -> ABSettings:
    from ..ab.abtest import ABSettings

    return ABSettings(
        threads=threads, seconds=SECONDS, warmup_s=WARMUP_S, min_effect=dict(MIN_EFFECT)
    )


def applies(config: pytest.Config, case: Case) -> bool:
    """The project measured is this package (its root holds the imported `mnist_models`) and
    the model is the package's own."""
    here = Path(sys.modules[PACKAGE].__file__).resolve().parent
    root = config.rootpath.resolve()
    return here == root / PACKAGE and model_origin(case.model) == PACKAGE


def mark(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the lanes' tests that time their rows A/B (LANE_TESTS, on the CPU), where A/B
    applies: the base run need not measure their timed rows."""
    if config.getoption("device") != "cpu":
        return
    for item in items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("case") if callspec else None
        name = getattr(item, "originalname", "")
        if name in LANE_TESTS and isinstance(case, Case) and applies(config, case):
            item.add_marker(MARKER)


def marked(item: pytest.Item) -> bool:
    """Whether this test times its timed rows A/B (mark() marked it): the lane passes `ab=`
    only then, so a user's model is never timed against this package's revisions."""
    return item.get_closest_marker(MARKER) is not None


def _guarded(ab: Callable[[str], dict]) -> Callable[[str], dict]:
    """ab, with whatever the base revision's code raises said as a ConfigError: the row is
    then judged as without A/B, with why, not the test errored from inside the old code."""

    def call(commit: str) -> dict[str, Any]:
        try:
            return ab(commit)
        except ConfigError:
            raise
        except Exception as err:  # an old revision's API, its import: refused, never passed
            raise ConfigError(f"{type(err).__name__}: {str(err)[:200]}") from None

    return call


def _sides(commit: str) -> tuple[Any, Any]:
    from ..ab.compare import Side
    from ..ab.revision import load_revision, repo_root

    base = load_revision(commit, repo_root(Path(sys.modules[PACKAGE].__file__).parent))
    return Side(base, commit[:10]), Side(sys.modules[PACKAGE], "this tree")


def _one(results: list[tuple[str, ABResult | None]], commit: str, what: str) -> dict[str, Any]:
    ((_, result),) = results
    if result is None:
        raise ConfigError(f"the base revision {commit[:10]} has no model {what}")
    return result.as_dict()


def _text(case: Case) -> str:
    return f"{case.model}@{case.resolution}" if case.resolution else case.model


def latency(case: Case, batch_size: int, mode: str, threads: int) -> Callable[[str], dict]:
    """ab(commit): the forward pass of both revisions' models at this batch size and mode,
    timed alternately (compare_sides: a failing row is timed a second time)."""

    def ab(commit: str) -> dict[str, Any]:
        from ..ab.compare import compare_sides

        base, head = _sides(commit)
        timed = settings(threads)
        results = compare_sides(base, head, [_text(case)], [batch_size], timed, mode=mode)
        return _one(results, commit, _text(case))

    return _guarded(ab)


def training(case: Case, batch_size: int, data: MNISTData, threads: int) -> Callable[[str], dict]:
    """ab(commit): a few training steps of each revision's own train() on the same data,
    timed alternately (compare_training: a failing row is timed a second time)."""

    def ab(commit: str) -> dict[str, Any]:
        from ..ab.compare import compare_training

        base, head = _sides(commit)
        timed = settings(threads)
        results = compare_training(
            base, head, [_text(case)], timed, lambda _res: data, batch_size=batch_size
        )
        return _one(results, commit, _text(case))

    return _guarded(ab)
