"""The window's title: the image shown (with its project item), the project open, the app.

``"edge20mm_0000.tif (item 2) — proj1 — QBI Desktop"``. The opening code sets the image's part
(``setWindowTitle("name — QBI Desktop")``); the item and the project are added here, for images
read from files as for arrays (a radiograph item showed no "(item N)", and no title said which
project was open).
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMainWindow

APP = "QBI Desktop"
SEPARATOR = " — "


def compose_title(name: str, item_id: int | None, project: str | None) -> str:
    """The title of an image ``name`` (empty: none shown) of project item ``item_id``."""
    parts = []
    if name:
        if item_id is not None and f"(item {item_id})" not in name:
            name = f"{name} (item {item_id})"
        parts.append(name)
    if project:
        parts.append(project)
    parts.append(APP)
    return SEPARATOR.join(parts)


class TitleMixin:
    """Mixed into the main window, before ``QMainWindow``."""

    _title_name = ""  # the image's part, as the opening code gave it

    def setWindowTitle(self, title: str) -> None:  # noqa: N802 (Qt's name)
        suffix = SEPARATOR + APP
        if title.endswith(suffix):
            self._title_name = title[: -len(suffix)]
        else:
            self._title_name = "" if title == APP else title
        self.refresh_title()

    def refresh_title(self, *_args) -> None:
        QMainWindow.setWindowTitle(self, self.composed_title())

    def composed_title(self) -> str:
        panels = getattr(self, "panels", {})
        browser = panels.get("browser")
        project = getattr(browser, "project", None)
        name = project.root.name if project is not None else None
        item_id = None
        annotate = panels.get("annotate")
        current = getattr(self, "current", None)
        if self._title_name and current is not None and annotate is not None and project:
            store = annotate.store_of(current)
            if store is not None and store.root == project.root:  # an item of this project
                item_id = store.item_id
        return compose_title(self._title_name, item_id, name)

    def follow_title(self) -> None:
        """Once the panels are built: the title follows the project and the image shown."""
        browser = getattr(self, "panels", {}).get("browser")
        if browser is not None:  # after the reset: the panel's project is set (or gone) then
            browser.model.modelReset.connect(lambda: QTimer.singleShot(0, self.refresh_title))
        self.document_shown.connect(self.refresh_title)
        self.refresh_title()
