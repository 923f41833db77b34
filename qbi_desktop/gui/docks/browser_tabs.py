"""The Browser's Montage and Balance tabs: statistics and thumbnails rendered on workers, the
montage paged (100 tiles per page) through the selection or every item shown."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtGui import QPixmap

from qbi_desktop.core.catalog import Project, stats
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.gui.docks.browser_model import THUMB_SIZE
from qbi_desktop.gui.docks.browser_views import MONTAGE_PAGE


class BrowserTabs:
    """Mixed into BrowserPanel: what the Montage and Balance tabs show."""

    def _tab_changed(self, index: int) -> None:
        widget = self.tabs.widget(index)
        if widget is self.balance_page and self.balance_dirty:
            self.refresh_balance()
        elif widget is self.montage:
            self._montage_timer_start()

    def refresh_balance(self):
        if self.project is None:
            return None
        min_count = self.balance.min_count.value()
        project = self.project

        def job() -> Iterator[Progress]:
            db = project.connect()
            try:
                yield Progress(0, 1, "bias and balance statistics")
                return stats.summary(db, min_count=min_count)
            finally:
                db.close()

        def done(report) -> None:
            if self.project is project:
                self.balance_dirty = False
                self.balance.set_report(report)

        self.balance_dirty = False
        self._stats_task = self.window.tasks.submit(
            "Balance statistics", job, on_result=done, on_error=self.window.report_error
        )
        return self._stats_task

    def _montage_timer_start(self) -> None:
        if not hasattr(self, "_montage_timer"):
            self._montage_timer = QTimer(self)
            self._montage_timer.setSingleShot(True)
            self._montage_timer.setInterval(80)
            self._montage_timer.timeout.connect(self.update_montage)
        self._montage_timer.start()

    def montage_ids(self) -> tuple[list[int], list[int], str]:
        """(ids, rows, note) of the montage page shown: pages through the selection, or through
        every item shown when nothing (or one item) is selected."""
        selected = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        if len(selected) > 1:
            pool, what = selected, "selected"
        else:
            pool, what = range(self.model.rowCount()), "shown"
        pages = max(1, -(-len(pool) // MONTAGE_PAGE))
        key = (what, len(pool))
        page = self.montage.page() if key == self._montage_pool else 0
        self._montage_pool = key  # another selection or filter starts at its first page
        page = min(page, pages - 1)
        self.montage.set_pages(pages, page)
        rows = list(pool[page * MONTAGE_PAGE : (page + 1) * MONTAGE_PAGE])
        if rows:
            note = f"items {page * MONTAGE_PAGE + 1:,}-{page * MONTAGE_PAGE + len(rows):,}"
            note += f" of {len(pool):,} {what}"
        else:
            note = "no items shown"
        return [self.model.item_id(r) for r in rows], rows, note

    def update_montage(self):
        """Draw the montage of the selection; render missing thumbnails first (worker)."""
        if self.project is None:
            return None
        ids, rows, note = self.montage_ids()
        project = self.project
        found = project.thumbnails(ids, THUMB_SIZE)
        missing = [i for i in ids if i not in found]

        def draw(_result=None) -> None:
            if self.project is not project:
                return
            pngs = project.thumbnails(ids, THUMB_SIZE)
            from qbi_desktop.core.annotation.boxes import boxes_of
            from qbi_desktop.gui.annotate.boxes_paint import with_boxes

            boxes = boxes_of(project, ids)  # drawn on the tiles in their class colours
            tiles = []
            for item_id, row in zip(ids, rows, strict=True):
                pixmap = None
                if item_id in pngs:
                    pixmap = QPixmap()
                    pixmap.loadFromData(pngs[item_id], "PNG")
                item = self.model.item(row)
                if item_id in boxes:
                    pixmap = with_boxes(pixmap, boxes[item_id], item["width"], item["height"])
                caption = item["label"] if item["label"] is not None else item["name"]
                tiles.append((pixmap, str(caption), item["review"]))
            self.montage.set_tiles(tiles, note)

        if missing:
            from qbi_desktop.core.catalog.thumbnails import thumbnail_job

            draw()
            self._montage_task = self.window.tasks.submit(
                "Montage thumbnails",
                lambda: thumbnail_job(project, missing, THUMB_SIZE),
                on_result=draw,
                on_error=self.window.report_error,
            )
            return self._montage_task
        draw()
        return None

    def open_montage_in_viewer(self):
        """The full-resolution images of the montage as one image (skimage ``montage``)."""
        if self.project is None:
            return None
        ids, _rows, _note = self.montage_ids()

        def make(project: Project) -> Job[np.ndarray]:
            yield Progress(0, len(ids), "reading images")
            arrays = []
            for n, item_id in enumerate(ids):
                arrays.append(np.asarray(project.image(item_id)))
                if n % 32 == 31:
                    yield Progress(n + 1, len(ids), "reading images")
            return montage_array(arrays)

        def done(array: np.ndarray) -> None:
            from qbi_desktop.core.io import source_from_array
            from qbi_desktop.gui.document import ImageDocument

            document = ImageDocument(source_from_array(array, name=f"montage of {len(ids)}"))
            document.refresh_sample()
            document.auto_levels(*self.window.levels_panel.percentiles)
            self.window._document_opened(document)

        return self._run("Montage", make, done)


def montage_array(arrays: list[np.ndarray]) -> np.ndarray:
    """One image of the given images in a near-square grid (``skimage.util.montage``); images
    of different sizes are padded to the largest."""
    from skimage.util import montage

    if not arrays:
        raise UserFacingError("montage: no images")
    colour = all(a.ndim == 3 and a.shape[-1] in (3, 4) for a in arrays)
    if not colour:
        arrays = [
            a if a.ndim == 2 else a[..., 0] if a.ndim == 3 and a.shape[-1] in (3, 4) else a[0]
            for a in arrays
        ]
    h = max(a.shape[0] for a in arrays)
    w = max(a.shape[1] for a in arrays)
    dtype = np.result_type(*[a.dtype for a in arrays])
    shape = (len(arrays), h, w) + ((arrays[0].shape[-1],) if colour else ())
    stack = np.zeros(shape, dtype)
    for n, a in enumerate(arrays):
        stack[n, : a.shape[0], : a.shape[1]] = a[..., : shape[-1]] if colour else a
    return montage(stack, fill=0, channel_axis=-1 if colour else None, padding_width=1)
