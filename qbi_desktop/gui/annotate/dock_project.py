"""The Annotate dock's project items: a document showing a catalog item saves its mask into the
project on a worker (see :mod:`qbi_desktop.gui.annotate.store`)."""

from __future__ import annotations

import logging

from qbi_desktop.core.labels import LabelTableError
from qbi_desktop.gui.annotate.session import MaskSession
from qbi_desktop.gui.annotate.store import ItemMaskSaved, ProjectItemStore

log = logging.getLogger("qbi_desktop")


class ProjectMixin:
    """Part of :class:`~qbi_desktop.gui.docks.annotate.AnnotatePanel`: masks of project items."""

    # -- project items ----------------------------------------------------------------------------
    def attach_store(self, document, store: ProjectItemStore) -> None:
        """``document`` shows a project item: its mask is loaded from and saved to ``store``.
        Call before the document is shown (its session is made when its plane appears)."""
        self.stores[id(document)] = (document, store)

    def store_of(self, document) -> ProjectItemStore | None:
        entry = self.stores.get(id(document))
        return entry[1] if entry is not None and entry[0] is document else None

    def document_for(self, store: ProjectItemStore):
        """The open document showing the same project item, if any (opening it twice would
        give two sessions writing one mask)."""
        open_documents = {id(d) for d in self.window.documents}
        for document, other in self.stores.values():
            if id(document) in open_documents and other.same_item(store):
                return document
        return None

    def save_to_project(self, session: MaskSession):
        """Write the session's mask into its project item on a worker; the Task (or None).

        Painting may go on meanwhile: the snapshot taken now is what is written, and the
        session counts as saved only if nothing changed since. A failure is reported and the
        mask stays in the session, unsaved."""
        store = session.store
        if store is None:
            return None
        running = session.save_task
        if running is not None and not running.finished:
            self.window.statusBar().showMessage(f"Still saving the mask of {store.describe()}…")
            return running
        mask, state = session.snapshot()
        names, baseline = session.label_names(), dict(session.saved_names)

        def done(outcome: ItemMaskSaved) -> None:
            session.save_task = None
            self._item_stored(session, state, names, outcome)
            self.window.statusBar().showMessage(outcome.message(), 8000)

        def failed(message: str) -> None:
            session.save_task = None
            self._update_status()
            self.window.report_error(
                f"{message}.\n\nNothing is lost: the mask stays in Annotate, unsaved. Save "
                "again once this is fixed, or write a copy with Save Mask As…"
            )

        task = self.window.tasks.submit(
            f"Save mask of item {store.item_id}",
            lambda: store.save_job(mask, names, baseline),
            on_result=done,
            on_error=failed,
        )
        session.save_task = self.last_save_task = task
        self._update_status()
        return task

    def _item_stored(
        self, session: MaskSession, state: int, names: dict[int, str], outcome: ItemMaskSaved
    ) -> None:
        """A save into the project is done: the session's saved state and names follow, and
        the Browser hears of it (its Mask column, statistics)."""
        session.stored(state, names)
        relabelled = False
        for value, name in outcome.names.kept.items():  # renamed in the project meanwhile
            session.saved_names[value] = name
            if value in session.labels and session.labels[value].name != name:
                try:
                    session.labels.rename(value, name)
                    relabelled = True
                except LabelTableError:  # the name is taken here: keep ours, the note says so
                    pass
        if relabelled:
            if session is self.session:
                self._labels_changed()  # journal, overlay and list
            else:
                session.labels_changed()
        self.last_save_outcome = outcome
        self._update_status()
        self.item_mask_saved.emit(session.store)
        self.session_saved(session, None)  # the Spots review is kept with it (in the project)
