"""Painting on the canvas: mouse and pressure-tablet input turned into mask edits.

The controller watches the canvas viewport through an event filter. While a tool is active it
takes the left button and the pen (so the view box does not pan), except while Space is held:
then the events go through and the usual drag pans. With no tool active nothing is taken.

A pen reports up to ~2 kHz. Samples are queued and painted once per frame (a ~16 ms timer):
each sample is joined to the previous one with the core's ``line`` (dabs spaced <= radius / 2),
so a fast stroke has no gaps, and the overlay is recoloured only over the rectangles that changed.
The press paints at once, so a click shows without waiting for the timer.

Pressure p in [0, 1] sets the brush diameter ``min + (max - min) * p ** gamma``; the pen's eraser
end (``QPointingDevice.PointerType.Eraser``) erases. The mouse paints with the brush size.

Pixel convention: the core puts pixel (r, c)'s centre at (r, c); in the view the image spans
(0, 0, W, H) and pixel (r, c) covers [c, c+1) x [r, r+1), so a view point (vx, vy) is the core
point (vy - 0.5, vx - 0.5).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QPointingDevice

from qbi_desktop.core.annotation.masks import ConstraintRule, union_rect
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui.annotate.cursor import BrushCursor, LassoItem, PreviewItem
from qbi_desktop.gui.annotator import may_edit

log = logging.getLogger("qbi_desktop")

# "box" draws boxes: its input goes to gui/annotate/boxes_tool.py, not to the mask
TOOLS = ("brush", "eraser", "fill", "lasso", "constrained", "box")
#: what the left button does on the image with each tool (None: Navigate), for the status bar
TOOL_HINTS = {
    None: "a drag pans the image",
    "brush": "a drag paints the label",
    "eraser": "a drag erases",
    "fill": "a click fills the region",
    "lasso": "a drag encircles the area to fill",
    "constrained": "a drag paints the pixels the rule takes",
    "box": "a drag draws a box, a click selects one",
}
FRAME_MS = 16
MAX_SEGMENT = 32.0  # px: long jumps are split so each overlay update stays small

Rect = tuple[int, int, int, int]


@dataclass
class Sample:
    y: float  # core coordinates (pixel centres at integers)
    x: float
    radius: float


def pressure_diameter(pressure: float, min_size: float, max_size: float, gamma: float) -> float:
    """Brush diameter for a pen pressure: ``min + (max - min) * p ** gamma`` (p clipped to 0..1)."""
    p = min(1.0, max(0.0, float(pressure)))
    return float(min_size) + (float(max_size) - float(min_size)) * p ** max(0.05, float(gamma))


class PaintController(QObject):
    """Tools, brush size and pen handling on one :class:`~qbi_desktop.gui.canvas.ImageCanvas`.

    ``session_getter()`` returns the current :class:`MaskSession` (or None); ``overlay`` is the
    :class:`MaskOverlay` showing its mask. Changes are reported with ``mask_changed(rect)``.
    """

    tool_changed = Signal(object)  # tool name or None (navigate)
    size_changed = Signal(float)  # brush diameter (mouse)
    mask_changed = Signal(object)  # changed rect (y0, y1, x0, x1)
    stroke_finished = Signal()
    message = Signal(str)

    def __init__(self, canvas, overlay, session_getter: Callable[[], object | None]):
        super().__init__(canvas)
        self.canvas = canvas
        self.view = canvas.view
        self.overlay = overlay
        self.session_getter = session_getter
        self.tool: str | None = None
        self.size = 9.0  # brush diameter in image pixels (mouse)
        self.min_size = 2.0  # pen at no pressure
        self.max_size = 24.0  # pen at full pressure
        self.gamma = 1.0
        self.label = 1
        self.protect = False  # paint over background only (napari's "preserve labels")
        self.fill_mode = "label"  # or "intensity"
        self.tolerance = 0.0
        self.rule = ConstraintRule()
        self.cursor = BrushCursor(self.view)
        self.lasso = LassoItem(self.view)
        self.preview = PreviewItem(self.view)
        self._space = False
        self._stroke: str | None = None  # "mouse" | "tablet" | None
        self._stroke_tool: str | None = None
        self._last: Sample | None = None
        self._queue: list[Sample] = []
        self._hover: tuple[float, float, float] | None = None  # core y, x, radius for preview
        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self.flush)
        self.frames = 0  # frames that painted (tests and benchmarks read it)
        canvas.viewport().installEventFilter(self)
        canvas.installEventFilter(self)
        canvas.viewport().setMouseTracking(True)

    def detach(self) -> None:
        """Stop watching the canvas (before it is destroyed)."""
        self._timer.stop()
        self.canvas.viewport().removeEventFilter(self)
        self.canvas.removeEventFilter(self)

    # -- state -----------------------------------------------------------------------------------
    @property
    def radius(self) -> float:
        return max(0.0, self.size / 2.0)

    def set_tool(self, tool: str | None) -> None:
        if tool is not None and tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        if self._stroke is not None:
            self.end_stroke()
        self.lasso.clear()
        self.tool = tool
        self.canvas.set_tool_active(tool is not None)
        if tool is None or tool in ("fill", "lasso", "box"):
            self.cursor.hide()
        if tool != "constrained":
            self.preview.hide()
        self.canvas.viewport().setCursor(
            Qt.CursorShape.ArrowCursor if tool is None else Qt.CursorShape.CrossCursor
        )
        self.tool_changed.emit(tool)

    def set_size(self, diameter: float) -> None:
        diameter = float(min(500.0, max(1.0, diameter)))
        if diameter != self.size:
            self.size = diameter
            if self.cursor.centre is not None and self.tool in ("brush", "eraser", "constrained"):
                self.cursor.show_at(*self.cursor.centre, self.radius)
            self.size_changed.emit(diameter)

    def grow(self, steps: int) -> None:
        """``]`` / ``[``: about 10 % per step, at least one pixel."""
        size = self.size
        for _ in range(abs(steps)):
            delta = max(1.0, round(size * 0.1))
            size = size + delta if steps > 0 else size - delta
        self.set_size(size)

    # -- coordinates -----------------------------------------------------------------------------
    def view_point(self, pos: QPointF) -> QPointF:
        """Viewport position (sub-pixel) → view (image) coordinates."""
        inv, _ok = self.canvas.viewportTransform().inverted()
        return self.view.mapSceneToView(inv.map(QPointF(pos)))

    def core_point(self, pos: QPointF) -> tuple[float, float]:
        p = self.view_point(pos)
        return p.y() - 0.5, p.x() - 0.5

    # -- event filter ----------------------------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt naming
        try:
            return self._filter(obj, event)
        except Exception as e:  # never let a painting bug take the event loop down
            log.exception("painting failed")
            self.message.emit(f"Painting failed: {e}")
            return False

    def _filter(self, obj, event) -> bool:
        et = event.type()
        if obj is self.canvas:
            if et in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
                if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
                    self._set_space(et == QEvent.Type.KeyPress)
            elif et == QEvent.Type.FocusOut:
                self._set_space(False)
            return False
        if et in (QEvent.Type.TabletPress, QEvent.Type.TabletMove, QEvent.Type.TabletRelease):
            return self._tablet(event)
        if et == QEvent.Type.MouseButtonPress:
            return self._mouse_press(event)
        if et == QEvent.Type.MouseMove:
            return self._mouse_move(event)
        if et == QEvent.Type.MouseButtonRelease:
            return self._mouse_release(event)
        if et == QEvent.Type.Wheel and event.modifiers() & Qt.KeyboardModifier.AltModifier:
            delta = event.angleDelta()
            # Qt turns Alt+wheel into a horizontal wheel on some platforms
            step = delta.y() or delta.x()
            if step:
                self.grow(1 if step > 0 else -1)
            event.accept()
            return True
        if et == QEvent.Type.Leave:
            self.cursor.hide()
            self.preview.hide()
        return False

    def _set_space(self, down: bool) -> None:
        self._space = down
        self.canvas.set_tool_active(self.tool is not None and not down)
        if self.tool is not None:
            self.canvas.viewport().setCursor(
                Qt.CursorShape.OpenHandCursor if down else Qt.CursorShape.CrossCursor
            )

    def _takes_input(self) -> bool:
        # the box tool's input is taken by the BoxController (gui/annotate/boxes_tool.py)
        return self.tool is not None and self.tool != "box" and not self._space

    # mouse
    def _mouse_press(self, event) -> bool:
        if not self._takes_input() or event.button() != Qt.MouseButton.LeftButton:
            return False
        if self._stroke is None:
            y, x = self.core_point(event.position())
            self.begin(y, x, self.radius, eraser=False, source="mouse")
        event.accept()
        return True

    def _mouse_move(self, event) -> bool:
        y, x = self.core_point(event.position())
        self._hover_at(y, x, self.radius)
        if self._stroke == "mouse":
            self.move(y, x, self.radius)
            event.accept()
            return True
        return False

    def _mouse_release(self, event) -> bool:
        if self._stroke == "mouse" and event.button() == Qt.MouseButton.LeftButton:
            y, x = self.core_point(event.position())
            self.release(y, x, self.radius)
            event.accept()
            return True
        return False

    # pen
    def _tablet(self, event) -> bool:
        et = event.type()
        y, x = self.core_point(event.position())
        eraser = event.pointerType() == QPointingDevice.PointerType.Eraser
        radius = self.pen_radius(event.pressure())
        if et == QEvent.Type.TabletMove and self._stroke is None:
            self._hover_at(y, x, self.radius)  # hovering pen
        if not self._takes_input():
            return False  # Qt turns an ignored tablet event into mouse events (pan, read-out)
        event.accept()
        if et == QEvent.Type.TabletPress:
            if self._stroke is None:
                self.begin(y, x, radius, eraser=eraser, source="tablet")
        elif et == QEvent.Type.TabletMove:
            if self._stroke == "tablet":
                self._hover_at(y, x, radius)
                self.move(y, x, radius)
        elif et == QEvent.Type.TabletRelease:
            if self._stroke == "tablet":
                self.release(y, x, None)
        return True

    def pen_radius(self, pressure: float) -> float:
        return pressure_diameter(pressure, self.min_size, self.max_size, self.gamma) / 2.0

    # -- strokes ---------------------------------------------------------------------------------
    def _session(self):
        session = self.session_getter()
        if session is None:
            self.message.emit("Open an image to paint on it")
            return None
        if not session.ready:
            if getattr(session, "recovery", None) is not None:
                self.message.emit(
                    "Recover or discard the unsaved strokes found for this image first"
                )
            else:
                self.message.emit("Preparing the mask…")
            return None
        return session

    def begin(self, y: float, x: float, radius: float, *, eraser: bool, source: str) -> None:
        """Start a stroke (press): brush / eraser / constrained paint at once; fill fills;
        lasso starts a polygon."""
        session = self._session()
        if session is None:
            return
        store = getattr(session, "store", None)  # a project item: a shared one needs the name
        if store is not None and not may_edit(self.canvas.window(), store.root, "painted"):
            return
        tool = "eraser" if eraser and self.tool in ("brush", "constrained", "eraser") else self.tool
        editor = session.editor
        try:
            if tool == "fill":
                if self.fill_mode == "intensity":
                    image = self._grey(session)
                    rect = editor.fill_intensity(image, y, x, self.tolerance, self.label)
                else:
                    rect = editor.fill_label(y, x, self.label)
                self._changed(rect)
                self.stroke_finished.emit()
                return
            if tool == "lasso":
                p = (x + 0.5, y + 0.5)
                self.lasso.start(*p)
                self._stroke, self._stroke_tool = source, "lasso"
                return
            if tool == "eraser":
                editor.begin_stroke(0, "erase")
            else:
                editor.begin_stroke(self.label, "protect" if self.protect else "paint")
            self._stroke, self._stroke_tool = source, tool
            self._last = Sample(y, x, radius)
            self._paint_dab(session, self._last)
        except UserFacingError as e:
            self.message.emit(str(e))
            if editor.in_stroke:
                self._changed(editor.cancel_stroke())
            self._stroke = self._stroke_tool = None
            return
        self._timer.start()

    def move(self, y: float, x: float, radius: float) -> None:
        if self._stroke is None:
            return
        if self._stroke_tool == "lasso":
            last = self.lasso.points[-1] if self.lasso.points else None
            p = (x + 0.5, y + 0.5)
            if last is None or math.hypot(p[0] - last[0], p[1] - last[1]) >= 0.5:
                self.lasso.add(*p)
            return
        self._queue.append(Sample(y, x, radius))

    def release(self, y: float, x: float, radius: float | None) -> None:
        if self._stroke is None:
            return
        if self._stroke_tool == "lasso":
            self.lasso.add(x + 0.5, y + 0.5)
            self._finish_lasso()
            return
        if radius is not None:
            self._queue.append(Sample(y, x, radius))
        self.end_stroke()

    def end_stroke(self) -> None:
        """Paint what is queued, then close the stroke: one undo step, journalled."""
        self._timer.stop()
        if self._stroke_tool == "lasso":
            self.lasso.clear()
            self._stroke = self._stroke_tool = None
            return
        self.flush()
        self._stroke = self._stroke_tool = None
        self._last = None
        session = self.session_getter()
        if session is not None and session.editor.in_stroke:
            session.editor.end_stroke()
            self.stroke_finished.emit()

    def cancel(self) -> None:
        """Escape: abandon a lasso or a stroke in progress (its pixels are restored)."""
        self._timer.stop()
        self._queue.clear()
        if self._stroke_tool == "lasso":
            self.lasso.clear()
        else:
            session = self.session_getter()
            if session is not None and session.editor.in_stroke:
                self._changed(session.editor.cancel_stroke())
        self._stroke = self._stroke_tool = None
        self._last = None

    def _finish_lasso(self) -> None:
        points = [(py - 0.5, px - 0.5) for px, py in self.lasso.points]
        self.lasso.clear()
        self._stroke = self._stroke_tool = None
        session = self._session()
        if session is None or len(points) < 3:
            return
        try:
            self._changed(session.editor.fill_polygon(points, self.label))
        except UserFacingError as e:
            self.message.emit(str(e))
            return
        self.stroke_finished.emit()

    def flush(self) -> None:
        """Paint the queued samples (one frame's worth), joining each to the previous one."""
        if not self._queue:
            return
        session = self.session_getter()
        queue, self._queue = self._queue, []
        if session is None or not session.editor.in_stroke or self._last is None:
            return
        for sample in queue:
            self._segment(session, self._last, sample)
            self._last = sample
        self.frames += 1

    def _segment(self, session, a: Sample, b: Sample) -> None:
        length = math.hypot(b.y - a.y, b.x - a.x)
        pieces = max(1, int(math.ceil(length / MAX_SEGMENT)))
        for i in range(pieces):
            t0, t1 = i / pieces, (i + 1) / pieces
            r = a.radius + (b.radius - a.radius) * (t0 + t1) / 2
            p0 = (a.y + (b.y - a.y) * t0, a.x + (b.x - a.x) * t0)
            p1 = (a.y + (b.y - a.y) * t1, a.x + (b.x - a.x) * t1)
            if self._stroke_tool == "constrained":
                self._constrained_line(session, p0, p1, r)
            else:
                self._changed(session.editor.line(p0[0], p0[1], p1[0], p1[1], r))

    def _constrained_line(self, session, p0, p1, radius: float) -> None:
        image = self._grey(session)
        length = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
        spacing = max(0.5, radius / 2.0)
        n = max(1, int(math.ceil(length / spacing)))
        rect = None
        for i in range(1, n + 1):
            t = i / n
            y, x = p0[0] + (p1[0] - p0[0]) * t, p0[1] + (p1[1] - p0[1]) * t
            rect = union_rect(
                rect, session.editor.constrained_dab(image, y, x, radius, None, self.rule)
            )
        self._changed(rect)

    def _paint_dab(self, session, s: Sample) -> None:
        editor = session.editor
        if self._stroke_tool == "constrained":
            image = self._grey(session)
            self._changed(editor.constrained_dab(image, s.y, s.x, s.radius, None, self.rule))
        else:
            self._changed(editor.dab(s.y, s.x, s.radius))

    def _grey(self, session) -> np.ndarray:
        if session.image.ndim == 3:
            raise _ColourImage()
        return session.native_image()

    def _changed(self, rect: Rect | None) -> None:
        if rect is None:
            return
        session = self.session_getter()
        if session is not None and self.overlay.mask is not session.editor.mask:
            self.overlay.set_mask(session.editor.mask, session.labels)  # promoted to uint16
        else:
            self.overlay.update_rect(rect)
        self.mask_changed.emit(rect)

    # -- hover -----------------------------------------------------------------------------------
    def _hover_at(self, y: float, x: float, radius: float) -> None:
        if self.tool not in ("brush", "eraser", "constrained") or self._space:
            self.cursor.hide()
            return
        cy, cx = int(math.floor(y + 0.5)), int(math.floor(x + 0.5))
        self.cursor.show_at(cy, cx, radius)
        if self.tool == "constrained":
            self.update_preview(y, x, radius)

    def update_preview(self, y: float, x: float, radius: float) -> None:
        """Show which pixels a constrained dab at (y, x) would take."""
        session = self.session_getter()
        if session is None or session.identity is None or session.image.ndim != 2:
            self.preview.hide()
            return
        try:
            image = session.native_image()
            hit = session.editor.constrained_preview(image, y, x, radius, self.rule)
        except UserFacingError:
            hit = None
        if hit is None:
            self.preview.hide()
            return
        rect, take = hit
        colour = (255, 255, 0)
        if self.label in session.labels:
            colour = session.labels[self.label].colour
        self.preview.show(rect, take, colour)


class _ColourImage(UserFacingError):
    def __init__(self) -> None:
        super().__init__(
            "this tool needs a greyscale image: intensity tools do not work on colour images"
        )
