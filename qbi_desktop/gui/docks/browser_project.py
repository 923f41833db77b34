"""A project in the Browser: create, open and close it, its title and FAIR metadata, and what
changes when its data do (mixed into the Browser panel)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from qbi_desktop.core import leftovers
from qbi_desktop.core.catalog import Project, open_project
from qbi_desktop.core.catalog.errors import CatalogCorruptError
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui.docks.browser_dialogs import MetadataDialog, NewProjectDialog
from qbi_desktop.gui.docks.browser_upgrade import upgrade_first
from qbi_desktop.gui.layout import side_room

log = logging.getLogger("qbi_desktop")

NO_PROJECT = "No project open: Dataset > Open Project…"
# Width a docked browser gets when a project opens in a narrower one: four filters and the
# thumbnail, id, name, label, split and review columns side by side.
ROOMY_WIDTH = 600


class BrowserProject:
    """Mixed into BrowserPanel: the project the panel shows, and the dialogs that choose it."""

    new_project_box = None  # the New Project dialog while it is open
    upgrade_task = None  # an older catalog's update before it opens (browser_upgrade.py)

    def _start_dir(self) -> str:
        return str(self.window.settings.value("browser/last_dir", str(Path.home())))

    def new_project_dialog(self) -> NewProjectDialog:
        """Ask where (a typed new folder name is created); window-modal, answered later."""
        dialog = NewProjectDialog(self._start_dir(), self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def accepted() -> None:
            path = dialog.path()
            if path is not None:
                self.open_project(path, create=True)

        dialog.accepted.connect(accepted)
        dialog.finished.connect(lambda _r: setattr(self, "new_project_box", None))
        self.new_project_box = dialog
        dialog.open()
        return dialog

    def open_project_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open project folder", self._start_dir())
        if path:
            self.open_project(path)

    def open_project(self, path: str | Path, create: bool = False) -> bool:
        """Open (or create) the project in ``path`` and show its items; False on error, or
        while a catalog of an older version is updated first (it opens when that ends)."""
        if not create and upgrade_first(self, path):
            return False
        try:
            project = open_project(path, create=create, sweep_later=True, interactive=True)
        except CatalogCorruptError as exc:
            self.offer_repair(path, str(exc))  # the message, and a Repair button
            return False
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return False
        previous = self.project
        if previous is not None and not self.close_items_of(previous.root, project.root):
            project.close()  # an unsaved mask kept open: the project shown stays
            self.window.statusBar().showMessage(
                f"{project.root.name} not opened: the items of {previous.root.name} stay open",
                8000,
            )
            return False
        self.close_project()
        suggestions = getattr(self, "suggestions", None)  # browser_suggest.py
        if suggestions is not None:
            # "Label next" shows the project's unlabelled items only: kept on for the next
            # project, a fully labelled one (an import) showed an empty table
            suggestions.set_queue(False)
        self.project = project
        n = len(project)
        # replaces what the bar said before (a refused catalog's error stayed up to 15 s over
        # the project opened after it, as if that one had failed too); what the panels say
        # as they take the project in (who is annotating a shared one) comes after
        self.window.statusBar().showMessage(f"{project.root.name}: opened, {n:,} items", 5000)
        self._sweep_leftovers(project)
        self.window.settings.setValue("browser/last_dir", str(project.root.parent))
        self._remember_recent(project.root)
        self._clear_filters()
        self._fill_filter_combos()
        self.model.set_project(project)
        self._load_classes()
        self._load_targets()
        self._update_title()
        self.balance_dirty = True
        self._enable_actions()
        self.window.docks["browser"].raise_()
        self._make_room()
        if self.model.rowCount():
            self.select_rows([0], reveal=False)
        self._tab_changed(self.tabs.currentIndex())
        self._tell_panels()
        log.info("opened project %s (%d items)", project.root, n)
        return True

    def close_items_of(self, root: Path, unless: Path | None = None) -> bool:
        """Close the viewer's images that show items of the project in ``root`` (with their
        masks, boxes and annotation panels), asking about unsaved masks; False if the user
        kept one open. After a switch of project they would still be shown, and edited, as
        if they were the new project's items (the Browser's rows, next/previous item, the
        class list). Nothing is closed when ``unless`` is the same folder (opened again)."""
        root = Path(root).resolve()
        if unless is not None and Path(unless).resolve() == root:
            return True
        annotate = self.annotate
        if annotate is None:
            return True
        shown = [
            document
            for document in list(self.window.documents)
            if (store := annotate.store_of(document)) is not None
            and Path(store.root).resolve() == root
        ]
        return all(self.window.close_document(document) for document in shown)

    def _tell_panels(self) -> None:
        """Panels that work on the open project say which one it is now (the Baselines form's
        "Project" source still named the previous project while both docks were in view)."""
        baselines = getattr(self.window, "panels", {}).get("baselines")
        if baselines is not None:
            baselines.form.refresh_project()

    def _sweep_leftovers(self, project: Project) -> None:
        """What a stopped run left in the project is removed on a worker: the open does not
        wait for the listing of its masks (1.5 s at 70 000 on the GUI thread)."""
        if project.pending_sweep is None:
            return

        def done(swept) -> None:
            if swept:
                self.window.statusBar().showMessage(str(swept), 15000)

        self.sweep_task = self.window.tasks.submit(
            "Look for leftovers of a stopped run",
            lambda: leftovers.sweep_project_job(project.root, project.pending_sweep),
            on_result=done,
            on_error=log.warning,
        )

    def _make_room(self) -> None:
        """Widen a docked browser that is too narrow to show its filters and columns (the default
        left column is sized for the file list); a width the user chose above that is kept."""
        dock = self.window.docks["browser"]
        if dock.isFloating() or dock.width() >= ROOMY_WIDTH:
            return
        # never so wide that the image canvas gets less than half the window
        width = min(ROOMY_WIDTH, self.window.width() * 2 // 5, side_room(self.window, dock))
        if width > dock.width():
            self.table.allow_name_growth()  # the names take their share of the new width
            self.window.resizeDocks([dock], [width], Qt.Orientation.Horizontal)

    def close_project_asked(self) -> bool:
        """Dataset > Close Project: the project's items shown in the viewer close with it (an
        unsaved mask is asked about; Cancel keeps the project open). Left open, they kept
        editing the closed project's catalog with nothing to say so. False if kept open."""
        if self.project is not None and not self.close_items_of(self.project.root):
            return False
        self.close_project()
        return True

    def close_project(self) -> None:
        if self.project is None:
            return
        self.undo_stack.clear()  # its edits belong to this catalog
        self.model.set_project(None)
        self.project.close()
        self.project = None
        self.balance.set_report(None)
        self.montage.set_tiles([], "")
        self._fill_filter_combos()
        self._load_targets()
        self._update_title()
        self._enable_actions()
        self._tell_panels()

    def _update_title(self) -> None:
        p = self.project
        if p is None:
            self.project_label.setText(NO_PROJECT)
            self.detail.setText(NO_PROJECT)
            return
        title = p.metadata().get("title")
        self.project_label.setText(
            f"<b>{title or p.root.name}</b> &nbsp; <span style='color:gray'>{p.root}</span>"
        )
        self.project_label.setToolTip(str(p.root))

    def _data_changed(self) -> None:
        """After an import, split or generation: new values for filters, counts, charts."""
        self._fill_filter_combos()
        self.model.reload()
        self._load_classes()
        self._load_targets()
        self._update_title()
        self.balance_dirty = True
        self._tab_changed(self.tabs.currentIndex())

    def metadata_dialog(self) -> None:
        if self.project is None:
            return
        dialog = MetadataDialog(self.project.metadata(), self)
        if dialog.exec():
            self.save_metadata(dialog.values())

    def save_metadata(self, values: dict[str, Any]) -> bool:
        try:
            self.project.set_metadata(**values)
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return False
        self._update_title()
        return True
