"""Fuzzing the saved-run loader and `report`: random and mutated baseline / run JSON never gives a
traceback, and never a silent pass (a gated figure that changed, vanished or went bad fails)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_models import fields
from mnist_models.cli import main
from mnist_models.gates.engine import compare_runs
from mnist_models.gates.schema import SchemaError, validate_run
from mnist_models.reporting.run_rows import rows_from_run

BASELINE = (
    Path(__file__).parents[1] / "benchmarks/baselines/Linux-CPython-3.11-64bit/0001_baseline.json"
)
# reused across examples: each example writes its own files under a fresh name
FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
)
# the keys the loaders read (a run's, an entry's, a gate declaration's) beside arbitrary ones, so
# that generated documents reach past the top-level checks
KEYS = st.sampled_from(
    ["benchmarks", "machine_info", "fullname", "stats", "extra_info", "group", "name", "direction",
     "rel_tol", "bound", "scope", "median", "mnist_bench", "format",
     *sorted(str(f) for f in fields.ALL)]  # every declared field (mnist_models/fields.py)
) | st.text(max_size=6)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


def _small_run() -> dict[str, Any]:
    """A few real entries of the committed baseline: counts, latency, training, instructions."""
    data = json.loads(BASELINE.read_text())
    wanted = (
        "test_counts[mlp-32@28]",
        "test_counts[lenet5@28]",
        "test_latency[mlp-32@28-bs1]",
        "test_training[mlp-128@28-bs64-e2]",
    )
    benches = [b for b in data["benchmarks"] if any(w in b["fullname"] for w in wanted)]
    assert len(benches) == len(wanted)
    return {"machine_info": data["machine_info"], "benchmarks": benches}


SMALL = _small_run()


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indices) into a JSON value."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(value: Any, path: tuple, new: Any, delete: bool) -> Any:
    if not path:
        return new
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return value


def _report(tmp_path: Path, run: Any, base: Any, tag: str) -> tuple[int, str, str]:
    new_path, base_path = tmp_path / f"new-{tag}.json", tmp_path / f"base-{tag}.json"
    new_path.write_text(json.dumps(run))  # NaN/Infinity written as such: the loader refuses them
    base_path.write_text(json.dumps(base))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["report", str(new_path), "--against", str(base_path)])
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


@FUZZ
@given(json_values)
def test_any_json_is_validated_or_refused_by_name(data: Any) -> None:
    try:
        validate_run(data, "fuzz.json")
    except SchemaError as err:
        assert str(err).startswith("fuzz.json")
        return
    rows_from_run(data)  # a run the validator lets through must be usable
    compare_runs(data, data) if _has_gates(data) else None


def _has_gates(data: dict) -> bool:
    return any((b.get("extra_info") or {}).get("gates") for b in data["benchmarks"])


@FUZZ
@given(st.data())
def test_mutated_runs_give_a_verdict_or_a_one_line_error(
    tmp_path: Path, data: st.DataObject
) -> None:
    base, run = copy.deepcopy(SMALL), copy.deepcopy(SMALL)
    target = data.draw(st.sampled_from(["new", "base"]))
    doc = run if target == "new" else base
    path = data.draw(st.sampled_from(_paths(doc)))
    delete = bool(path) and data.draw(st.booleans())
    mutated = _replace(doc, path, data.draw(json_values), delete)
    if target == "new":
        run = mutated
    else:
        base = mutated
    code, out, err = _report(tmp_path, run, base, "m")
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in out + err
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("mnist-models: error:"), err


@FUZZ
@given(
    st.sampled_from(["params", "macs", "flops", "size_bytes"]),
    st.sampled_from([0, 1]),
    json_values | st.just("<delete>") | st.just("<drop gates>"),
)
def test_a_changed_gated_count_never_passes(
    tmp_path: Path, metric: str, which: int, value: Any
) -> None:
    base, run = copy.deepcopy(SMALL), copy.deepcopy(SMALL)
    extra = run["benchmarks"][which]["extra_info"]
    before = extra[metric]
    if value == "<delete>":
        del extra[metric]
        extra["gates"].pop(metric)
    elif value == "<drop gates>":
        extra.pop("gates")
        extra[metric] = before + 1  # a regression, with its gate gone from the new run
    else:
        extra[metric] = value
    code, _, err = _report(tmp_path, run, base, "c")
    same = (
        value not in ("<delete>", "<drop gates>")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and value == before
    )
    if same:
        assert code == 0, err
    else:
        assert code in (1, 2), f"{metric}={value!r} passed"


def test_the_committed_baseline_is_valid() -> None:
    validate_run(json.loads(BASELINE.read_text()), str(BASELINE))


@pytest.mark.parametrize("mutation", ["null", "string", "nan"])
def test_a_bad_gated_value_in_the_baseline_is_refused(tmp_path: Path, mutation: str) -> None:
    base = copy.deepcopy(SMALL)
    value = {"null": None, "string": "44426", "nan": float("nan")}[mutation]
    base["benchmarks"][1]["extra_info"]["params"] = value
    code, _, err = _report(tmp_path, SMALL, base, mutation)
    assert code == 2 and ("params" in err if mutation != "nan" else "NaN is not a number" in err)
