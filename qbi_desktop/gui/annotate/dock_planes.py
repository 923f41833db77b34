"""The Annotate panel's planes: one mask session per plane shown, made when the plane is shown
(after the paint when stepping through a stack), prepared on a worker, and closed again when
clean and no longer recent (stepping through a 1000-frame scan must not keep 1000 planes).
Mixed into :class:`~qbi_desktop.gui.docks.annotate.AnnotatePanel`."""

from __future__ import annotations

import copy
import weakref

from qbi_desktop.gui.annotate.prepare import (
    plane_dataset,
    plane_file,
    prepare_item_job,
    prepare_job,
)
from qbi_desktop.gui.annotate.session import MaskSession

# clean mask sessions kept after their plane is left (see PlanesMixin._drop_clean_sessions)
KEEP_CLEAN = 3
KEEP_CLEAN_WITH_HISTORY = 8
# a slice stepped to gets its mask session when no other step came for this long
PLANE_SETTLE_MS = 50


class PlanesMixin:
    """Sessions following the canvas's plane (state lives on the panel: sessions, session,
    _key, _recent, _prepare_tasks, _plane_timer)."""

    def _plane_changed(self, plane) -> None:
        document = self.window.current
        self._plane_timer.stop()
        if plane is None or document is None:
            self._show_session(None, None)
            return
        key = (id(document), int(document.index))
        stepping = self._key is not None and self._key[0] == id(document) and key != self._key
        if stepping and key not in self.sessions:
            # A slice stepped to: its session is made after the paint, once the steps pause
            # (an arrow key held down); meanwhile nothing can be painted into the last slice's.
            self._show_session(None, None)
            self._key = key
            self._plane_timer.start()
            return
        self._open_plane(plane, document, key)

    def _plane_settled(self) -> None:
        document = self.window.current
        plane = self.canvas.plane
        if plane is None or document is None:
            return
        key = (id(document), int(document.index))
        if key == self._key and self.session is None:
            self._open_plane(plane, document, key)

    def _open_plane(self, plane, document, key) -> None:
        session = self.sessions.get(key)
        if session is None:
            store = self.store_of(document)
            if store is not None and document.source.n_slices > 1 and document.index != 0:
                store = None  # a project item has one 2-D mask: the first plane's
            session = MaskSession(
                plane.array,
                *plane_file(document.source, document.index),  # a series frame: its own file
                copy.deepcopy(self.labels_template),
                on_journal_error=self._journal_error,
                store=store,
                masks_folder=self.masks_folder(),
                dataset=plane_dataset(document.source),  # an HDF5 dataset's planes: its own
            )
            self.sessions[key] = session
        self._show_session(key, session)
        if session.identity is None and key not in self._prepare_tasks and plane.complete:
            self._prepare(key, session)
        self._drop_clean_sessions(key)

    def _droppable(self, key, session: MaskSession) -> bool:
        """A session holding nothing the user could lose: no unsaved edit, no recovery waiting
        for a decision, no save or preparation under way. Its mask is on disk (or empty)."""
        return (
            key != self._key
            and key not in self._prepare_tasks
            and not session.modified
            and session.recovery is None
            and (session.save_task is None or session.save_task.finished)
        )

    def _drop_clean_sessions(self, shown) -> None:
        """Stepping through a stack must not keep every plane visited (a 2048^2 slice's plane and
        mask are ~12 MB: 12 GB for a 1000-frame scan). Keep the sessions with unsaved edits (their
        journals keep them safe from a crash), the last few clean ones with an undo history the
        user may still want, and fewer without one; close the rest (a revisit reads the saved
        mask again)."""
        self._recent.pop(shown, None)
        self._recent[shown] = None  # most recent last
        for key in [k for k in self._recent if k not in self.sessions]:
            del self._recent[key]
        with_history = without = 0
        for key in reversed(list(self._recent)):
            session = self.sessions[key]
            if not self._droppable(key, session):
                continue
            history = session.editor.undo_depth > 0 or session.editor.redo_depth > 0
            if history:
                with_history += 1
                if with_history <= KEEP_CLEAN_WITH_HISTORY:
                    continue
            else:
                without += 1
                if without <= KEEP_CLEAN:
                    continue
            del self._recent[key]
            self.sessions.pop(key).close()

    def _prepare(self, key, session: MaskSession) -> None:
        # The Tasks list keeps finished tasks (and so their callbacks): they hold the session
        # weakly, or every plane stepped through would stay in memory (~12 MB at 2048^2).
        ref = weakref.ref(session)

        def done(prepared) -> None:
            self._prepare_tasks.pop(key, None)
            session = ref()
            if session is None or self.sessions.get(key) is not session:
                return  # closed meanwhile (its document was closed)
            for problem in prepared.problems:
                self.window.report_error(problem)
            session.apply_prepared(prepared)
            if self.session is session:
                self._show_session(key, session)
            if session.read_only is not None:
                self.window.report_error(session.read_only)
            if session.recovery is not None:
                self._offer_recovery(session)
            self._update_status()

        def failed(message: str) -> None:
            self._prepare_tasks.pop(key, None)
            self.window.report_error(message)

        if session.store is not None:
            fallback = copy.deepcopy(session.labels)

            def job():
                s = ref()
                if s is None:  # its document was closed before the job started
                    return None
                return (yield from prepare_item_job(s.image, s.store, fallback))
        else:

            def job():
                s = ref()
                if s is None:
                    return None
                return (
                    yield from prepare_job(s.image, s.image_path, s.index, s.n_slices, s.dataset)
                )

        self._prepare_tasks[key] = self.window.tasks.submit(
            "Prepare mask", job, on_result=done, on_error=failed, listed=False
        )

    def _show_session(self, key, session: MaskSession | None) -> None:
        if self.controller._stroke is not None:
            self.controller.end_stroke()
        self._key, self.session = key, session
        if session is None:
            self.overlay.set_mask(None)
        else:
            self.overlay.set_mask(session.editor.mask, session.labels)
        self._refresh_labels()
        self._update_status()
        self.session_changed.emit(session)

    def session_for(self, document, index: int | None = None) -> MaskSession | None:
        idx = document.index if index is None else index
        return self.sessions.get((id(document), int(idx)))
