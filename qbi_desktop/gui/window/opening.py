"""Opening and closing documents: dialogs, files, drops, the demo, in-memory arrays, the list."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QListWidgetItem

from qbi_desktop.core.demo import demo_job
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.short_names import distinct_names
from qbi_desktop.gui.document import ImageDocument, open_document_job
from qbi_desktop.gui.settings import add_recent_file, read_setting
from qbi_desktop.gui.workers import Task

log = logging.getLogger("qbi_desktop")

FILE_FILTER = "Images (*.tif *.tiff *.png *.jpg *.jpeg *.bmp *.nxs *.h5 *.hdf5);;All files (*)"
# Files up to this size open in the GUI thread (a 4096^2 uint16 TIFF is 32 MB: opening is lazy and
# the first frame reads only a strided overview, a few ms); larger ones open on a worker.
OPEN_HERE_BYTES = 64 * 2**20
# The project open when the app closed, and whether a start (with nothing on its command
# line) opens it again: on by default, Dataset > Reopen Last Project at Start.
LAST_PROJECT_KEY = "session/last_project"
REOPEN_PROJECT_KEY = "session/reopen_project"
# Up to this many items named like an opened file are compared with it (same file on disk)
ITEM_CANDIDATES = 10_000


class OpeningMixin:
    """The open documents of the main window (``self.documents``, the Files list)."""

    def open_dialog(self) -> None:
        start = self.settings.value("paths/last_open_dir", str(Path.home()))
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", start, FILE_FILTER)
        if paths:
            self.settings.setValue("paths/last_open_dir", str(Path(paths[0]).parent))
            self.open_files(paths)

    def open_files(self, paths) -> list:
        """Open images; a project folder among them (`qbi-desktop ~/projects/spots`) opens as
        the project, in the Dataset Browser (it was refused as "a folder, not an image").

        Every way the user opens a file comes here (the command line, a second launch's
        hand-off, File > Open, Open Recent, a drop): a file that is an item of the open
        project opens as that item (:meth:`open_path`). What each open started: a Task, or
        the document of an item that was open already or is shown from the catalog."""
        from qbi_desktop.core.catalog.connection import CATALOG  # (not needed at start-up)

        tasks = []
        for p in paths:
            if (Path(p).expanduser() / CATALOG).is_file():
                self.open_project_when_ready(Path(p).expanduser().absolute())
            else:
                opened = self.open_path(p)
                if opened is not None:
                    tasks.append(opened)
        return tasks

    def open_path(self, path):
        """Open the image file ``path``: as the item of the open project it is (its mask,
        boxes and labels are the project's, the title says "(item N)"), else by itself.
        Opened by itself, a project item's file was a loose file: a mask painted on it went
        to the user's masks folder, not into the project."""
        browser = getattr(self, "panels", {}).get("browser")
        item = project_item_of(getattr(browser, "project", None), path)
        if item is None:
            return self.open_file(path)
        message = (
            f"{Path(path).name} is item {item['id']} of project {browser.project.root.name}: "
            "opened as that item"
        )
        log.info(message)
        self.statusBar().showMessage(message, 5000)
        return browser.open_with_store(item, browser.mask_store(item))

    def open_project_when_ready(self, root: Path, quiet: bool = False) -> None:
        """Open the project in ``root`` in the Dataset Browser, now or once the panels are
        built (they are built after the first frame). ``quiet`` (the last session's project,
        reopened at start): a project that is gone or unreadable is told in the status bar,
        not in a message box."""

        def open_now() -> None:
            browser = self.panels.get("browser")
            if browser is None:
                return
            problem = last_project_problem(root) if quiet else None
            if problem is not None:
                message = f"The last session's project was not reopened: {root} {problem}."
                log.warning(message)
                self.statusBar().showMessage(message, 20000)
                return
            browser.open_project(root)

        if self.panels_ready:
            open_now()
            return

        def once() -> None:
            self.panels_installed.disconnect(once)
            open_now()

        self.panels_installed.connect(once)

    def reopen_last_project(self) -> Path | None:
        """At start (nothing named on the command line): open the project that was open when
        the app last closed, unless the user turned that off (Dataset > Reopen Last Project
        at Start). The folder it will open, or None."""
        if not read_setting(self.settings, REOPEN_PROJECT_KEY, True):
            return None
        last = read_setting(self.settings, LAST_PROJECT_KEY, "")
        if not last:
            return None
        root = Path(last)
        self.open_project_when_ready(root, quiet=True)
        return root

    def remember_session_project(self) -> None:
        """Note the project open now (none: nothing) as the one to reopen at the next start;
        only once the panels are built (before, the Browser has not opened one yet)."""
        if not self.panels_ready or "browser" not in self.panels:
            return
        project = getattr(self.panels["browser"], "project", None)
        self.settings.setValue(LAST_PROJECT_KEY, str(project.root) if project is not None else "")

    def open_file(self, path) -> Task:
        path = str(Path(path).expanduser().absolute())
        low_high = self.levels_panel.percentiles
        view_size = (self.canvas.view.width(), self.canvas.view.height())
        try:
            small = 0 < os.stat(path).st_size <= OPEN_HERE_BYTES
        except OSError:
            small = False  # the job reports what is wrong with the path
        # A small image opens here, levels from a quick sample: a worker thread would only add
        # its hop (and the wait for the GIL) before the first paint. Large ones open on a worker.
        run = self.tasks.run_here if small else self.tasks.submit
        return run(
            f"Open {Path(path).name}",
            lambda: open_document_job(path, low_high, view_size, quick=small),
            on_result=self._document_opened,
            on_error=self.report_error,
        )

    def open_demo(self) -> Task:
        # The first start makes the demo (seconds on a busy machine): the empty window says
        # so, and a second click does not make it twice.
        running = getattr(self, "_demo_task", None)
        if running is not None and not running.finished:
            return running
        hint = self.canvas.empty_hint
        hint.demo_busy(True)
        task = self._demo_task = self.tasks.submit(
            "Make demo radiographs",
            demo_job,
            on_result=lambda path: self.open_file(path),
            on_error=self.report_error,
        )
        task.ended.connect(lambda: hint.demo_busy(False))
        return task

    def open_array(self, array, name: str, metadata: dict | None = None, prepare=None):
        """Show an in-memory image (a project item of an array container, a simulated preview)
        as a document, with auto-levels; ``prepare(document)`` runs before it is shown (e.g. to
        hand Annotate where its mask lives). Raises UserFacingError for an unusable array."""
        from qbi_desktop.core.io import source_from_array

        document = ImageDocument(source_from_array(array, name=name, metadata=metadata or {}))
        document.refresh_sample()
        document.auto_levels(*self.levels_panel.percentiles)
        if prepare is not None:
            prepare(document)
        self._document_opened(document)
        # Callers go on with the document shown: panels told now, not on the next loop pass.
        self._after_first_frame(document)
        return document

    def _document_opened(self, document: ImageDocument) -> None:
        self.clear_error_message()  # an error of an earlier open is answered by this one
        same = self.open_document_of(document)
        if same is not None:  # already open: show that one (one document, one mask journal)
            self._forget_item(document)
            document.source.close()
            self.files_list.blockSignals(True)
            self.files_list.setCurrentRow(self.documents.index(same))
            self.files_list.blockSignals(False)
            if same is not self.current:
                self.show_document(same)
            self.statusBar().showMessage(f"{same.title} is already open: shown", 5000)
            return
        previous = self.current
        if previous is not None and not self.levels_panel.auto_on_open.isChecked():
            # "Auto-levels on open" off: the new image keeps the window shown now (to compare
            # a series under one window); otherwise it keeps the auto levels it was opened with.
            document.levels = previous.levels
            document.levels_manual = True
        self.documents.append(document)
        item = QListWidgetItem(document.title)
        item.setToolTip(str(document.path))
        self.files_list.addItem(item)
        self.files_list.blockSignals(True)
        self.files_list.setCurrentRow(len(self.documents) - 1)
        self.files_list.blockSignals(False)
        self.show_document(document)  # names the list's items and the window
        # Queued after the first paint: writing the settings file and the log line (the Tasks
        # dock redraws) cost more than drawing a small image.
        QTimer.singleShot(0, lambda: self._after_opened(document))

    def _after_opened(self, document: ImageDocument) -> None:
        log.info(
            "opened %s (%s, %s)",
            document.path,
            " x ".join(map(str, document.source.slice_shape)),
            document.source.dtype,
        )
        if document.file_size is not None and document in self.documents:  # a file on disk
            self._remember_recent(document)

    def _remember_recent(self, document: ImageDocument) -> None:
        add_recent_file(self.settings, str(document.path))
        self._refresh_recent_menu()

    def open_document_of(self, document: ImageDocument) -> ImageDocument | None:
        """The open document showing the same file as ``document`` (same file on disk, whatever
        the spelling of the path) *in the same role*, or None; in-memory images never count as
        the same. The role is part of what is open: a file opened by itself (its mask and boxes
        are loose files) and the same file as a project item (they go into the project) are
        two documents. Showing the plain one for a project item lost the item: its strokes
        were saved as a loose mask."""
        if document.file_size is None:
            return None
        store = self.item_store_of(document)
        for other in self.documents:
            if other.file_size is None or other is document:
                continue
            other_store = self.item_store_of(other)
            if (store is None) != (other_store is None):
                continue
            if store is not None and not store.same_item(other_store):
                continue
            try:
                if os.path.samefile(other.path, document.path):
                    return other
            except OSError:
                continue
        return None

    def item_store_of(self, document: ImageDocument):
        """The project item ``document`` shows (Annotate's store of it), or None."""
        annotate = getattr(self, "panels", {}).get("annotate")
        return annotate.store_of(document) if annotate is not None else None

    def _forget_item(self, document: ImageDocument) -> None:
        """A document not kept (shown already) leaves no project item behind in Annotate."""
        annotate = getattr(self, "panels", {}).get("annotate")
        if annotate is not None:
            annotate.stores.pop(id(document), None)

    def close_current(self) -> None:
        if self.current is not None:
            self.close_document(self.current)

    def close_document(self, document: ImageDocument) -> bool:
        """Close ``document`` (the one shown or another), asking the close guards first (an
        unsaved mask: Save / Discard / Cancel); False if one kept it open."""
        if document not in self.documents:
            return True
        if not all(guard(document) for guard in list(self.close_guards)):
            return False
        row = self.documents.index(document)
        self.documents.pop(row)
        self.files_list.blockSignals(True)
        self.files_list.takeItem(row)
        if document is not self.current and self.current in self.documents:
            self.files_list.setCurrentRow(self.documents.index(self.current))
        self.files_list.blockSignals(False)
        self._refresh_file_names()
        if document is not self.current:
            document.source.close()
            return True
        for task in (self._decode_task, self._pyramid_task):
            if task is not None and not task.finished:
                task.cancel()
        if self.documents:
            row = min(row, len(self.documents) - 1)
            self.files_list.setCurrentRow(row)
            self.show_document(self.documents[row])
        else:
            self.current = None
            self.canvas.set_plane(None)
            self.slice_bar.hide()
            self.info_panel.show_info([])
            self.setWindowTitle("QBI Desktop")
        document.source.close()
        return True

    def _refresh_file_names(self) -> None:
        """Same-named files from different folders are told apart by their folder, datasets of
        one NeXus/HDF5 file by their dataset."""
        keys = [self._list_key(d) for d in self.documents]
        names = _with_datasets(self.documents, distinct_names(keys))
        for row, name in enumerate(names):
            item = self.files_list.item(row)
            if item is not None:
                item.setText(name)
        for document, name in zip(self.documents, names, strict=True):
            if document is self.current:
                self.setWindowTitle(f"{name} — QBI Desktop")

    def _list_key(self, document: ImageDocument) -> str:
        """What names ``document`` in the Files list: its path, and for a project item's file
        the item (``edge.tif (item 5)``) - the same file may be open by itself too."""
        store = self.item_store_of(document) if document.file_size is not None else None
        path = str(document.path)
        return path if store is None else f"{path} (item {store.item_id})"

    def _file_selected(self, row: int) -> None:
        if 0 <= row < len(self.documents) and self.documents[row] is not self.current:
            self.show_document(self.documents[row])
            self._browser_follows(self.documents[row])

    def _browser_follows(self, document: ImageDocument) -> None:
        """A project item's document chosen here: the Browser's row follows (as it does for an
        item opened from outside the Browser: BrowserOpening.follow_item)."""
        store = self.item_store_of(document)
        browser = getattr(self, "panels", {}).get("browser")
        project = getattr(browser, "project", None)
        if store is not None and project is not None and project.root == store.root:
            browser.follow_item({"id": store.item_id, "name": store.name})

    def dragEnterEvent(self, event):  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_files(paths)


def _with_datasets(documents: list[ImageDocument], names: list[str]) -> list[str]:
    """Two datasets of one HDF5 file open: each named after its dataset (``scan.h5
    /entry/data/data``), not numbered as copies of the same file ("(2)" told nothing)."""
    paths = [str(d.path) for d in documents]
    unique = list(dict.fromkeys(paths))  # the file itself told apart from other files only
    short = dict(zip(unique, distinct_names(unique), strict=True))
    out = []
    for document, name, path in zip(documents, names, paths, strict=True):
        dataset = (getattr(document.source, "metadata", None) or {}).get("dataset")
        if dataset and paths.count(path) > 1:
            name = f"{short[path]} {dataset}"
        out.append(name)
    return out


def last_project_problem(root: Path) -> str | None:
    """Why the project folder ``root`` cannot be reopened, in words, or None when its catalog
    is there and looks like one (a catalog damaged inside is found by the open, which offers
    to repair it)."""
    from qbi_desktop.core.catalog.connection import CATALOG

    catalog = Path(root) / CATALOG
    try:
        if not Path(root).exists():
            return "is gone (the folder no longer exists)"
        if not Path(root).is_dir():
            return "is not a folder"
        if not catalog.is_file():
            return f"is not a project any more (no {CATALOG} in it)"
        with open(catalog, "rb") as file:
            head = file.read(16)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not head:
        return f"cannot be opened: its catalog {CATALOG} is empty"
    if head != b"SQLite format 3\x00":
        return f"cannot be opened: its catalog {CATALOG} is not a catalog file (damaged)"
    return None


def project_item_of(project, path) -> dict | None:
    """The catalog row of the item of ``project`` whose image is the file ``path`` (the same
    file on disk, however either path is spelled), or None (no project, not an item, an item
    of an array container). Items are looked up by name (the file's name is part of it) and
    then compared by file identity."""
    if project is None:
        return None
    path = Path(path).expanduser()
    try:
        if not path.is_file():
            return None
        rows = project.query({"name": path.name}, sort="id", limit=ITEM_CANDIDATES)
    except (OSError, ValueError, UserFacingError, sqlite3.Error):
        return None  # the open of the file itself says what is wrong with it
    for row in rows:
        if row.get("index") is not None or not row.get("source"):
            continue
        try:
            if os.path.samefile(project.resolve(row["source"]), path):
                return row
        except (OSError, ValueError):
            continue
    return None
