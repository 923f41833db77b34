"""What can go wrong with a project, each as a message for the person using the app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qbi_desktop.core.errors import UserFacingError


class ProjectError(UserFacingError):
    """A project folder or its catalog cannot be used as asked."""


class NotAProjectError(ProjectError):
    pass


class SchemaTooNewError(ProjectError):
    pass


class CatalogCorruptError(ProjectError):
    pass


class ProjectReadOnlyError(ProjectError):
    pass


@dataclass(frozen=True)
class Problem:
    """One problem found in an input or in the project: where (file, row or item) and why."""

    file: str
    reason: str
    row: int | None = None
    item_id: int | None = None

    def __str__(self) -> str:
        where, reason = self.file, self.reason
        # a reader's message often names the file itself ("f.npz: ...", "f.npz [x]: ..."):
        # the file is said once
        rest = reason[len(where) :] if where and reason.startswith(where) else None
        if rest is not None and rest.startswith(": "):
            reason = rest[2:]
        elif rest is not None and rest.startswith(" [") and self.row is self.item_id is None:
            return reason
        if self.row is not None:
            where += f", row {self.row}"
        if self.item_id is not None:
            where += f" (item {self.item_id})"
        return f"{where}: {reason}"


class ImportRejected(UserFacingError):
    """An import found problems in its input; nothing was written. ``problems`` lists them all."""

    def __init__(self, source: str | Path, problems: list[Problem], limit: int = 20):
        self.source = str(source)
        self.problems = list(problems)
        shown = "\n".join(f"  - {p}" for p in self.problems[:limit])
        more = len(self.problems) - limit
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(
            f"Import of {self.source} refused, nothing was imported; "
            f"{len(self.problems)} problem(s):\n{shown}{tail}"
        )
