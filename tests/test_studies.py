"""Studies: definitions, the row cache (resume, corruption), aggregation, and the files written.

Training is replaced by a fake `measure` that returns a RunRecord as measure_run does, so these
tests check the bookkeeping in milliseconds; tests/test_accuracy.py and the benchmark suite
train for real.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from fakes import run_row

from mnist_models import get_config
from mnist_models.errors import ConfigError
from mnist_models.measure.record import RunRecord
from mnist_models.reporting.outputs import write_outputs
from mnist_models.reporting.plots import pareto_front
from mnist_models.reporting.tables import study_table, summarise
from mnist_models.studies.catalog import get_study, list_studies
from mnist_models.studies.run_store import _cache_file
from mnist_models.studies.runner import planned, run_study
from mnist_models.studies.settings import StudySettings

STUDIES = [
    "width",
    "depth",
    "batch-size",
    "resolution",
    "combined",
    "cnn-feature-maps",
    "cnn-depth",
    "activation",
    "mlp-vs-lenet",
]


def fake_measure(calls: list[str]):
    """A measure_run stand-in: figures that depend on the config and seed, and a call log."""

    def measure(
        model_id, resolution, train_config, *, val_fraction, data_root, device="cpu", mode="eager"
    ):
        config, res = get_config(model_id, resolution)
        calls.append(f"{config.id}@{res.id} bs{train_config.batch_size} s{train_config.seed}")
        acc = 0.9 + 0.001 * (config.params % 50) + 0.002 * train_config.seed
        latency = 10 + 1e-4 * config.macs
        return RunRecord.from_dict(
            run_row(
                model=config.id,
                resolution=res.id,
                run_id=f"{config.id}@{res.id}",
                params=config.params,
                macs=config.macs,
                flops=2 * config.macs,
                size_bytes=4 * config.params + 1000,
                size_with_adam_bytes=12 * config.params + 3000,
                epochs=train_config.epochs,
                batch_size=train_config.batch_size,
                seed=train_config.seed,
                lr=train_config.lr,
                val_fraction=val_fraction,
                threads=2,
                accuracy=acc,
                train_seconds=1e-6 * config.macs * train_config.epochs + train_config.seed,
                epoch_seconds=1e-6 * config.macs + train_config.seed / train_config.epochs,
                history=[
                    {"epoch": e, "val_accuracy": acc - 0.01 * (train_config.epochs - e)}
                    for e in range(1, train_config.epochs + 1)
                ],
                latency_us_p50=latency,
                latency_us_p90=1.1 * latency,
                latency_us_p99=1.2 * latency,
                latency_batched={"per_sample_us": latency / 10},
                train_co2_g=1e-4 * config.macs,
                version="test",
            )
        )

    return measure


def run_fake(study, tmp_path: Path, settings: StudySettings | None = None, calls=None, **kw):
    """run_study without a progress bar, training replaced by fake_measure (calls logged)."""
    kw.setdefault("measure", fake_measure([] if calls is None else calls))
    return run_study(study, settings or StudySettings(), tmp_path / "cache", progress=False, **kw)


def test_every_study_is_defined_with_valid_ids() -> None:
    assert list_studies() == STUDIES
    for name in STUDIES:
        study = get_study(name)
        assert study.runs, name
        for run in study.runs:  # every id parses and fits its resolution
            get_config(run.model, run.resolution)
        keys = [k for _, _, k in planned(study, StudySettings())]
        assert len(keys) == len(set(keys)), f"{name} has duplicate runs"


def test_study_grids_match_the_studies() -> None:
    assert [r.model for r in get_study("width").runs] == [
        f"mlp-{w}" for w in (32, 64, 128, 256, 512, 1024, 2048, 4096)
    ]
    assert len(get_study("depth").runs) == 12 and get_study("depth").runs[-1].model == "mlp-1024x16"
    assert {r.batch_size for r in get_study("batch-size").runs} == {1, 16, 32, 64, 128}
    assert len(get_study("combined").runs) == 12
    assert len(get_study("cnn-feature-maps").runs) == 9


def test_unknown_study_and_bad_settings_are_clear() -> None:
    with pytest.raises(ConfigError, match="unknown study 'widht'; choose one of: width"):
        get_study("widht")
    with pytest.raises(ConfigError, match="--repeats must be an integer >= 1"):
        StudySettings(repeats=0)


def test_rows_are_cached_and_a_finished_study_recomputes_nothing(tmp_path: Path) -> None:
    calls: list[str] = []
    study = get_study("mlp-vs-lenet")
    rows, computed = run_fake(study, tmp_path, calls=calls)
    assert computed == 3 and len(calls) == 3
    again, computed = run_fake(study, tmp_path, calls=calls)
    assert computed == 0 and len(calls) == 3
    assert again == rows
    # other training settings are other rows
    _, computed = run_fake(study, tmp_path, StudySettings(epochs=3), calls)
    assert computed == 3


def test_studies_share_one_run_store(tmp_path: Path) -> None:
    """A run another study measured is read, not trained again; each study keeps its series."""
    calls: list[str] = []
    width, depth = get_study("width"), get_study("depth")
    run_fake(width, tmp_path, calls=calls)
    shared = {(r.model, r.resolution, r.batch_size) for r in width.runs} & {
        (r.model, r.resolution, r.batch_size) for r in depth.runs
    }
    assert shared, "the width and depth studies share runs (mlp-512, mlp-1024)"
    rows, computed = run_fake(depth, tmp_path, calls=calls)
    assert computed == len(depth.runs) - len(shared)
    assert len(calls) == len(width.runs) + computed
    assert [r.series for r in rows] == [r.series for r in depth.runs]


def test_a_code_change_is_a_new_run_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from mnist_models.studies import run_store as catalog

    run = get_study("width").runs[0]
    before = catalog.run_key(run, StudySettings(), 0)
    assert f"|v{catalog.code_version()}" in before
    monkeypatch.setattr(catalog, "code_version", lambda: "0.1.0+0123456789")
    assert catalog.run_key(run, StudySettings(), 0) != before


def test_interrupted_study_resumes_with_the_remaining_rows(tmp_path: Path) -> None:
    calls: list[str] = []
    measure = fake_measure(calls)

    def interrupted(*args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt
        return measure(*args, **kwargs)

    study = get_study("width")
    with pytest.raises(KeyboardInterrupt):
        run_fake(study, tmp_path, measure=interrupted)
    assert len(calls) == 3
    rows, computed = run_fake(study, tmp_path, measure=measure)
    assert computed == len(study.runs) - 3
    assert calls[3:] == [f"mlp-{w}@28 bs64 s0" for w in (256, 512, 1024, 2048, 4096)]
    assert [r.record.model for r in rows] == [r.model for r in study.runs]


def test_without_a_progress_bar_each_run_logs_one_line(tmp_path: Path) -> None:
    study = get_study("mlp-vs-lenet")
    first: list[str] = []
    run_fake(study, tmp_path, log=first.append)
    assert len(first) == 3
    assert first[0].startswith("study mlp-vs-lenet [1/3] mlp-1024@28 bs64 seed 0: ")
    assert first[0].endswith(" s") and "%" in first[0]
    again: list[str] = []
    run_fake(study, tmp_path, log=again.append)
    assert again == [
        f"study mlp-vs-lenet [{n}/3] {rid} bs64 seed 0: cached"
        for n, rid in enumerate(("mlp-1024@28", "mlp-1024x2@28", "lenet5@28"), start=1)
    ]


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: text.replace('"accuracy": 0.9', '"accuracy": 0.1'),  # edited value
        lambda text: "not json",
    ],
    ids=["truncated", "edited", "garbage"],
)
def test_corrupted_cache_entry_is_detected_and_recomputed(tmp_path: Path, damage) -> None:
    calls: list[str] = []
    study = get_study("mlp-vs-lenet")
    rows, _ = run_fake(study, tmp_path, calls=calls)
    key = rows[0].key
    path = _cache_file(tmp_path / "cache", key)
    text = path.read_text()
    assert damage(text) != text, "the damage must change the file"
    path.write_text(damage(text))
    warnings: list[str] = []
    again, computed = run_fake(study, tmp_path, calls=calls, warn=warnings.append)
    assert computed == 1 and calls[-1] == calls[0]
    assert len(warnings) == 1 and "corrupted cache entry" in warnings[0]
    assert again == rows  # recomputed, never the damaged value


def test_repeats_give_mean_and_std(tmp_path: Path) -> None:
    rows, _ = run_fake(get_study("mlp-vs-lenet"), tmp_path, StudySettings(repeats=3))
    assert len(rows) == 9
    summary = summarise([r.table_row() for r in rows])
    assert [e["n"] for e in summary] == [3, 3, 3]
    accs = [r.record.accuracy for r in rows if r.record.model == "lenet5"]
    entry = next(e for e in summary if e["run_id"] == "lenet5@28")
    assert math.isclose(entry["accuracy"], sum(accs) / 3)
    assert math.isclose(entry["accuracy_std"], 0.002)  # seeds 0, 1, 2 step by 0.002
    table = study_table(summary)
    assert "| lenet5@28 (n=3) |" in table
    assert "accuracy (%)" in table.splitlines()[0] and "± 0.20" in table


def test_outputs_are_complete_and_pngs_are_images(tmp_path: Path) -> None:
    rows, _ = run_fake(get_study("width"), tmp_path, StudySettings(epochs=3))
    files = write_outputs(
        tmp_path, "Width", [r.table_row() for r in rows], command="mnist-models study width"
    )
    assert set(files) == {
        "json",
        "csv",
        "summary",
        "index",
        "accuracy_vs_flops",
        "flops_vs_latency",
        "latency_vs_accuracy",
        "accuracy_per_epoch",
    }
    for kind in ("accuracy_vs_flops", "accuracy_per_epoch"):
        assert files[kind].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_lines = (tmp_path / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 8 and csv_lines[0].startswith("study,run_id,model")
    payload = json.loads((tmp_path / "results.json").read_text())
    assert len(payload["rows"]) == 8 and len(payload["summary"]) == 8
    index = (tmp_path / "index.md").read_text()
    assert "![Latency vs accuracy (Pareto front)](latency_vs_accuracy.png)" in index
    assert "| mlp-4096@28 |" in index
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"


def test_single_epoch_has_no_per_epoch_plot(tmp_path: Path) -> None:
    rows, _ = run_fake(get_study("cnn-depth"), tmp_path, StudySettings(epochs=1))
    files = write_outputs(tmp_path, "Depth", [r.table_row() for r in rows], command="x")
    assert "accuracy_per_epoch" not in files and "latency_vs_accuracy" in files


@pytest.mark.parametrize(
    "points, front",
    [
        ([(1, 90), (2, 95), (3, 94), (4, 99)], [0, 1, 3]),
        ([(5, 99), (1, 90)], [1, 0]),
        ([(1, 90), (1, 92), (2, 91)], [1]),
    ],
)
def test_pareto_front(points: list[tuple[float, float]], front: list[int]) -> None:
    assert pareto_front(points) == front


def test_the_study_command_writes_typed_rows_and_names_its_study(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """results.json holds each run's record as stored plus the study's view; the CSV names the
    study on every line."""
    import csv

    from mnist_models.measure import runs
    from mnist_models.studies.records import StudyRow

    monkeypatch.setattr(runs, "measure_run", fake_measure([]))
    out = tmp_path / "out"
    code, stdout, err = cli("study", "mlp-vs-lenet", "--out", str(out), "--runs", str(tmp_path))
    assert code == 0, err
    assert "3 runs (3 computed, 0 cached)" in stdout
    rows = [StudyRow.from_dict(r) for r in json.loads((out / "results.json").read_text())["rows"]]
    assert [r.series for r in rows] == ["MLP-1", "MLP-2", "LeNet-5"]
    assert all(r.batch1 is not None and r.batch1.rounds == 5 for r in rows)
    assert [r.record.latency_us_p50 for r in rows] == [
        fake_measure([])(
            m, None, runs.TrainConfig(), val_fraction=0.2, data_root=None
        ).latency_us_p50
        for m in ("mlp-1024", "mlp-1024x2", "lenet5")
    ], "each run's own latency is kept as measured"
    with open(out / "results.csv") as fh:
        lines = list(csv.DictReader(fh))
    assert [line["study"] for line in lines] == ["mlp-vs-lenet"] * 3
    assert [float(line["latency_us_p50"]) for line in lines] == [r.batch1.p50_us for r in rows]


def test_a_stored_entry_that_is_not_a_run_record_is_recomputed(tmp_path: Path) -> None:
    from mnist_models.studies.run_store import write_cached

    calls: list[str] = []
    study = get_study("mlp-vs-lenet")
    rows, _ = run_fake(study, tmp_path, calls=calls)
    broken = {k: v for k, v in rows[0].record.to_dict().items() if k != "accuracy"}
    write_cached(tmp_path / "cache", rows[0].key, broken)  # sound checksum, wrong schema
    warnings: list[str] = []
    again, computed = run_fake(study, tmp_path, calls=calls, warn=warnings.append)
    assert computed == 1 and again == rows
    assert len(warnings) == 1 and "is not a run record (a run record needs accuracy)" in warnings[0]


def test_the_study_names_known_without_torch_are_the_studies_built() -> None:
    from mnist_models.studies.catalog import STUDY_NAMES, _studies

    assert list(STUDY_NAMES) == list(_studies())
