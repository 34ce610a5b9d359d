"""Instruction counts of two environments: the same cases counted under valgrind in each, judged
by the instruction lane's own rules (`compare --env --instructions`)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import fields
from ..errors import ConfigError
from .environments import Environment


def count_environments(
    baseline: Environment,
    candidate: Environment,
    models: Sequence[str],
    batch_sizes: Sequence[int],
    *,
    training: bool = True,
    data_root: str | None = None,
) -> list[Any]:
    """Count the cases of `models` under valgrind in each environment (one worker each, one
    after the other) and judge every count by the instruction lane's rule through the one
    engine: the same key, the lane's band; only torch differing, the declared
    cross-environment band; anything else differing, `not applied` with the reason."""
    from ..gates.engine import evaluate
    from ..measure.instruction_rules import cases_for, instruction_rule
    from ..measure.instructions import CallgrindRun, prepare_training_data

    cases = cases_for(list(models), list(batch_sizes), training=training)
    workdir = Path(tempfile.mkdtemp(prefix="mnist-count-"))
    try:
        counted = []
        for i, env in enumerate((baseline, candidate)):
            where = workdir / f"side{i}"
            where.mkdir()
            prepared = prepare_training_data(cases, where, root=data_root)
            run = CallgrindRun(prepared, where, python=env.python, source=env.source).start()
            try:  # each count with its breakdown, read before the dumps are removed
                counted.append({k: (c, c.attribution()) for k, c in run.counts().items()})
            except Exception as err:
                raise ConfigError(f"counting instructions in {env.name} failed: {err}") from None
            finally:
                run.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    then, now = counted
    machines = tuple(
        {"torch": env.info.get("torch"), "torchvision": env.info.get("torchvision")}
        for env in (baseline, candidate)
    )
    rows = []
    for case in cases:
        # one-sided here: an upgrade that does less work is `better`, not a stale figure
        rule = replace(instruction_rule(case.kind, case.batch_size), two_sided=False)
        entries = [
            {fields.INSTRUCTIONS: c.per_call, "instruction_key": c.key, fields.GATES: {}}
            | ({fields.ATTRIBUTION: {fields.INSTRUCTIONS: why}} if why else {})
            for c, why in (then[case.key], now[case.key])
        ]
        rows.append(evaluate(rule, case.key, entries[0], entries[1], machines, lane="instructions"))
    return rows


def render_counts(rows: Sequence[Any]) -> str:
    """The instruction table of `compare --env --instructions`, and how many left their band."""
    from ..table import text_table

    failed = [r.nodeid for r in rows if r.failed]
    lines = ["instructions per call (per step for training), baseline environment -> this one:"]
    header = ["case", "metric", "baseline", "now", "change", "allowed", "verdict"]
    body = [[r.nodeid, *r.cells(), str(r.verdict)] for r in rows]
    lines += text_table(header, body, align="llrrrll")
    for row in rows:  # what moved inside each count outside its band
        if row.why:
            lines += [f"{row.nodeid}: {row.why[0]}", *(f"  {line}" for line in row.why[1:])]
    lines.append(
        f"{len(failed)} of {len(rows)} counts outside their band"
        + (f": {', '.join(failed)}" if failed else "")
    )
    return "\n".join(lines)
