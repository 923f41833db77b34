"""The Box tool: mouse input on the canvas turned into box edits.

While the paint controller's tool is ``"box"`` (and Space is not held), this controller takes
the left button on the canvas viewport: a press on a handle of a box (or proposal) resizes it,
a press inside moves it, a press elsewhere draws a new box. During the drag only that box's
graphics item changes (no store write, no full repaint); the release makes one edit.
A click without a drag only selects (or clears the selection): it never makes a box.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal

from qbi_desktop.core.annotation.boxes import from_corners, hit_test, move, resize
from qbi_desktop.core.catalog import Box
from qbi_desktop.gui.annotate.boxes_overlay import HANDLE_PX

log = logging.getLogger("qbi_desktop")

CLICK_PX = 3.0  # a drag shorter than this on screen is a click
CURSORS = {
    "nw": Qt.CursorShape.SizeFDiagCursor,
    "se": Qt.CursorShape.SizeFDiagCursor,
    "ne": Qt.CursorShape.SizeBDiagCursor,
    "sw": Qt.CursorShape.SizeBDiagCursor,
    "n": Qt.CursorShape.SizeVerCursor,
    "s": Qt.CursorShape.SizeVerCursor,
    "e": Qt.CursorShape.SizeHorCursor,
    "w": Qt.CursorShape.SizeHorCursor,
    "inside": Qt.CursorShape.SizeAllCursor,
}


class BoxController(QObject):
    """``paint`` is the :class:`~qbi_desktop.gui.annotate.tools.PaintController` (whose tool
    says when boxes are drawn), ``layer`` the :class:`BoxLayer`, ``session_getter()`` the
    current :class:`BoxSession` and ``label_getter()`` the class of a new box."""

    message = Signal(str)
    #: a box was drawn while no class was chosen: the dock asks for one (nothing is stored yet)
    unnamed = Signal(object)
    frames = 0  # drag updates shown (the benchmark reads it)

    def __init__(self, canvas, paint, layer, session_getter: Callable, label_getter: Callable):
        super().__init__(canvas)
        self.canvas = canvas
        self.paint = paint
        self.layer = layer
        self.session_getter = session_getter
        self.label_getter = label_getter
        self._drag: dict | None = None
        canvas.viewport().installEventFilter(self)  # after the paint controller: we see first

    def detach(self) -> None:
        self.canvas.viewport().removeEventFilter(self)

    @property
    def active(self) -> bool:
        return self.paint.tool == "box" and not self.paint._space

    @property
    def dragging(self) -> bool:
        return self._drag is not None

    def image_point(self, pos: QPointF) -> tuple[float, float]:
        """The nearest pixel edge (boxes span whole pixels, as labelImg's and most exports')."""
        p = self.paint.view_point(pos)
        return float(round(p.x())), float(round(p.y()))

    def _tolerance(self) -> float:
        return HANDLE_PX / max(self.canvas.screen_scale(), 1e-9)

    # -- events -----------------------------------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt naming
        try:
            return self._filter(event)
        except Exception as e:  # a bug in box editing must not take the event loop down
            log.exception("box tool failed")
            self._drag = None
            self.layer.show_draft(None)
            self.message.emit(f"Box tool failed: {e}")
            return False

    def _filter(self, event) -> bool:
        et = event.type()
        if et == QEvent.Type.MouseButtonPress:
            if not self.active or event.button() != Qt.MouseButton.LeftButton:
                return False
            # the press is ours, so the view does not take the focus itself: keys (Delete,
            # 0-9, Enter) must come here after typing a class name
            self.canvas.setFocus(Qt.FocusReason.MouseFocusReason)
            self.press(*self.image_point(event.position()), event.position())
            event.accept()
            return True
        if et == QEvent.Type.MouseMove:
            if self._drag is not None:
                self.drag_to(*self.image_point(event.position()), event.position())
                event.accept()
                return True
            if self.active:
                self._hover(*self.image_point(event.position()))
            return False
        if et == QEvent.Type.MouseButtonRelease and self._drag is not None:
            if event.button() == Qt.MouseButton.LeftButton:
                self.release(*self.image_point(event.position()), event.position())
                event.accept()
                return True
        return False

    def _hover(self, x: float, y: float) -> None:
        session = self.session_getter()
        cursor = Qt.CursorShape.CrossCursor
        if session is not None:
            hit = self._hit(session, x, y)
            if hit is not None:
                cursor = CURSORS[hit[2]]
        self.canvas.viewport().setCursor(cursor)

    def _hit(self, session, x: float, y: float) -> tuple[str, int, str] | None:
        """(kind, index, part) under (x, y); proposals are on top of boxes."""
        combined = session.boxes + session.proposals
        selected = None
        if session.selected is not None:
            kind, i = session.selected
            selected = i if kind == "box" else len(session.boxes) + i
        hit = hit_test(combined, x, y, self._tolerance(), selected)
        if hit is None:
            return None
        n = len(session.boxes)
        if hit.index >= n:
            return "proposal", hit.index - n, hit.part
        return "box", hit.index, hit.part

    # -- drag ------------------------------------------------------------------------------------
    def press(self, x: float, y: float, screen: QPointF) -> None:
        session = self.session_getter()
        if session is None:
            self.message.emit("Open an image to draw boxes on it")
            return
        hit = self._hit(session, x, y)
        if hit is None:
            session.select(None)
            self._drag = {"mode": "draw", "start": (x, y), "screen": QPointF(screen)}
            return
        kind, index, part = hit
        session.select((kind, index))
        box = session.boxes[index] if kind == "box" else session.proposals[index]
        mode = "move" if part == "inside" else "resize"
        self._drag = {
            "mode": mode,
            "kind": kind,
            "index": index,
            "part": part,
            "box": box,
            "start": (x, y),
            "screen": QPointF(screen),
            "now": box,
        }

    @staticmethod
    def _dragged(drag: dict, screen: QPointF) -> bool:
        d = screen - drag["screen"]
        return max(abs(d.x()), abs(d.y())) >= CLICK_PX

    def drag_to(self, x: float, y: float, screen: QPointF) -> None:
        drag = self._drag
        session = self.session_getter()
        if drag is None or session is None:
            return
        self.frames += 1
        if drag["mode"] == "draw":
            x0, y0 = drag["start"]
            self.layer.show_draft(from_corners(x0, y0, x, y, self.label_getter() or ""))
            return
        box = drag["box"]
        if drag["mode"] == "move":
            sx, sy = drag["start"]
            new = move(box, x - sx, y - sy, session.width, session.height)
        else:
            new = resize(box, drag["part"], x, y)
        drag["now"] = new
        item = self.layer.item(drag["kind"], drag["index"])
        if item is not None:
            item.show_handles(False)
            item.set_box(new)

    def release(self, x: float, y: float, screen: QPointF) -> None:
        drag, self._drag = self._drag, None
        session = self.session_getter()
        self.layer.show_draft(None)
        if drag is None or session is None:
            return
        if not self._dragged(drag, screen):  # a click: selection only
            if drag["mode"] != "draw":
                item = self.layer.item(drag["kind"], drag["index"])
                if item is not None:
                    item.set_box(drag["box"])
                    item.show_handles(item.selected)
            return
        self._drag = drag
        self.drag_to(x, y, screen)
        self._drag = None
        if drag["mode"] == "draw":
            # the outline shown while drawing goes: the stored box draws itself (left shown, it
            # stayed as a ghost after the box was undone, on every image opened next)
            self.layer.show_draft(None)
            x0, y0 = drag["start"]
            label = self.label_getter()
            if not label:  # no class invented: the user is asked for it
                self.unnamed.emit(from_corners(x0, y0, x, y, ""))
                return
            session.add(from_corners(x0, y0, x, y, label))
            return
        new: Box = drag["now"]
        item = self.layer.item(drag["kind"], drag["index"])
        if item is not None:
            item.show_handles(item.selected)
        if new == drag["box"]:
            return
        if drag["kind"] == "proposal":
            session.move_proposal(drag["index"], new)
        else:
            what = "move box" if drag["mode"] == "move" else "resize box"
            session.replace_box(drag["index"], new, what)

    def cancel(self) -> bool:
        """Escape during a drag: the box springs back. True if there was a drag."""
        drag, self._drag = self._drag, None
        if drag is None:
            return False
        self.layer.show_draft(None)
        if drag["mode"] != "draw":
            item = self.layer.item(drag["kind"], drag["index"])
            if item is not None:
                item.set_box(drag["box"])
                item.show_handles(item.selected)
        return True
