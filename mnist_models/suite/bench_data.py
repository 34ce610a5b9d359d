"""The data pipeline at every resolution of the grid: what `load_mnist` hands the trainer,
gated exactly. A change to a transform (resize without antialiasing, another crop or pad), to
the normalisation or to the seeded split changes the digest of the tensors; their statistics
and split sizes say how far it moved, and are compared on any machine.

The digest is exact under the `build` key (docs/determinism-keys.md). About a second per
resolution (one transform of 70,000 images and one SHA-256 over its tensors), so it runs in the
gate tier: the package's grid, or only the declared resolutions of a project with zoo = false.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .. import fields
from ..gates.rules import exact, lower
from ..measure.data import fingerprint, load_mnist
from ..zoo.factors import RESOLUTIONS
from ..zoo.grid_config import grid_config

pytestmark = [
    pytest.mark.not_a_timing("a digest of the loaded tensors"),
    pytest.mark.data,
    pytest.mark.gate,
    pytest.mark.full,
]

DATA_RESOLUTIONS = (*RESOLUTIONS, "pad:32")  # the grid's, and LeNet-5's 32x32 form


def _resolutions() -> tuple[str, ...]:
    project = grid_config()
    return DATA_RESOLUTIONS if project.zoo else project.resolutions


# the same bytes across CPU models, thread counts and ISA levels (docs/determinism-keys.md)
DIGEST = exact(fields.DATA_DIGEST, key="build")
# normalised images: mean near 0 and std near 1, so an absolute tolerance; another CPU's
# rounding moves them by far less than 1e-6
MEAN = lower(fields.DATA_TRAIN_MEAN, abs_tol=1e-6, two_sided=True)
STD = lower(fields.DATA_TRAIN_STD, abs_tol=1e-6, two_sided=True)
TRAIN_IMAGES = exact(fields.DATA_TRAIN_IMAGES)
VAL_IMAGES = exact(fields.DATA_VAL_IMAGES)


@pytest.mark.benchmark(group="data")
@pytest.mark.parametrize("resolution", _resolutions())
def test_data_pipeline(resolution: str, benchmark, gate, mnist_root: Path) -> None:
    data = load_mnist(resolution, root=mnist_root, seed=0)
    found = benchmark.pedantic(fingerprint, args=(data,), rounds=1, iterations=1)
    benchmark.extra_info.update(
        {fields.RESOLUTION: data.resolution.id, fields.TEST_IMAGES: found.sizes[2]}
    )
    gate.record(DIGEST, found.digest)
    gate.record(MEAN, found.train_mean)
    gate.record(STD, found.train_std)
    gate.record(TRAIN_IMAGES, found.sizes[0])
    gate.record(VAL_IMAGES, found.sizes[1])
