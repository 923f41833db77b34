"""Spots dock: the review decisions (accept, reject, edit, accept all above a score, stepping
through the queue), as a mixin of :class:`~qbi_desktop.gui.docks.spots.SpotsPanel`."""

from __future__ import annotations

from PySide6.QtCore import QPointF

from qbi_desktop.core.annotation.masks import union_rect
from qbi_desktop.core.errors import UserFacingError
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

    def accept(self) -> None:
        """A: add the current spot's pixels to the mask (one undo step), then the next one."""
        if self.review is None or self.current is None:
            return
        session = self._ready_session()
        if session is None:
            return
        s = self.review.spots[self.current]
        label = self.annotate.controller.label
        try:
            rect = session.editor.paint_pixels(s.ys, s.xs, label)
        except UserFacingError as e:
            self.window.report_error(str(e))
            return
        self.review.set_state(s.id, "accepted", label)
        self.annotate.apply_change(rect)
        self._after_decision(s.id)

    def reject(self) -> None:
        if self.review is None or self.current is None:
            return
        self.review.set_state(self.current, "rejected")
        self._after_decision(self.current)

    def edit(self) -> None:
        """E: jump the canvas to the spot, zoomed in, with the brush ready."""
        if self.review is None or self.current is None:
            return
        s = self.review.spots[self.current]
        cy, cx = s.centroid
        self.canvas.zoom_to(max(8.0, self.canvas.screen_scale()), QPointF(cx + 0.5, cy + 0.5))
        label = self.annotate.controller.label if self.annotate else None
        self.review.set_state(s.id, "edited", label)
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
        if self.review is None:
            return 0
        session = self._ready_session()
        if session is None:
            return 0
        ids = self.review.undecided_above(self.accept_score.value())
        if not ids:
            return 0
        label = self.annotate.controller.label
        editor = session.editor
        rect = None
        try:
            editor.begin_stroke(label)
            for sid in ids:
                s = self.review.spots[sid]
                rect = union_rect(rect, editor.paint_pixels(s.ys, s.xs))
            editor.end_stroke()
        except UserFacingError as e:
            if editor.in_stroke:
                editor.cancel_stroke()
            self.window.report_error(str(e))
            return 0
        for sid in ids:
            self.review.set_state(sid, "accepted", label)
            self._update_item(sid)
        self.annotate.apply_change(rect)
        self._draw()
        self._update_summary()
        self._next_undecided()
        return len(ids)
