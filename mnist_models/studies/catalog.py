"""The studies this tool generalises, as data: which runs each one makes (model id,
resolution, batch size), grouped into series for the plots. The grids' values (widths, depths,
batch sizes, resolutions, activations) are zoo/factors.py's, shared with the benchmark grid."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..zoo.factors import ACTIVATIONS, BATCH_SIZES, DEPTHS, SIZES, WIDTHS


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
