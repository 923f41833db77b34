"""Spots dock: the review decisions (accept, reject, edit, accept all above a score, stepping
through the queue), as a mixin of :class:`~qbi_desktop.gui.docks.spots.SpotsPanel`.

Each decision is one step of the canvas's undo (Edit > Undo, Ctrl+Z, in the Annotate context
that holds the canvas and this dock): the Annotate panel asks this panel first
(``undo_hooks``), and :class:`~qbi_desktop.core.spot_review.ReviewHistory` says whether the last
edit on the canvas was a decision or a stroke / box edit."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.spot_review import ReviewHistory, SpotReview, project_review_path
from qbi_desktop.gui.annotator import may_edit


class SpotReviewMixin:
    """Needs the panel's review, order, current, queue, canvas, annotate and window."""

    # -- review ----------------------------------------------------------------------------------
    def step(self, delta: int) -> None:
        if not self.order:
            return
        row = self.order.index(self.current) if self.current in self.order else -1
        row = max(0, min(len(self.order) - 1, row + delta))
        self.queue.setCurrentRow(row)

    def _next_undecided(self) -> None:
        if not self.order:
            return
        start = self.order.index(self.current) if self.current in self.order else -1
        for row in list(range(start + 1, len(self.order))) + list(range(0, start + 1)):
            if self.review.spots[self.order[row]].state == "proposed":
                self.queue.setCurrentRow(row)
                return

    def _ready_session(self):
        session = self._session()
        if session is None or not session.ready:
            self.window.report_error("The mask is not ready: open an image and wait for it")
            return None
        if session.store is not None and not may_edit(self.window, session.store.root):
            return None  # a shared project's item: the annotator's name first
        return session

    # -- decisions (each one step on the canvas's undo: Ctrl+Z takes back the last one) -------
    def _history(self) -> ReviewHistory | None:
        """The current review's decision history, on the shown mask's editor (a new editor,
        after a recovery, starts a new history: the old one's strokes are not in it)."""
        if self.review is None:
            return None
        session = self._session()
        editor = None if session is None else session.editor
        key = id(self.review)
        history = self.histories.get(key)
        if history is None or history.review is not self.review or history.editor is not editor:
            history = self.histories[key] = ReviewHistory(self.review, editor)
        return history

    def _others(self) -> int:
        """Where the canvas's box edits stand (they share its undo with strokes and decisions).
        Not their count: a stack at its limit keeps its length while edits come in."""
        boxes = getattr(self.annotate, "boxes", None)
        session = None if boxes is None else boxes.session
        return 0 if session is None else session.undo_stack.top

    def _decide(self, ids, state: str, label=None, paint: bool = False) -> bool:
        history = self._history()
        try:
            rect = history.decide(ids, state, label, paint=paint, others=self._others())
        except UserFacingError as e:
            self.window.report_error(str(e))
            return False
        if self.annotate is not None:
            if rect is not None:
                self.annotate.apply_change(rect)
            self.annotate.boxes.stroke_made()  # a new edit: box edits undone stay undone
        self._refresh_undo()
        return True

    def accept(self) -> None:
        """A: add the current spot's pixels to the mask (one undo step), then the next one."""
        if self.review is None or self.current is None:
            return
        if self._ready_session() is None:
            return
        sid = self.current
        if self._decide([sid], "accepted", self.annotate.controller.label, paint=True):
            self._after_decision(sid)

    def reject(self) -> None:
        if self.review is None or self.current is None:
            return
        sid = self.current
        if self._decide([sid], "rejected"):
            self._after_decision(sid)

    def edit(self) -> None:
        """E: jump the canvas to the spot, zoomed in, with the brush ready."""
        if self.review is None or self.current is None:
            return
        s = self.review.spots[self.current]
        cy, cx = s.centroid
        self.canvas.zoom_to(max(8.0, self.canvas.screen_scale()), QPointF(cx + 0.5, cy + 0.5))
        label = self.annotate.controller.label if self.annotate else None
        if not self._decide([s.id], "edited", label):
            return
        self._update_item(s.id)
        self._draw()
        self._update_summary()
        if self.annotate is not None:
            self.annotate.set_tool("brush")

    def _after_decision(self, sid: int) -> None:
        self._update_item(sid)
        self._draw()
        self._update_summary()
        self._next_undecided()

    def accept_all_above(self) -> int:
        """Accept every undecided spot scoring at least the threshold: one undo step."""
        if self.review is None or self._ready_session() is None:
            return 0
        ids = self.review.undecided_above(self.accept_score.value())
        if not ids or not self._decide(ids, "accepted", self.annotate.controller.label, True):
            return 0
        for sid in ids:
            self._update_item(sid)
        self._draw()
        self._update_summary()
        self._next_undecided()
        return len(ids)

    # -- undo / redo (hooks of the Annotate panel's undo: the canvas context) -------------------
    def undo_text(self) -> str | None:
        history = self._history()
        return None if history is None else history.undo_text(self._others())

    def redo_text(self) -> str | None:
        history = self._history()
        return None if history is None else history.redo_text(self._others())

    def undo(self):
        history = self._history()
        done = None if history is None else history.undo(self._others())
        return self._show_undone(done)

    def redo(self):
        history = self._history()
        done = None if history is None else history.redo(self._others())
        return self._show_undone(done)

    def _show_undone(self, done) -> None:
        """Show an undone (or redone) decision: its spots' states in the list and on the
        image, the mask, and the first of its spots as the current one."""
        if done is None:
            return None
        decision, rect = done
        if rect is not None and self.annotate is not None:
            self.annotate.apply_change(rect)
        for sid in decision.ids:
            self._update_item(sid)
        first = next((sid for sid in decision.ids if sid in self.order), None)
        if first is not None:
            self.queue.setCurrentRow(self.order.index(first))
        self._draw()
        self._update_summary()
        return None  # the window's undo says "Undid reject spot #12 (Annotate)" itself

    def _refresh_undo(self) -> None:
        router = getattr(self.window, "undo_router", None)
        if router is not None:
            router.refresh()

    # -- kept with the mask ------------------------------------------------------------------------
    @staticmethod
    def _review_place(session, mask_path: Path | None = None) -> Path | None:
        """Where ``session``'s review is saved: a project item's in its project, a mask file's
        beside it (``mask_path``: the file just written), None while it has no mask file."""
        store = session.store
        if store is not None:
            own = store.annotator if store.blind else None  # blind: nobody else's decisions
            return project_review_path(store.root, store.item_id, store.image_hash, own)
        path = mask_path if mask_path is not None else session.mask_path
        return None if path is None else SpotReview.path_for(path)

    def _review_of(self, session) -> SpotReview | None:
        """The review of ``session``: the one in this run, else the one saved with its mask
        (read once the session is ready: its mask, and so its file, are known then)."""
        review = self.reviews.get(id(session))
        if review is not None or not session.ready:
            return review
        place = self._review_place(session)
        if place is None or not place.is_file():
            return None
        try:
            review = SpotReview.load(place, session.image.shape[:2])
        except UserFacingError as exc:
            self.window.report_error(f"{exc}\n\nDetect starts a new review.")
            return None
        review.reconcile(session.editor.mask)
        self.reviews[id(session)] = review
        return review

    def _mask_saved(self, session, path: Path | None) -> None:
        """The mask was saved (``path``: its file; None for a project item): the review too."""
        review = self.reviews.get(id(session))
        place = self._review_place(session, path)
        if review is None or place is None:
            return
        review.reconcile(session.editor.mask)
        try:
            place.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserFacingError(f"{place.parent}: spot review not saved ({exc})") from None
        review.save(place)
