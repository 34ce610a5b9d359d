"""The one gate engine: a metric's rule, the baseline's entry, the new run's entry and both
machines in; one `GateRecord` (verdict, rule applied, note) out.

Every consumer calls it: the pytest plugin for each test as it finishes, `report` and the
pull-request summary for two saved runs, `history` for its points. Whatever a rule depends on
(both machines' info, both entries' key facts such as the instruction key or the thread
count) is passed in whole, never read from a recorder half-way through a test. No torch, no
pytest.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .. import fields
from ..errors import ConfigError
from ..machine import machine_kind
from ..verdicts import Verdict
from . import keys, timed_ab
from .attribution import explain, heading
from .record import GateRecord, Machines, lane_of
from .rules import Metric, gated_metrics

# --- where a baseline's figure says something about a new one ----------------------------------


def kind_difference(machines: Machines) -> str:
    """Why two runs' times are not comparable ("" where they are): the machine kinds differ,
    or one run's machine info was never gathered."""
    then, now = machines
    if not then or not now:
        which = "the baseline's" if not then else "this run's"
        return f"{which} machine info was never gathered"
    kind_then, kind_now = machine_kind(then), machine_kind(now)
    diff = [
        f"{k} {kind_then[k]!r} vs {kind_now[k]!r}" for k in kind_now if kind_then[k] != kind_now[k]
    ]
    return "another kind of machine: " + "; ".join(diff) if diff else ""


def key_fields(key: object) -> dict[str, str]:
    """An instruction key as fields: stored compact ("torch=2.14.1 python=3.11 ...") or whole."""
    if isinstance(key, dict):
        return {str(k): str(v) for k, v in key.items()}
    if not isinstance(key, str):
        return {}
    return dict(part.partition("=")[::2] for part in key.split())


# Recorded in the instruction key, but not a reason to refuse a count: under the worker's ISA
# pins the gate tier's 155 counts of an AMD EPYC and an Intel Xeon agreed within 0.59% at
# batch 1, 0.22% batched and 0.024% per training step, inside the lane's bands
# (docs/deterministic-gates.md, "Across machines").
UNDER_THE_PINS = ("cpu_vendor",)

# What a version change may be, for the cross-environment rules: the packages whose build the
# figures depend on. Another Python, ISA path, CPU vendor or valgrind is not a version change.
VERSIONED = keys.VERSIONED


def key_difference(old: object, new: object) -> dict[str, tuple[str, str]] | None:
    """The fields two instruction keys differ in, as (then, now), the CPU vendor aside
    (UNDER_THE_PINS); None where either key cannot be read as fields."""
    a, b = key_fields(old), key_fields(new)
    if not a or not b:
        return None
    return {
        k: (a.get(k), b.get(k))
        for k in dict.fromkeys([*a, *b])
        if a.get(k) != b.get(k) and k not in UNDER_THE_PINS
    }


# A stored count that left out another set of calls than this version's (instruction key
# `left_out`; the counts before it left nothing out) is a count made another way, not a
# regression: what to do about it, added to the row's reason; the summary names the command.
LEFT_OUT_FIELD = "left_out"
COUNTED_OTHERWISE = "the baseline counted another way (an older mnist-bench): record it again once"


# The notes of the rows a version change moved to another rule (the gate summary counts them)
BAND_NOTE = "cross-environment band"
REPEATED_NOTE = "training repeated bit for bit: exact"
NOT_REPEATED_NOTE = "training did not repeat bit for bit: tolerance"
# extra_info field: why this entry's exact figures cannot repeat (two runs of unchanged code
# differed), set by Gate.record(..., repeat=...); such a figure gets its tolerance instead
NOT_REPEATABLE = fields.NOT_REPEATABLE


def _version_text(changes: dict[str, tuple[object, object]]) -> str:
    return ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changes.items())


def environment_change(machines: Machines) -> str:
    """The package versions that differ between the baseline's run and this one
    ("torch 2.14.1+cu130 -> 2.13.0+cu130"); "" where they match or were never recorded."""
    then, now = machines
    changes = {
        k: (then.get(k), now.get(k))
        for k in VERSIONED
        if then.get(k) and now.get(k) and then.get(k) != now.get(k)
    }
    return _version_text(changes)


def _fact_text(diff: dict[str, tuple[object, object]]) -> str:
    return "; ".join(f"{k} {a} vs {b} here" for k, (a, b) in diff.items())


def version_change(
    key: str | None, machines: Machines, entries: tuple[dict[str, Any], dict[str, Any]]
) -> str:
    """Where the only facts of `key` that differ are package versions (VERSIONED): the
    change, as text; "" otherwise (the same key, or something else differs as well)."""
    then, now = entries
    if key == keys.INSTRUCTIONS:
        diff = key_difference(then.get(fields.INSTRUCTION_KEY), now.get(fields.INSTRUCTION_KEY))
    elif key in keys.KEYS:
        diff = keys.difference(key, machines, entries)
    else:
        return ""
    if not diff or set(diff) - set(VERSIONED):
        return ""
    return _version_text(diff)


def key_mismatch(
    key: str | None, machines: Machines, entries: tuple[dict[str, Any], dict[str, Any]]
) -> str:
    """Why a figure recorded under (machine_info, extra_info) says nothing about one measured
    under the second pair, for a metric of this determinism key (keys.py); "" where it does."""
    if key is None:
        return ""
    then, now = entries
    if key == keys.INSTRUCTIONS:
        old, new = then.get(fields.INSTRUCTION_KEY), now.get(fields.INSTRUCTION_KEY)
        if old == new:
            return ""
        diff = key_difference(old, new)
        if diff is None:
            return f"instruction key {old or 'none'} vs {new} here"
        parts = [f"{k} {a} vs {b}" for k, (a, b) in diff.items()]
        again = f"; {COUNTED_OTHERWISE}" if LEFT_OUT_FIELD in diff else ""
        return f"instruction key: {'; '.join(parts)} here{again}" if parts else ""
    if key == keys.MACHINE:
        return kind_difference(machines)
    diff = keys.difference(key, machines, entries)
    return f"{key} key: {_fact_text(diff)}" if diff else ""


def repeated_exactly(then: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether every figure the entry declares exact within its environment (a seeded
    training's accuracy and final loss) came out identical to the bit: the training repeated,
    so across a version change those figures stay exact."""
    rules = {**gated_metrics(then), **gated_metrics(now)}
    names = [m.name for m in rules.values() if m.exact_key is not None]
    return bool(names) and all(then.get(n) is not None and then.get(n) == now.get(n) for n in names)


# --- the evaluator -----------------------------------------------------------------------------


def evaluate(
    metric: Metric,
    nodeid: str,
    then: dict[str, Any] | None,
    now: dict[str, Any] | None,
    machines: Machines,
    *,
    time_tolerance: float | None = None,
    lane: str = "",
) -> GateRecord:
    """Judge one metric: `then` is the baseline entry's extra_info (None: no baseline entry),
    `now` the new entry's (None: the run lacks the benchmark). The rule is `metric` as declared;
    `time_tolerance` overrides the tolerance of timed metrics (`--gate-time-tolerance`).

    Declared bounds hold with or without a baseline; a baseline's figure applies only within
    the metric's determinism key (another machine kind's time says nothing here: `not applied`,
    with the reason); under `exact_key` the figure must repeat exactly. A failing row carries what
    moved inside the figure, where both entries store a breakdown of it (attribution.py).
    """
    row = _judge(metric, nodeid, then, now, machines, time_tolerance, lane)
    if row.failed:
        why = explain(metric.name, then, now)
        if why:
            row = replace(row, why=(heading(metric.name, now), *why))
        if row.metric.exact_key is not None and row.metric == metric.as_exact():
            row = replace(row, why=(*row.why, *exact_context(row, then or {}, now or {})))
    return row


def exact_context(row: GateRecord, then: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What else a failing exact figure of a seeded run knows: which way it moved (an
    improvement fails an exact gate too), whether training again repeated it, and the run's
    other exact figures (the loss unchanged while accuracy moved: only eval-time state did)."""
    name, value, base = row.metric.name, row.now, row.baseline
    if value is None or base is None:
        return []
    better = value > base if row.metric.direction == "higher" else value < base
    lines = [
        f"{row.nodeid.split('::')[-1]} {name}: "
        + ("better than the baseline: an intended improvement is accepted, not waved through"
           if better else "worse than the baseline")
    ]  # fmt: skip
    again = now.get(f"{name}_repeated")
    if again is not None:
        lines.append(
            f"trained again to confirm: {name} {row.metric.format(again)}"
            + (" (the same: the change is real)" if again == value else " (another value)")
        )
    for other, rule in gated_metrics(now).items():
        if other != name and rule.exact_key and other in then:
            moved = then[other] != now.get(other)
            lines.append(
                f"the same run's {other}: "
                + (f"{rule.format(then[other])} -> {rule.format(now.get(other))}" if moved
                   else f"unchanged ({rule.format(then[other])})")
            )  # fmt: skip
    return lines


def _judge(metric: Metric, nodeid: str, then: dict[str, Any] | None,
           now: dict[str, Any] | None, machines: Machines, time_tolerance: float | None,
           lane: str) -> GateRecord:  # fmt: skip
    """evaluate's verdict, limit and note."""
    if metric.timed and time_tolerance is not None:
        metric = replace(metric, rel_tol=time_tolerance)
    then, now = then or {}, now or {}
    value, base = now.get(metric.name), then.get(metric.name) if metric.uses_baseline else None

    def row(
        verdict: Verdict, note: str = "", rule: Metric = metric, across: str = ""
    ) -> GateRecord:
        return GateRecord(nodeid, rule, value, base, verdict, note, lane, across)

    if value is None:
        return row(Verdict.MISSING, "the baseline gates it; this run did not record it")
    if not metric.uses_baseline:  # a budget: its ceiling, whatever the baseline recorded
        held = Verdict.SAME if then.get(metric.name) == value else Verdict.OK
        return row(held if metric.passes(value, None) else Verdict.FAIL, "budget")
    if base is None:
        return row(Verdict.NEW if metric.passes(value, None) else Verdict.FAIL)
    reason = key_mismatch(metric.key, machines, (then, now))
    if reason:
        change = version_change(metric.key, machines, (then, now))
        if change and metric.across_versions is not None:  # a declared cross-version band
            rule = replace(metric, rel_tol=metric.across_versions)
            note = f"{change}: {BAND_NOTE}"
            return row(_verdict(rule, base, value), note, rule, change)
        if change and metric.exact_key is not None and repeated_exactly(then, now):
            return row(
                _verdict(metric.as_exact(), base, value),
                f"{change}: {REPEATED_NOTE}",
                metric.as_exact(),
                change,
            )
        # the bound still holds; the baseline's figure says nothing here
        verdict = Verdict.NOT_APPLIED if metric.passes(value, None) else Verdict.FAIL
        return row(verdict, reason, metric, change)
    rule, note, change = metric, "", ""
    if metric.exact_key is not None:
        other = key_mismatch(metric.exact_key, machines, (then, now))
        change = version_change(metric.exact_key, machines, (then, now)) if other else ""
        if not other and now.get(NOT_REPEATABLE):
            why = f"not repeatable: {now[NOT_REPEATABLE]}"
            if metric.key == metric.exact_key:  # a figure that means something only exact
                verdict = Verdict.NOT_APPLIED if metric.passes(value, None) else Verdict.FAIL
                return row(verdict, why)
            note = f"{why}; tolerance"
        elif not other:
            rule, note = metric.as_exact(), "same environment: exact"
        elif change and repeated_exactly(then, now):
            rule, note = metric.as_exact(), f"{change}: {REPEATED_NOTE}"
        elif change:
            note = f"{change}: {NOT_REPEATED_NOTE}"
        else:
            note = f"tolerance: {other}"
    return row(_verdict(rule, base, value), note, rule, change)


def _verdict(rule: Metric, baseline: float, now: float) -> Verdict:
    if not rule.passes(now, baseline):
        return Verdict.FAIL
    if now == baseline:
        return Verdict.SAME
    better = now > baseline if rule.direction == "higher" else now < baseline
    return Verdict.BETTER if better else Verdict.WORSE_ALLOWED


def judge_entry(
    nodeid: str,
    then: dict[str, Any] | None,
    now: dict[str, Any] | None,
    machines: Machines,
    *,
    lane: str = "",
) -> list[GateRecord]:
    """Every gated metric of one benchmark in two saved runs: those the baseline entry gates,
    judged by the baseline's rule as it was recorded (a run that drops or loosens a gate does
    not switch it off), and those only the new run declares, by its own."""
    rules = {**gated_metrics(now or {}), **gated_metrics(then or {})}
    rows = [evaluate(metric, nodeid, then, now, machines, lane=lane) for metric in rules.values()]
    return [_with_stored_ab(row, now or {}) for row in rows]


def _with_stored_ab(row: GateRecord, now: dict[str, Any]) -> GateRecord:
    """A timed row the baseline cannot judge, where the new run timed it A/B against its base
    revision (stored beside the figure as `<metric>_ab`): judged as the gate judged it."""
    stored = now.get(timed_ab.stored_key(row.metric.name))
    if not row.metric.timed or row.verdict != Verdict.NOT_APPLIED or not isinstance(stored, dict):
        return row
    try:
        return timed_ab.ab_record(row.nodeid, row.metric, stored, stored["revision"], row.lane)
    except (AttributeError, KeyError, TypeError, ValueError):  # hand-edited: the row as it was
        return row


def compare_runs(
    base: dict[str, Any], new: dict[str, Any]
) -> tuple[list[GateRecord], dict[str, Any]]:
    """Two saved runs (validated) judged benchmark by benchmark. A gated benchmark of the
    baseline that the new run lacks is MISSING where the new run selected it (the plugin
    records its selection in the run's `mnist_bench` block); otherwise it is listed as only in
    the baseline. A ConfigError when nothing could be compared (runs of different suites)."""
    machines = ((base.get("machine_info") or {}), (new.get("machine_info") or {}))
    old = {b["fullname"]: b for b in base["benchmarks"]}
    fresh = {b["fullname"]: b for b in new["benchmarks"]}
    recorded = (new.get("mnist_bench") or {}).get("selected")
    selected = set(recorded) if isinstance(recorded, list) else set()
    rows: list[GateRecord] = []
    for name, bench in fresh.items():
        before = old.get(name)
        if before is None:
            continue
        rows += judge_entry(
            name,
            before.get("extra_info") or {},
            bench.get("extra_info") or {},
            machines,
            lane=lane_of(name, bench.get("group")),
        )
    vanished = sorted(set(old) - set(fresh))
    for name in vanished:
        extra = old[name].get("extra_info") or {}
        if name in selected and gated_metrics(extra):
            rows += judge_entry(
                name, extra, None, machines, lane=lane_of(name, old[name].get("group"))
            )
    info = {
        "same_machine": not kind_difference(machines),
        "only_in_baseline": [n for n in vanished if n not in selected],
        "only_in_new": sorted(set(fresh) - set(old)),
    }
    if not rows:
        raise ConfigError(
            "nothing to compare: no gated metric of the baseline is in the new run "
            f"({len(info['only_in_new'])} benchmarks only in the new run, "
            f"{len(info['only_in_baseline'])} only in the baseline); compare runs of the same suite"
        )
    return rows, info
