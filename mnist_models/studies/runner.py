"""Running a study: each run once per seed, from the run store where it is there, else
trained and measured and stored at once (an interrupted study resumes where it stopped)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..console import say
from ..labels import batch_label
from ..measure.record import RunRecord
from .catalog import Study, StudyRun
from .records import StudyRow
from .run_store import _entry_lock, read_run, run_key, write_cached
from .settings import StudySettings


def planned(study: Study, settings: StudySettings) -> Iterator[tuple[StudyRun, int, str]]:
    for run in study.runs:
        for seed in range(settings.repeats):
            yield run, seed, run_key(run, settings, seed)


def run_study(
    study: Study,
    settings: StudySettings,
    store: Path,
    *,
    data_root: str | None = None,
    progress: bool = True,
    measure: Callable[..., RunRecord] | None = None,
    warn: Callable[[str], None] = say,
    log: Callable[[str], None] | None = None,
) -> tuple[list[StudyRow], int]:
    """(rows in study order, how many were computed now). Runs come from the run store
    (`store`, shared by every study) or are measured and stored at once, so Ctrl-C loses at
    most the run in progress. Without a progress bar (CI logs, files), `log`
    gets one line per run instead, so a long study still shows where it is."""
    from tqdm import tqdm

    from ..measure.runs import measure_run
    from ..measure.train import TrainConfig

    measure = measure or measure_run
    cache = Path(store)
    todo = list(planned(study, settings))
    rows: list[StudyRow] = []
    computed = 0
    bar = tqdm(todo, desc=f"study {study.name}", unit="run", disable=not progress, leave=True)
    for n, (run, seed, key) in enumerate(bar, start=1):
        started = time.perf_counter()
        record, problem = read_run(cache, key)
        outcome = "cached"
        if problem:
            warn(f"mnist-models: corrupted cache entry {problem}; recomputing it")
        lock = _entry_lock(cache, key) if record is None else contextlib.nullcontext()
        with lock:  # closing the lock file releases it, whatever happens in the block
            if record is None:
                # another study on this folder may have computed this run while we waited
                record, _ = read_run(cache, key)
            if record is None:
                bar.set_postfix_str(f"{run.model} {run.resolution or ''} bs{run.batch_size}")
                config = TrainConfig(
                    epochs=settings.epochs,
                    batch_size=run.batch_size,
                    lr=settings.lr,
                    seed=seed,
                    threads=settings.threads,
                )
                record = measure(
                    run.model,
                    run.resolution,
                    config,
                    val_fraction=settings.val_fraction,
                    data_root=data_root,
                    device=settings.device,
                    mode=settings.mode,
                )
                write_cached(cache, key, record.to_dict())
                computed += 1
                outcome = f"{record.accuracy:.2%} in {time.perf_counter() - started:.0f} s"
        if log is not None:
            log(
                f"study {study.name} [{n}/{len(todo)}] "
                f"{batch_label(record.run_id, run.batch_size)} seed {seed}: {outcome}"
            )
        rows.append(StudyRow(record, key=key, series=run.series))  # the series: this study's view
    bar.close()
    return rows, computed
