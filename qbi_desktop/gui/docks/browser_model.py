"""The Browser's table model: a window over a project's items, fast at 100 000 rows.

How it stays fast:

* a filter or sort asks the catalog for the number of matching items and the ids of the rows
  around those shown, a window of them (browser_paging.py: a page plan per window, a few
  milliseconds at a million items); scrolling elsewhere asks for the window there; a count
  that tests every item runs on a worker, and :attr:`ItemTableModel.count_pending` says the
  rows shown are not all of them until it is done;
* row contents are fetched a page at a time, by id, only when the view paints them, and kept in
  a bounded cache, so scrolling to row 90 000 costs one page query, not an OFFSET scan;
* thumbnails are read from the project's thumbnail cache for the visible rows only, batched on
  a short timer, on a worker that also decodes them (the GUI thread only wraps each image);
  missing ones are rendered by ``thumbnail_job`` on a worker, and rows update when it finishes.
  Painting and typing never wait for the cache or for an image to be decoded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPixmap

from qbi_desktop.core.catalog import Filters, Project, queries
from qbi_desktop.core.catalog.thumbnails import thumbnail_job
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.gui.docks.browser_paging import IdWindow, count_job

PAGE = 200
ROW_CACHE_LIMIT = 20_000
THUMB_CACHE_LIMIT = 4_000
THUMB_SIZE = 96  # rendered (and cached in the project) at this size
ICON_SIZE = 48  # shown in the table at this size
LISTED_RENDER = 20  # thumbnails rendered in one task from which the task shows in Tasks

#: (header, sort key, tooltip)
COLUMNS: list[tuple[str, str | None, str]] = [
    ("", "id", "Thumbnail"),
    ("ID", "id", "Item id in the catalog"),
    ("Name", "name", "Item name"),
    ("Label", "label", "Class label (keys 0-9 set it)"),
    ("Split", "split", "train / val / test"),
    ("Review", "review", "Review state (A accept, R reject, F flag for edit)"),
    ("Provenance", "provenance", "acquired, simulated or augmented"),
    ("Mask", "has_mask", "Has a label mask"),
    ("Boxes", "n_boxes", "Number of boxes"),
    ("Size", "width", "Width x height in pixels"),
    ("Annotator", "annotator", "Who set the label"),
    ("Targets", None, "Regression targets (F2 or Enter types the chosen target)"),
    ("Source", "source", "Image file, or container and row"),
    # last here, shown next to Label (browser_suggest.py moves it): the indices above stay
    ("Suggested", "suggestion", "Suggested class and confidence (Enter accepts it)"),
]
COL_THUMB, COL_ID, COL_NAME, COL_LABEL, COL_SPLIT, COL_REVIEW = range(6)
COL_SUGGESTED = len(COLUMNS) - 1
COL_TARGETS = 11

REVIEW_COLOURS = {
    "accepted": QColor(60, 160, 80),
    "rejected": QColor(200, 60, 60),
    "needs_edit": QColor(220, 140, 30),
}
ITEM_ID_ROLE = Qt.ItemDataRole.UserRole + 1
_DISPLAY, _TOOLTIP = Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole
_FOREGROUND, _DECORATION = Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.DecorationRole
_SIZE_HINT = Qt.ItemDataRole.SizeHintRole
#: The roles some cell answers (data() returns None for the others at once).
_SERVED = frozenset({_DISPLAY, _TOOLTIP, _FOREGROUND, _DECORATION, _SIZE_HINT, ITEM_ID_ROLE})


class ItemTableModel(QAbstractTableModel):
    """Items of one project, filtered and sorted in SQL; see the module docstring."""

    reloaded = Signal()  # after a filter/sort/project change (row count known)
    thumbnails_pending = Signal(int)  # number of thumbnails being rendered

    def __init__(self, parent=None):
        super().__init__(parent)
        self.project: Project | None = None
        self.filters = Filters()
        self.sort_key: str = "id"
        self._ids = IdWindow()  # the ids of the rows, a window of them (browser_paging.py)
        self._rows: dict[int, dict[str, Any]] = {}
        self._thumbs: OrderedDict[int, QPixmap | None] = OrderedDict()
        self._wanted: dict[int, int] = {}  # item id -> row, thumbnails asked for by the view
        self._rendering: set[int] = set()
        self._failed: set[int] = set()
        self._render_task = None
        self._read_task = None  # the worker reading cached thumbnails
        #: ``run_task(title, job_factory, on_result, on_error)`` -> task: runs thumbnail jobs
        #: off the GUI thread (the window's TaskManager); None: thumbnails are only read. Not
        #: named ``submit``: that is a virtual slot of QAbstractItemModel the view calls.
        self.run_task: Callable[..., Any] | None = None
        #: the label suggestions (browser_suggest.BrowserSuggestions): its cells and queue order
        self.suggestions: Any = None
        self._thumb_timer = QTimer(self)
        self._thumb_timer.setSingleShot(True)
        self._thumb_timer.setInterval(30)
        self._thumb_timer.timeout.connect(self._load_wanted)
        self.target_defs: dict[str, Any] = {}  # name -> TargetDef: decimals and units shown
        self.active_target: str | None = None  # the target the Targets cell edits
        #: ``overlay(rows)`` rewrites fetched rows in place (blind mode: one person's own work)
        self.row_overlay: Callable[[list[dict[str, Any]]], None] | None = None
        #: ``id_source()`` -> where the rows' ids and count come from, with the signatures of
        #: core.catalog.queries (blind mode: own_pages.Own, one person's opinions), or None:
        #: the catalog's queries
        self.id_source: Callable[[], Any] | None = None

    # -- project, filters, sort -------------------------------------------------------------
    def set_project(self, project: Project | None) -> None:
        self.project = project
        self._thumbs.clear()
        self._failed.clear()
        self._rendering.clear()
        self.filters = Filters()
        self.reload()

    def set_filters(self, filters: Filters) -> None:
        self.filters = filters
        self.reload()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = COLUMNS[column][1] if 0 <= column < len(COLUMNS) else None
        if key == "suggestion":
            if self.suggestions is not None:
                self.suggestions.sort_requested(order)
            return
        if key is None:
            names = self.project.distinct("targets") if self.project else []
            if not names:
                return
            # the target being typed (the panel's choice), else the first
            key = f"target:{self.active_target if self.active_target in names else names[0]}"
        self.sort_key = ("-" if order == Qt.SortOrder.DescendingOrder else "") + key
        self.reload()

    def reload(self) -> None:
        """Ask the catalog for the matching ids again (after a filter, sort or import)."""
        self.beginResetModel()
        if self.project is None:
            self._ids.clear()
        elif self.suggestions is not None and self.suggestions.queue_on:
            # "label next": the queue's order, made from every matching id
            ids = self._source().id_array(self.project.db, self.filters, self.sort_key)
            self._ids.set_all(self.suggestions.reorder(ids))
        else:
            later = self.run_task is not None  # a count of every item goes to a worker
            self._ids.reset(
                self.project, self.filters, self.sort_key, count_later=later, source=self._source()
            )
        self._rows.clear()
        self._wanted.clear()
        self.endResetModel()
        self.reloaded.emit()
        if self._ids.counting:
            self._count_rows()

    def _source(self) -> Any:
        own = None if self.id_source is None else self.id_source()
        return queries if own is None else own

    def _count_rows(self) -> None:
        """Count on a worker; the rows past the first window appear when it is done. A count
        already running for this filter (only the sort changed) is waited for instead."""
        project, window, generation = self.project, self._ids, self._ids.generation
        if window.count_running:
            return
        window.count_running = True

        def counted(total: int | None) -> None:
            if self.project is not project or window.generation != generation or total is None:
                return  # another project or filter since
            shown = len(window)
            window.counted(total)
            if len(window) > shown:
                self.beginInsertRows(QModelIndex(), shown, len(window) - 1)
                self.endInsertRows()
            self.reloaded.emit()

        def failed(_message: str) -> None:  # the next reload counts again
            if window.generation == generation:
                window.count_running = False

        filters = window.filters
        self.run_task(
            "Counting items", lambda: count_job(project, filters, window), counted, failed
        )

    def refresh_items(self, ids: list[int]) -> None:
        """Items changed in the catalog (label, review, ...): re-read them, keep their rows."""
        if self.project is None or not ids:
            return
        fetched = self.project.query({"ids": list(ids)}, limit=None)
        if self.row_overlay is not None:
            self.row_overlay(fetched)
        fresh = {r["id"]: r for r in fetched}
        rows = []
        for item_id, row in fresh.items():
            if item_id in self._rows:
                self._rows[item_id] = row
            self._thumbs.pop(item_id, None)  # drawn again, with its boxes as they are now
            rows += self._ids.loaded_rows(item_id)
        for r in rows:
            self.dataChanged.emit(self.index(r, 0), self.index(r, len(COLUMNS) - 1))
        if self.suggestions is not None:  # shown or not: the queue and its counter follow
            self.suggestions.labels_changed(fetched)

    def set_order(self, ids: np.ndarray) -> None:
        """Show these ids in this order (the label-next queue); the row cache stays valid."""
        self.beginResetModel()
        self._ids.set_all(ids)
        self._wanted.clear()
        self.endResetModel()

    # -- access ------------------------------------------------------------------------------
    @property
    def count_pending(self) -> bool:
        """Whether more rows match than shown: a worker is still counting them (the row count
        is the first window's until it is done)."""
        return self._ids.counting

    @property
    def ids(self) -> np.ndarray:
        """Every row's id in order (read from the catalog when first asked after a reload)."""
        return self._ids.all()

    def item_id(self, row: int) -> int:
        return self._ids.id_at(row)

    def row_of(self, item_id: int) -> int | None:
        return self._ids.row_of(item_id)

    def item(self, row: int) -> dict[str, Any]:
        """The catalog row shown at ``row`` (fetching its page if needed)."""
        item_id = self._ids.id_at(row)
        found = self._rows.get(item_id)
        if found is None:
            self._fetch_page(row)
            found = self._rows[item_id]
        return found

    def _fetch_page(self, row: int) -> None:
        assert self.project is not None
        start = (row // PAGE) * PAGE
        chunk = self._ids.slice(start, start + PAGE).tolist()
        if len(self._rows) + len(chunk) > ROW_CACHE_LIMIT:
            self._rows.clear()
        fetched = self.project.query({"ids": chunk}, limit=None)
        if self.row_overlay is not None:
            self.row_overlay(fetched)
        for r in fetched:
            self._rows[r["id"]] = r

    # -- Qt model interface ------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.isValid() and index.column() == COL_TARGETS and self.active_target:
            flags |= Qt.ItemFlag.ItemIsEditable  # typed through the panel's target delegate
        return flags

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][2]
        return None

    def data(self, index: QModelIndex, role=_DISPLAY):
        # Qt asks every painted cell for ~7 roles: the ones no cell answers, and colours of the
        # columns without any, return before anything is looked up (half of a repaint's time
        # at 20 rows was spent here); roles are tested against prepared values, not Qt's enums
        if role not in _SERVED or not index.isValid():
            return None
        col = index.column()
        if role == _FOREGROUND and col != COL_REVIEW and col != COL_SUGGESTED:
            return None
        row = index.row()
        if role == ITEM_ID_ROLE:
            return self._ids.id_at(row)
        if role == _DECORATION:
            return self._thumbnail(self._ids.id_at(row), row) if col == COL_THUMB else None
        if role == _SIZE_HINT:
            return QSize(ICON_SIZE + 8, ICON_SIZE + 4) if col == COL_THUMB else None
        item = self.item(row)
        if col == COL_SUGGESTED:
            return None if self.suggestions is None else self.suggestions.cell(item, role)
        if role == _FOREGROUND:
            if item["review"] in REVIEW_COLOURS:
                return QBrush(REVIEW_COLOURS[item["review"]])
            return None
        text = _cell_text(item, col, self.target_defs)
        if role == _TOOLTIP:
            return text if col != COL_THUMB else item["name"]
        return text

    # -- thumbnails ---------------------------------------------------------------------------
    def _thumbnail(self, item_id: int, row: int) -> QPixmap | None:
        if item_id in self._thumbs:
            self._thumbs.move_to_end(item_id)
            return self._thumbs[item_id]
        if item_id not in self._failed:
            self._wanted[item_id] = row
            if not self._thumb_timer.isActive():
                self._thumb_timer.start()
        return None

    def _load_wanted(self) -> None:
        """Read the cached thumbnails of the rows the view asked for on a worker (decoded there
        too: the GUI thread only wraps the images); the missing ones are rendered after."""
        if self.project is None or not self._wanted:
            return
        if self._read_task is not None and not self._read_task.finished:
            return  # asked again when the running read ends
        wanted = dict(list(self._wanted.items())[-400:])  # the latest: what is on screen
        self._wanted.clear()
        project = self.project
        if self.run_task is None:  # no workers (a bare model): read here
            self._read(project, wanted, _decoded(project, list(wanted)))
            return

        def read(images: dict[int, QImage | None]) -> None:
            self._read_task = None
            self._read(project, wanted, images)
            if self._wanted:
                self._thumb_timer.start()

        def failed(_message: str) -> None:  # an unreadable cache: render them again
            self._read_task = None
            self._read(project, wanted, {})
            if self._wanted:
                self._thumb_timer.start()

        self._read_task = self.run_task(
            "Thumbnails (reading)",
            lambda: _read_job(project, list(wanted)),
            read,
            failed,
            listed=False,  # many small reads while scrolling or typing: not worth a row
        )

    def _read(self, project: Project, wanted: dict[int, int], images: dict) -> None:
        if self.project is not project:
            return
        for item_id, image in images.items():
            self._remember(item_id, _pixmap(image))
        self._emit_rows([wanted[i] for i in images])
        missing = [i for i in wanted if i not in images and i not in self._rendering]
        if missing:
            self._render(missing, wanted)

    def _remember(self, item_id: int, pixmap: QPixmap | None) -> None:
        row = self._rows.get(item_id)
        if row is not None and row.get("n_boxes") and self.project is not None:
            # the item's boxes drawn on its thumbnail (gui/annotate/boxes_paint.py)
            from qbi_desktop.gui.annotate.boxes_paint import with_boxes

            boxes = self.project.boxes(item_id)
            pixmap = with_boxes(pixmap, boxes, row.get("width"), row.get("height"))
        self._thumbs[item_id] = pixmap
        while len(self._thumbs) > THUMB_CACHE_LIMIT:
            self._thumbs.popitem(last=False)

    def _render(self, ids: list[int], rows: dict[int, int]) -> None:
        if self.run_task is None or self.project is None:
            return
        if self._render_task is not None and not self._render_task.finished:
            for i in ids:  # ask again when the running job is done
                self._wanted[i] = rows[i]
            return
        project = self.project
        self._rendering.update(ids)

        def done(found: dict[int, QImage | None]) -> None:
            self._rendering.difference_update(ids)
            if self.project is not project:
                return
            for item_id in ids:
                if item_id in found:
                    self._remember(item_id, _pixmap(found[item_id]))
                else:
                    self._failed.add(item_id)  # unreadable image: no thumbnail, no retry
            # only rows of the ids known now can be on screen: row_of would read every id of
            # the order for a thumbnail asked for before a sort or filter moved it away
            self._emit_rows([r for i in ids for r in self._ids.loaded_rows(i)])
            self.thumbnails_pending.emit(0)
            if self._wanted:
                self._thumb_timer.start()

        def failed(_message: str) -> None:
            self._rendering.difference_update(ids)
            self._failed.update(ids)

        self.thumbnails_pending.emit(len(ids))
        self._render_task = self.run_task(
            f"Thumbnails ({len(ids)})",
            lambda: _read_job(project, ids, render=True),
            done,
            failed,
            # a screenful is listed in Tasks; the few new rows each label brings into view are
            # not (a listed task's row and progress bar cost the GUI thread ~15 ms to add)
            listed=len(ids) > LISTED_RENDER,
        )

    def _emit_rows(self, rows: list[int]) -> None:
        if not rows:
            return
        # One signal for the span: cheaper than one per row when a page arrives.
        lo, hi = min(rows), max(rows)
        if hi < len(self._ids):
            self.dataChanged.emit(self.index(lo, COL_THUMB), self.index(hi, COL_THUMB))

    def thumbnail(self, item_id: int) -> QPixmap | None:
        """The cached thumbnail of an item, if loaded (for the montage)."""
        return self._thumbs.get(item_id)


def _read_job(project: Project, ids: list[int], render: bool = False) -> Job[dict]:
    """Worker: (render the missing thumbnails of ``ids``, then) read and decode the cached
    ones: {item id: QImage at the icon size, None if undecodable}."""
    if render:
        yield from thumbnail_job(project, ids, THUMB_SIZE)
    yield Progress(0, 1, "reading thumbnails")
    return _decoded(project, ids)


def _decoded(project: Project, ids: list[int]) -> dict[int, QImage | None]:
    out: dict[int, QImage | None] = {}
    for item_id, png in project.thumbnails(ids, THUMB_SIZE).items():
        image = QImage()  # QImage, unlike QPixmap, may be made off the GUI thread
        out[item_id] = (
            image.scaled(
                ICON_SIZE,
                ICON_SIZE,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            if image.loadFromData(png, "PNG")
            else None
        )
    return out


def _pixmap(image: QImage | None) -> QPixmap | None:
    return None if image is None else QPixmap.fromImage(image)


def _cell_text(item: dict[str, Any], col: int, defs: dict[str, Any] | None = None) -> str:
    if col == COL_THUMB:
        return ""
    if col == COL_ID:
        return str(item["id"])
    if col == COL_NAME:
        return item["name"]
    if col == COL_LABEL:
        return "" if item["label"] is None else str(item["label"])
    if col == COL_SPLIT:
        return item["split"] or ""
    if col == COL_REVIEW:
        return item["review"].replace("_", " ")
    key = COLUMNS[col][1]
    if key == "provenance":
        return item["provenance"]
    if key == "has_mask":
        return "yes" if item["has_mask"] else ""
    if key == "n_boxes":
        return str(item["n_boxes"]) if item["n_boxes"] else ""
    if key == "width":
        w, h = item["width"], item["height"]
        return "" if w is None else f"{w} x {h}"
    if key == "annotator":
        return item["annotator"] or ""
    if key is None:
        targets = sorted(item["targets"].items())
        return ", ".join(_target_text(k, v, (defs or {}).get(k)) for k, v in targets)
    if key == "source":
        source = item["source"] or ""
        return source if item["index"] is None else f"{source} [{item['index']}]"
    return ""


def _target_text(name: str, value: float, definition: Any) -> str:
    if definition is None or definition.decimals is None:
        return f"{name}={value:.4g}"
    unit = f" {definition.unit}" if definition.unit else ""
    return f"{name}={value:.{definition.decimals}f}{unit}"
