"""Errors the user sees: each names the file (or field) and says what is wrong with it."""

from __future__ import annotations

from pathlib import Path


class UserFacingError(Exception):
    """An error whose message is written for the person using the app, not for a developer."""


class ImageReadError(UserFacingError):
    """A file could not be read as an image. ``path`` names it, the message says why."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def human_size(n: float) -> str:
    """A byte count as people read it in a message: "812 bytes", "3.4 MiB", "1.2 TiB"."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
