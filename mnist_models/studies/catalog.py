"""The studies this tool generalises, as data: which runs each one makes, and how to run them.

A study is a list of runs (model id, resolution, batch size) grouped into series for the plots.
`run_study` trains and measures each run once per seed, keeping every finished run's record in
one store under a key made of the run, the training settings and the code version, so an
interrupted study resumes where it stopped and a finished one re-renders without training.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from .. import __version__
from ..console import say
from ..errors import ConfigError
from ..labels import batch_label
from ..measure.record import RunRecord
from ..zoo.factors import ACTIVATIONS, BATCH_SIZES, DEPTHS, SIZES, WIDTHS
from .records import StudyRow


@dataclass(frozen=True)
class StudyRun:
    """One point of a study; `series` names its line and colour in the plots."""

    model: str
    resolution: str | None = None
    batch_size: int = 64
    series: str = ""


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    runs: tuple[StudyRun, ...]


def _studies() -> dict[str, Study]:
    from ..zoo.models.mlp import mlp_id as _mlp

    s = [
        Study(
            "width",
            "MLP width: one hidden layer, 32 to 4096 units",
            tuple(StudyRun(_mlp(w), series="MLP, 1 hidden layer") for w in WIDTHS),
        ),
        Study(
            "depth",
            "MLP depth: 1 to 16 hidden layers of 512 and 1024 units",
            tuple(StudyRun(_mlp(w, d), series=f"width {w}") for w in (512, 1024) for d in DEPTHS),
        ),
        Study(
            "batch-size",
            "Batch size: mlp-1024 and mlp-1024x2 trained at batch 1 to 128",
            tuple(
                StudyRun(m, batch_size=bs, series=m)
                for m in ("mlp-1024", "mlp-1024x2")
                for bs in BATCH_SIZES
            ),
        ),
        Study(
            "resolution",
            "Input resolution: resize vs centre crop to 20, 14, 7 (mlp-1024)",
            (StudyRun("mlp-1024", "28", series="28 (native)"),)
            + tuple(
                StudyRun("mlp-1024", f"{mode}:{n}", series=mode)
                for mode in ("resize", "crop")
                for n in SIZES
            ),
        ),
        Study(
            "combined",
            "Resolution x depth x width (MLP)",
            tuple(
                StudyRun(_mlp(w, d), r, series=r)
                for r in ("28", "resize:14", "crop:14")
                for d in (1, 4)
                for w in (128, 1024)
            ),
        ),
        Study(
            "cnn-feature-maps",
            "CNN feature maps: cnn9 with first-stage 6/16/32 and later-stage 16/20/32 maps",
            tuple(
                StudyRun(f"cnn9-{first}-{later}", series=f"first stage {first}")
                for first in (6, 16, 32)
                for later in (16, 20, 32)
            ),
        ),
        Study(
            "cnn-depth",
            "CNN depth: cnn7, cnn9, cnn11, cnn13 (2 to 5 conv+pool stages)",
            tuple(StudyRun(f"cnn{n}", series="CNN") for n in (7, 9, 11, 13)),
        ),
        Study(
            "activation",
            "Activation: relu, tanh, sigmoid on LeNet-5 and the CNNs",
            tuple(
                StudyRun(f"{net}:{act}", series=net)
                for net in ("lenet5", "cnn7", "cnn9")
                for act in ACTIVATIONS
            ),
        ),
        Study(
            "mlp-vs-lenet",
            "MLP-1, MLP-2 and LeNet-5 side by side",
            (
                StudyRun("mlp-1024", series="MLP-1"),
                StudyRun("mlp-1024x2", series="MLP-2"),
                StudyRun("lenet5", series="LeNet-5"),
            ),
        ),
    ]
    return {study.name: study for study in s}


# The study names, known without building a study (a parser's choices, `--help`): building one
# imports the zoo, and so torch. tests/test_studies.py checks the two agree.
STUDY_NAMES = (
    "width", "depth", "batch-size", "resolution", "combined", "cnn-feature-maps", "cnn-depth",
    "activation", "mlp-vs-lenet",
)  # fmt: skip


def list_studies() -> list[str]:
    return list(STUDY_NAMES)


def get_study(name: str) -> Study:
    studies = _studies()
    if name not in studies:
        raise ConfigError(f"unknown study {name!r}; choose one of: {', '.join(studies)}")
    return studies[name]


# --- settings, keys and the cache ---------------------------------------------------------------


@dataclass(frozen=True)
class StudySettings:
    """What every run of a study shares; part of each row's cache key."""

    epochs: int = 2
    repeats: int = 1
    lr: float = 1e-3
    threads: int | None = None
    val_fraction: float = 0.2
    device: str = "cpu"  # cpu or cuda: where every run trains and is timed
    mode: str = "eager"  # how the timed forward passes run (device.MODES)

    def __post_init__(self) -> None:
        for name in ("epochs", "repeats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"--{name} must be an integer >= 1, got {value!r}")
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"--device must be cpu or cuda, got {self.device!r}")


# The one store of finished runs that every study reads: a run measured for one study (mlp-1024
# at batch 64 is in six) is not trained again for the next.
ENV_RUNS = "MNIST_BENCH_RUNS"


def default_store() -> Path:
    """$MNIST_BENCH_RUNS, else runs/ in the user cache beside the data (~/.cache/mnist-bench)."""
    import os

    if env := os.environ.get(ENV_RUNS):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "mnist-bench" / "runs"


@lru_cache(maxsize=1)
def code_version() -> str:
    """The package version and a digest of the code a run's figures come from (the zoo and
    measure subpackages): change the trainer or a model and no earlier row is reused."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted([*root.glob("zoo/**/*.py"), *root.glob("measure/**/*.py")]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:10]}"


def run_key(run: StudyRun, settings: StudySettings, seed: int) -> str:
    """Readable, unique name of a finished row: run id, batch size, training settings, threads,
    split, device and mode where not cpu/eager, code version."""
    from ..measure.device import where_parts
    from ..zoo.registry import get_config, run_id

    rid = run_id(*get_config(run.model, run.resolution))
    threads = settings.threads or "default"
    where = "".join(f"|{part}" for part in where_parts(settings.device, settings.mode))
    return (
        f"{rid}|bs{run.batch_size}|e{settings.epochs}|seed{seed}|lr{settings.lr:g}"
        f"|t{threads}|val{settings.val_fraction:g}{where}|v{code_version()}"
    )


def _cache_file(cache: Path, key: str) -> Path:
    readable = re.sub(r"[^A-Za-z0-9.+-]+", "_", key.split("|v")[0])[:80]
    return cache / f"{readable}-{hashlib.sha256(key.encode()).hexdigest()[:10]}.json"


def _digest(row: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()


def read_cached(cache: Path, key: str) -> tuple[dict[str, Any] | None, str | None]:
    """(row, None) for a sound entry; (None, reason) for a corrupted one; (None, None) if absent."""
    path = _cache_file(cache, key)
    if not path.exists():
        return None, None
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        row = entry["row"]
        if entry["key"] != key:
            return None, f"{path.name} holds {entry['key']!r}, not {key!r}"
        if entry["sha256"] != _digest(row):
            return None, f"{path.name} does not match its checksum"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return None, f"{path.name} cannot be read ({type(err).__name__}: {err})"
    return row, None


def _entry_lock(cache: Path, key: str) -> IO[bytes]:
    """An exclusive lock on one cache entry, held while its run is computed (released when the
    returned file is closed, or the process ends): two studies on one folder share the work."""
    import fcntl

    cache.mkdir(parents=True, exist_ok=True)
    path = _cache_file(cache, key)
    handle = open(path.with_name(f".{path.stem}.lock"), "ab")  # noqa: SIM115 - closed by caller
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def write_cached(cache: Path, key: str, row: dict[str, Any]) -> None:
    from ..atomic import write_text_atomic

    cache.mkdir(parents=True, exist_ok=True)
    entry = {"key": key, "sha256": _digest(row), "row": row}
    write_text_atomic(_cache_file(cache, key), json.dumps(entry, indent=1) + "\n")


def planned(study: Study, settings: StudySettings) -> Iterator[tuple[StudyRun, int, str]]:
    for run in study.runs:
        for seed in range(settings.repeats):
            yield run, seed, run_key(run, settings, seed)


def read_run(cache: Path, key: str) -> tuple[RunRecord | None, str | None]:
    """A stored run as its record: (record, None); (None, reason) for an entry that is damaged or
    is not a run record; (None, None) if absent."""
    row, problem = read_cached(cache, key)
    if row is None:
        return None, problem
    try:
        return RunRecord.from_dict(row), None
    except (ValueError, TypeError) as err:
        return None, f"{_cache_file(cache, key).name} is not a run record ({err})"


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
