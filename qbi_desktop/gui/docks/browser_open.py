"""Opening a Browser item in the viewer with its mask in the Annotate dock, and hearing back
when Annotate saves it (mixed into the Browser panel).

An image file opens through the viewer's own lazy path on a worker; a row or page of an array
container is shown from the catalog's pixels. Either way Annotate gets the item's mask store
first, so the mask session it makes reads and saves the project's mask; an item already open is
brought forward instead of opened twice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui.annotate.store import ProjectItemStore


class BrowserOpening:
    """Mixed into BrowserPanel: open items, their mask stores, saved masks coming back."""

    @property
    def annotate(self):
        """The Annotate panel, which shows, edits and saves the masks of opened items."""
        return getattr(self.window, "panels", {}).get("annotate") or getattr(
            self.window, "annotate_panel", None
        )

    def connect_annotate(self) -> None:
        """Hear of saved item masks (once; Annotate may be installed after the Browser)."""
        annotate = self.annotate
        if annotate is not None and not self._annotate_connected:
            annotate.item_mask_saved.connect(self.item_mask_saved)
            self._annotate_connected = True

    def mask_store(self, item: dict[str, Any]) -> ProjectItemStore:
        """Where the mask of ``item`` (a table row) is read from and saved to."""
        assert self.project is not None
        image_file = None if item["index"] is not None else self.project.resolve(item["source"])
        return ProjectItemStore(
            root=self.project.root,
            item_id=int(item["id"]),
            name=str(item["name"]),
            annotator=self.annotator,
            image_hash=item.get("hash"),
            image_file=image_file,
            blind=bool(getattr(getattr(self.window, "blind", None), "active", False)),
        )

    def open_item(self, row: int):
        """Show the item at ``row`` in the viewer, its mask in the Annotate dock.

        Returns the opening Task for an image file, the document for a container row/page,
        the document already open for this item, or None."""
        if self.project is None or not 0 <= row < self.model.rowCount():
            return None
        item = self.model.item(row)
        return self.open_with_store(item, self.mask_store(item))

    def open_with_store(self, item: dict[str, Any], store: ProjectItemStore):
        """Open ``item`` (a catalog row) with its mask (and boxes) read from and saved to
        ``store``: the disagreement review opens a consensus saved under its provenance.

        Every way an item is opened (double-click, Enter, D / A, the audit's and the
        disagreements' detail panes, the baseline gallery, a second launch's file) comes here:
        the canvas gets the keyboard, so the keys mean what the Annotate dock shows (in the
        Browser table 1 relabelled the selected row and F flagged it for editing). The
        Browser's row follows an item opened from elsewhere (:meth:`follow_item`)."""
        self.follow_item(item)
        self._bring_annotation_forward()
        self._canvas_takes_keys()
        annotate = self.annotate
        if annotate is not None:
            document = annotate.document_for(store)
            if document is not None:  # already open: one session per item, not two
                self.window.files_list.setCurrentRow(self.window.documents.index(document))
                return document
        if item["index"] is None:  # an image file: the viewer's own lazy path
            return self._open_file(store)
        return self._open_array(item, store)

    def follow_item(self, item: dict[str, Any]) -> None:
        """Select the row of ``item`` when it was opened from outside the table (a second
        launch, File > Open of its file, the audit's, disagreements' or baselines' panes, its
        document chosen in the Files list; ``item`` needs its id and name): the Browser stayed
        on another row, and its keys (a class, a review state) would have gone
        to that row. The filters stay as they are; one that hides the row is said."""
        if self.project is None or item.get("id") is None:
            return
        item_id = int(item["id"])
        current = self.table.currentIndex()
        if current.isValid() and self.model.item_id(current.row()) == item_id:
            return  # opened from its own row (double-click, Enter, D / A): the selection stays
        row = self.model.row_of(item_id)
        if row is not None and row < self.model.rowCount():
            self.select_rows([row])
            return
        self.table.selectionModel().clearSelection()  # no other row stands for it
        self.window.statusBar().showMessage(
            f"{item['name']} (item {item_id}) is open; the Browser's filters hide its row "
            "(the Filters' 'All …' choices show it)",
            10000,
        )

    def _bring_annotation_forward(self) -> None:
        """An opened item is there to be corrected: show the Annotate dock unless an annotation
        dock (Annotate or Spots) is already in front."""
        docks = self.window.docks
        in_front = [n for n in ("annotate", "spots") if n in docks]
        if any(not docks[n].visibleRegion().isEmpty() for n in in_front):
            return
        if "annotate" in docks:
            docks["annotate"].show()
            docks["annotate"].raise_()

    def _canvas_takes_keys(self) -> None:
        canvas = getattr(self.window, "canvas", None)
        if canvas is not None:
            canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    def _open_file(self, store: ProjectItemStore):
        from qbi_desktop.gui.document import open_document_job

        path = str(store.image_file)
        low_high = self.window.levels_panel.percentiles
        view = self.window.canvas.view
        view_size = (view.width(), view.height())
        return self.window.tasks.submit(
            f"Open {store.image_file.name}",
            lambda: open_document_job(path, low_high, view_size),
            on_result=lambda document: self._show(document, store),
            on_error=self.window.report_error,
        )

    def _show(self, document, store: ProjectItemStore) -> None:
        # the store first: Annotate makes the document's mask session when it is shown
        self.connect_annotate()
        if self.annotate is not None:
            self.annotate.attach_store(document, store)
        self.window._document_opened(document)

    def _open_array(self, item: dict[str, Any], store: ProjectItemStore):
        def prepare(document) -> None:
            # the store first: Annotate makes the document's mask session when it is shown
            self.connect_annotate()
            if self.annotate is not None:
                self.annotate.attach_store(document, store)

        try:
            return self.window.open_array(
                np.asarray(self.project.image(item["id"])),
                name=f"{item['name']} (item {item['id']})",
                metadata={
                    "project item": item["id"],
                    "label": item["label"],
                    "container": f"{item['source']} [{item['index']}]",
                },
                prepare=prepare,
            )
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return None

    def item_mask_saved(self, store: ProjectItemStore) -> None:
        """Annotate saved an item's mask: its row (mask column) and the statistics follow."""
        if self.project is None or self.project.root != store.root:
            return
        self.model.refresh_items([store.item_id])
        self.balance_dirty = True
