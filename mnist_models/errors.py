"""Errors a user can fix: raised at the boundary, printed by the CLI as one line, exit status 2."""

from __future__ import annotations


class MnistBenchError(Exception):
    """Base class for every error that names a bad input and its fix."""


class ConfigError(MnistBenchError, ValueError):
    """An invalid model, resolution or training setting (also a ValueError, for library callers)."""


class DataError(MnistBenchError):
    """The MNIST files could not be found, fetched or verified."""


class OutputError(MnistBenchError):
    """A result file cannot be written where the user asked."""
