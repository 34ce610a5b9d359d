"""Input resolution: MNIST's native 28x28, or resized, center-cropped or zero-padded to N x N.

The text form (`28`, `resize:20`, `crop:14`, `pad:32`) is the CLI argument and part of run ids.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

NATIVE = 28
MAX_SIDE = 128
MODES = ("native", "resize", "crop", "pad")


@dataclass(frozen=True)
class Resolution:
    """How 28x28 MNIST images are turned into `size` x `size` model inputs."""

    mode: str = "native"
    size: int = NATIVE

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(
                f"resolution mode must be one of {', '.join(MODES)}, got {self.mode!r}"
            )
        if self.mode == "native" and self.size != NATIVE:
            raise ConfigError(f"native resolution is {NATIVE}, got {self.size}; use resize:N")
        if self.mode == "resize" and not 1 <= self.size <= MAX_SIDE:
            raise ConfigError(f"resize size must be in 1..{MAX_SIDE}, got {self.size}")
        if self.mode == "crop" and not 1 <= self.size <= NATIVE:
            hint = f"; use resize:{self.size} to upscale" if self.size > NATIVE else ""
            raise ConfigError(
                f"crop size must be in 1..{NATIVE} (a crop cannot be larger than the "
                f"{NATIVE}x{NATIVE} image), got {self.size}{hint}"
            )
        if self.mode == "pad" and not NATIVE <= self.size <= MAX_SIDE:
            raise ConfigError(f"pad size must be in {NATIVE}..{MAX_SIDE}, got {self.size}")

    @property
    def id(self) -> str:
        return str(NATIVE) if self.mode == "native" else f"{self.mode}:{self.size}"

    @property
    def pixels(self) -> int:
        return self.size * self.size

    def __str__(self) -> str:
        return self.id


def parse_resolution(text: str | Resolution) -> Resolution:
    """Parse `28`, `resize:N`, `crop:N` or `pad:N`; raise ConfigError naming the accepted forms."""
    if isinstance(text, Resolution):
        return text
    raw = str(text).strip().lower()
    forms = "28, resize:N, crop:N or pad:N (for example resize:14)"
    if raw == str(NATIVE):
        return Resolution()
    mode, sep, size = raw.partition(":")
    if not sep or mode not in ("resize", "crop", "pad"):
        raise ConfigError(f"resolution must be {forms}, got {text!r}")
    if not size.isdigit():
        raise ConfigError(f"resolution size must be a positive integer, got {text!r}; use {forms}")
    return Resolution(mode, int(size))
