"""The images behind a confusion-matrix cell of a baseline run, and what they lead to.

Clicking a cell of the heatmap shows its test items as thumbnails (read on a worker unless the
dataset is arrays in memory). A thumbnail opens its item: a project item through the Dataset
Browser (so Annotate gets its mask and labels), any other item as an image in the viewer.
"Show these in the Browser" lists all of a project cell's items there, to relabel or review.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qbi_desktop.core.datasets import ArrayDataset, open_source
from qbi_desktop.core.jobs import Job, Progress, as_job
from qbi_desktop.gui.docks.baselines_history import RunRecord, short_source
from qbi_desktop.gui.docks.baselines_plots import thumbnail_array

MAX_GALLERY = 300  # images shown for one cell


def open_source_job(spec: str) -> Job[Any]:
    yield Progress(0, 0, f"reading {short_source(spec)}")
    return open_source(spec)


def thumbnails_job(dataset: Any, indices: list[int]) -> Job[list[tuple[int, Any]]]:
    """Thumbnails (uint8 arrays) of dataset items, read on a worker (project images are files)."""
    out = []
    for k, i in enumerate(indices):
        out.append((int(i), thumbnail_array(dataset.item(int(i)).image)))
        if k % 16 == 15:
            yield Progress(k + 1, len(indices), "thumbnails")
    return out


def _in_memory(dataset: Any) -> bool:
    return isinstance(dataset, ArrayDataset)


def _project_root(record: RunRecord) -> Path | None:
    kind, _, arg = record.source.partition(":")
    return Path(arg) if kind == "project" and arg else None


class GalleryMixin:
    """The gallery part of :class:`~qbi_desktop.gui.docks.baselines.BaselinesPanel`."""

    gallery_cell: tuple[RunRecord, list[int]] | None = None  # the cell shown: all its indices

    def _cell_clicked(self, row: int, col: int) -> None:
        record = self.result_view.record
        if record is not None:
            self.show_cell(record, row, col)

    def show_cell(self, record: RunRecord, row: int, col: int) -> None:
        """Show the test images behind confusion-matrix cell (row = true, col = predicted)."""
        result = record.get_result()
        gallery = self.result_view.gallery
        if result is None or result.task != "classification":
            return
        true, pred = result.labels[row], result.labels[col]
        indices = [int(i) for i in result.cell_indices(true, pred)]
        count = int(result.confusion[row, col])
        what = "correctly classified" if row == col else "misclassified"
        title = f"true {true}, predicted {pred}: {count} {what} test item{'s' * (count != 1)}"
        if count == 0:
            gallery.show_message(f"{title}.")
            return
        if not indices:
            gallery.show_message(
                f"{title}. This run was read back from the history, which keeps only the "
                "misclassified items: run it again to browse the correct ones."
            )
            return
        dataset = record.dataset or self._datasets.get(record.source)
        if dataset is None:
            gallery.show_message(f"{title}: reading {short_source(record.source)}…")

            def opened(ds, r=record, a=row, b=col) -> None:
                r.dataset = ds
                self._remember_dataset(r.source, ds)
                if self.result_view.record is r:
                    self.show_cell(r, a, b)

            self._gallery_task = self.window.tasks.submit(
                f"Read {short_source(record.source)} for the gallery",
                lambda s=record.source: open_source_job(s),
                on_result=opened,
                on_error=self.window.report_error,
            )
            return
        shown = indices[:MAX_GALLERY]
        more = len(indices) - len(shown)
        self.gallery_cell = (record, indices)
        if self._gallery_task is not None and not self._gallery_task.finished:
            self._gallery_task.cancel()
        if _in_memory(dataset):  # arrays in memory: no I/O, quick enough for the GUI thread
            tiles = [(i, thumbnail_array(dataset.item(i).image)) for i in shown]
            gallery.set_tiles(title, tiles, true, pred, more)
            gallery.browse_button.setVisible(_project_root(record) is not None)
            return
        gallery.show_message(f"{title}: reading images…")

        def done(tiles, r=record) -> None:
            if self.result_view.record is r:
                gallery.set_tiles(title, tiles, true, pred, more)
                gallery.browse_button.setVisible(_project_root(r) is not None)

        self._gallery_task = self.window.tasks.submit(
            f"Gallery: true {true}, predicted {pred}",
            lambda: thumbnails_job(dataset, shown),
            on_result=done,
            on_error=self.window.report_error,
        )

    def _gallery_dataset(self, record: RunRecord) -> Any:
        return record.dataset or self._datasets.get(record.source)

    def open_gallery_item(self, index: int):
        """Open the test item at dataset ``index`` of the run shown: a project item in the
        Browser's project through the Browser, otherwise as an image. Returns the Task or
        document, or None (and a message in the status bar)."""
        record = self.result_view.record
        dataset = self._gallery_dataset(record) if record is not None else None
        if dataset is None:
            return None
        browser = self.window.panels.get("browser")
        ids = getattr(dataset, "ids", None)
        root = _project_root(record)
        if root is not None and ids is not None and browser is not None:
            if self._browser_shows(browser, root) or browser.open_project(root):
                browser.show_ids([int(ids[index])])
                if browser.model.rowCount() == 1:
                    return browser.open_item(0)
        true, pred = self._cell_names(record, index)
        name = f"{short_source(record.source)} item {index} (true {true}, predicted {pred})"

        def shown(image) -> None:
            from qbi_desktop.core.errors import UserFacingError

            try:
                self.window.open_array(image, name)
            except UserFacingError as exc:
                self.show_problem(str(exc))

        return self.window.tasks.submit(
            f"Open {name}",
            lambda: as_job(lambda: dataset.item(index).image, message="reading the image"),
            on_result=shown,
            on_error=self.show_problem,
        )

    def _cell_names(self, record: RunRecord, index: int) -> tuple[str, str]:
        result = record.get_result()
        if result is not None:
            hits = [k for k, i in enumerate(result.test_indices.tolist()) if int(i) == index]
            if hits and len(result.labels):
                k = hits[0]
                return result.labels[int(result.y_true[k])], result.labels[int(result.y_pred[k])]
        return "?", "?"

    @staticmethod
    def _browser_shows(browser, root: Path) -> bool:
        project = getattr(browser, "project", None)
        return project is not None and Path(project.root).resolve() == root.resolve()

    def show_gallery_in_browser(self) -> bool:
        """List all items of the shown cell (not only the thumbnails) in the Dataset Browser."""
        if self.gallery_cell is None:
            return False
        record, indices = self.gallery_cell
        dataset = self._gallery_dataset(record)
        root = _project_root(record)
        browser = self.window.panels.get("browser")
        ids = getattr(dataset, "ids", None)
        if root is None or ids is None or browser is None:
            return False
        if not (self._browser_shows(browser, root) or browser.open_project(root)):
            return False
        browser.show_ids([int(ids[i]) for i in indices])
        dock = self.window.docks.get("browser")
        if dock is not None:
            dock.show()
            dock.raise_()
        self.window.statusBar().showMessage(
            f"The Browser lists the {len(indices)} items of this cell", 8000
        )
        return True
