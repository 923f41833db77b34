"""The Audit window's detail of the selected row: the item's picture and, for a duplicate or a
leak, the related item's beside it, so the reviewer judges by looking at the items.

The pictures are the Browser's thumbnails: rendered by :func:`thumbnail_job` into the project's
thumbnail cache (the same cache and size the Browser uses, so each item is rendered once) and
read and decoded on a worker; the GUI thread only wraps the decoded images.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget
from shiboken6 import isValid

from qbi_desktop.core.catalog.thumbnails import thumbnail_job
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.quality.audit import Issue
from qbi_desktop.gui.docks.browser_model import THUMB_SIZE

PICTURE = THUMB_SIZE * 2  # shown at twice the cached size: digits and radiographs stay legible


def pictures_job(project, ids: list[int]) -> Job[dict[int, QImage | None]]:
    """Worker: render the missing thumbnails of ``ids`` into the project's cache, then decode
    them: {item id: image, None when undecodable}."""
    yield from thumbnail_job(project, ids, THUMB_SIZE)
    yield Progress(0, 1, "reading thumbnails")
    out: dict[int, QImage | None] = {}
    for item_id, png in project.thumbnails(ids, THUMB_SIZE).items():
        image = QImage()  # QImage, unlike QPixmap, may be made off the GUI thread
        out[item_id] = image if image.loadFromData(png, "PNG") else None
    return out


class IssuePictures(QWidget):
    """Two pictures with captions: the row's item and (duplicate, leak) the related item."""

    def __init__(self, run_task, parent=None):
        super().__init__(parent)
        #: ``run_task(title, job_factory, on_result=, on_error=, listed=)`` (the window's tasks)
        self.run_task = run_task
        self.images: dict[int, QImage | None] = {}  # decoded so far, by item id
        self.shown_ids: list[int] = []
        self.task = None
        self._next: tuple[Any, list[int]] | None = None  # asked for while a read runs
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.pictures = [QLabel(), QLabel()]
        self.captions = [QLabel(), QLabel()]
        for picture, caption in zip(self.pictures, self.captions, strict=True):
            picture.setFixedSize(PICTURE, PICTURE)
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            picture.setStyleSheet("background: #202020; color: #c0c0c0")
            caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            # two lines always fit: the dialog's layout must not squeeze them away
            caption.setMinimumHeight(2 * caption.fontMetrics().lineSpacing() + 4)
            caption.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            column = QVBoxLayout()
            column.addWidget(picture)
            column.addWidget(caption)
            row.addLayout(column)
        row.addStretch(1)

    def show_issue(self, issue: Issue | None, project) -> None:
        """Show ``issue``'s item (and related item); their pictures come from a worker."""
        ids = [] if issue is None else [issue.item_id]
        if issue is not None and issue.related_id >= 0:
            ids.append(issue.related_id)
        self.shown_ids = ids
        names = [] if issue is None else [issue.item, issue.related_item]
        for k, (picture, caption) in enumerate(zip(self.pictures, self.captions, strict=True)):
            visible = k < len(ids)
            picture.setVisible(visible)
            caption.setVisible(visible)
            picture.clear()
            caption.setText(names[k] if visible else "")
        if issue is not None:
            given = f"given {issue.given_label!r}" if issue.given_label else "no label"
            suggested = f", suggested {issue.suggested_label!r}" if issue.suggested_label else ""
            # lines, not word wrap: a wrapped label in a grid got too little height and was cut
            self.captions[0].setText(f"{issue.item}\n{given}{suggested}")
            if len(ids) > 1:
                self.captions[1].setText(f"{issue.related_item}\nits {issue.kind} twin")
        missing = [i for i in ids if i not in self.images]
        self._paint()
        if missing and project is not None and self.run_task is not None:
            self._read(project, missing)

    def _read(self, project, ids: list[int]) -> None:
        if self.task is not None and not self.task.finished:
            self._next = (project, ids)  # the latest row only: asked for when this one ends
            return

        def done(found: dict[int, QImage | None]) -> None:
            if not isValid(self):  # the window was closed meanwhile
                return
            self.task = None
            for item_id in ids:
                self.images[item_id] = found.get(item_id)
            self._paint()
            self._after()

        def failed(message: str) -> None:
            if not isValid(self):
                return
            self.task = None
            for picture in self.pictures:
                if picture.pixmap().isNull():
                    picture.setText("no picture")
                    picture.setToolTip(message)
            self._after()

        self.task = self.run_task(
            "Audit pictures",
            lambda: pictures_job(project, ids),
            on_result=done,
            on_error=failed,
            listed=False,
        )

    def _after(self) -> None:
        if self._next is not None:
            project, ids = self._next
            self._next = None
            ids = [i for i in ids if i in self.shown_ids and i not in self.images]
            if ids:
                self._read(project, ids)

    def _paint(self) -> None:
        for picture, item_id in zip(self.pictures, self.shown_ids, strict=False):
            if item_id not in self.images:
                picture.setText("…")
                continue
            image = self.images[item_id]
            if image is None:
                picture.setText("unreadable")
                continue
            scaled = image.scaled(
                PICTURE,
                PICTURE,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation,  # pixels stay sharp (digits)
            )
            picture.setPixmap(QPixmap.fromImage(scaled))
