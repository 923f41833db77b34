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
