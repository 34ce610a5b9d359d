"""The one way this tool writes to stderr: progress lines and warnings (`say`) and the one-line
error of a failed command (`error`). Flushed at once, so CI logs show them as they happen;
stdout stays for results."""

from __future__ import annotations

import sys

PROGRAM = "mnist-models"


def say(message: str) -> None:
    """A progress line or a warning."""
    print(message, file=sys.stderr, flush=True)


def error(message: str) -> None:
    """Why a command stopped, prefixed with the program's name, as argparse does."""
    say(f"{PROGRAM}: {message}")


def progress_shown() -> bool:
    """Whether progress lines are worth writing: stderr is a terminal."""
    return sys.stderr.isatty()
