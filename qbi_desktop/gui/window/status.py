"""The status bar: the annotation tool in use, pixel read-out, zoom, the running task's
progress, and error reports."""

from __future__ import annotations

import logging
import math
import time

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QLabel, QMessageBox, QPushButton, QStatusBar, QWidget

from qbi_desktop.gui.annotator import AnnotatorButton
from qbi_desktop.gui.progress_bar import ProgressBar

log = logging.getLogger("qbi_desktop")
GAP = 10  # px between a shortened message's "…" and the first permanent field


class ElidingStatusBar(QStatusBar):
    """A status bar whose temporary message is cut with "…" to the room left of the permanent
    fields (Tool, Annotator, read-out): a long one ran under them and read on into "Tool: …".
    While a message shows, the whole text is the bar's tooltip, and ``currentMessage`` gives
    it whole (what was said, not how much of it fitted)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._whole = ""  # the message as it was given
        self._shown = ""  # its text as shown (cut to the room, on one line)
        self._until: float | None = None  # when it goes (monotonic seconds); None: it stays
        self._permanent: list[QWidget] = []
        self._refit_timer = QTimer(self, singleShot=True, interval=0)
        self._refit_timer.timeout.connect(self._refit)
        self.messageChanged.connect(self._changed)

    def addPermanentWidget(self, widget: QWidget, stretch: int = 0) -> None:  # noqa: N802
        super().addPermanentWidget(widget, stretch)
        self._permanent.append(widget)
        widget.installEventFilter(self)  # its width changes the room left for the message

    def showMessage(self, text: str, timeout: int = 0) -> None:  # noqa: N802
        self._whole = text
        self._until = time.monotonic() + timeout / 1000 if timeout > 0 else None
        self._shown = self._fitted(text)
        super().showMessage(self._shown, timeout)
        self.setToolTip(text if text else "")

    def currentMessage(self) -> str:  # noqa: N802
        shown = super().currentMessage()
        return self._whole if shown and shown == self._shown else shown

    def room(self) -> int:
        """How wide the message may be: from the bar's left to the first permanent field
        (QStatusBar draws it there; what is wider runs under the fields, cut mid-word)."""
        right = self.width() - 12
        for widget in self._permanent:
            if widget.isVisible():
                right = min(right, widget.x() - 2)
                break
        return max(40, right - 6 - GAP)

    def _fitted(self, text: str) -> str:
        line = " ".join(text.splitlines())  # drawn on one line anyway
        return self.fontMetrics().elidedText(line, Qt.TextElideMode.ElideRight, self.room())

    def _changed(self, message: str) -> None:
        if not message:  # gone (its time ran out, or cleared): so is its tooltip
            self._whole = self._shown = ""
            self.setToolTip("")
        elif message != self._shown:  # shown by Qt itself (an action's status tip)
            self.showMessage(message)

    def _refit(self) -> None:
        if not super().currentMessage() or not self._whole:
            return
        fitted = self._fitted(self._whole)
        if fitted == self._shown:
            return
        left = 0 if self._until is None else int((self._until - time.monotonic()) * 1000)
        if self._until is not None and left <= 0:
            return
        whole, until = self._whole, self._until
        self._shown = fitted
        super().showMessage(fitted, left)
        self._whole, self._until = whole, until

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._refit_timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() in (QEvent.Type.Resize, QEvent.Type.Move, QEvent.Type.Show):
            self._refit_timer.start()
        return False


class StatusMixin:
    """Status bar of the main window."""

    def _build_status_bar(self) -> None:
        self.setStatusBar(ElidingStatusBar(self))
        bar = self.statusBar()
        self.readout = QLabel("")
        self.readout.setMinimumWidth(260)
        self.zoom_label = QLabel("")
        self.task_bar = ProgressBar()
        self.task_bar.setMaximumWidth(220)
        self.task_bar.setTextVisible(True)
        self.task_bar.hide()
        self.task_cancel = QPushButton("Cancel")
        self.task_cancel.setFlat(True)
        self.task_cancel.hide()
        self.task_cancel.clicked.connect(self.tasks.cancel_all)
        self._task_bar_text: tuple[str, int] | None = None  # what the bar's text was made for
        self.annotator_button = AnnotatorButton(self.annotator)
        # which tool the left button is, always (with another dock in front, nothing but the
        # cursor said whether a drag would paint or pan)
        self.tool_label = QLabel("")
        self.tool_label.setToolTip("The tool of the left button on the image (Annotate panel)")
        self._tool_shown: tuple[bool, str | None] = (False, None)
        self.panels_installed.connect(self._follow_tool)
        bar.addPermanentWidget(self.tool_label)
        bar.addPermanentWidget(self.annotator_button)
        bar.addPermanentWidget(self.readout)
        bar.addPermanentWidget(self.zoom_label)
        bar.addPermanentWidget(self.task_bar)
        bar.addPermanentWidget(self.task_cancel)
        # a new plane under a still mouse (unit switched, slice stepped): the read-out follows
        self._readout_at = None
        self._readout_document = None  # the document the read-out position is a pixel of
        self._error_message: str | None = None  # the error the status bar says, while it does
        self.canvas.plane_changed.connect(self._refresh_readout)

    def _follow_tool(self) -> None:
        panel = getattr(self, "panels", {}).get("annotate")
        controller = getattr(panel, "controller", None)
        if controller is None or self._tool_shown[0]:
            return
        controller.tool_changed.connect(self._show_tool)
        self._tool_shown = (True, controller.tool)
        self.tool_label.setText(_tool_label(controller.tool))

    def _show_tool(self, tool: str | None) -> None:
        """The tool changed: the status bar says which it is now, and what a drag does."""
        from qbi_desktop.gui.annotate.tools import TOOL_HINTS
        from qbi_desktop.gui.docks.annotate import TOOL_KEYS

        self.tool_label.setText(_tool_label(tool))
        before = self._tool_shown[1]
        self._tool_shown = (True, tool)
        if tool == before:
            return
        if tool is None:
            message = (
                f"Navigate: {TOOL_HINTS[None]}. The {_tool_name(before)} tool is off "
                f"({TOOL_KEYS[before]} selects it again)"
            )
        else:
            message = f"{_tool_name(tool)} tool: {TOOL_HINTS[tool]} (Esc: Navigate)"

        self.statusBar().showMessage(message, 8000)

    def _refresh_readout(self, plane) -> None:
        """The canvas shows another plane: the read-out is of that plane, or empty.

        Another slice of the same image keeps the view, so the pixel under a still mouse is the
        same one: its new value is shown. Another image (or none) is drawn in a view of its own:
        the pixel named was one of the last image (x 987 y 951 over a 600x600 image), so the
        read-out is taken again from where the pointer is now, or left empty."""
        if self._readout_at is None:
            return
        if plane is None:
            self._show_readout(None)
        elif self.current is not self._readout_document:
            self._show_readout(self._hit_under_pointer(plane))
        else:
            x, y = self._readout_at
            inside = 0 <= x < plane.width and 0 <= y < plane.height
            self._show_readout((x, y, plane.value_at(y, x)) if inside else None)

    def _hit_under_pointer(self, plane):
        """(x, y, value) of the pixel of ``plane`` under the mouse pointer, or None."""
        viewport = self.canvas.viewport()
        point = viewport.mapFromGlobal(QCursor.pos())
        if not viewport.rect().contains(point):
            return None
        at = self.canvas.image_pos(self.canvas.mapToScene(point))
        if at is None:
            return None
        x, y = at
        return x, y, plane.value_at(y, x)

    def _show_readout(self, hit) -> None:
        if hit is None:
            self._readout_at = self._readout_document = None
            self.readout.setText("")
            return
        x, y, value = hit
        self._readout_at = (x, y)
        self._readout_document = self.current
        if isinstance(value, float):
            text = f"{value:.6g}"
        elif isinstance(value, tuple):
            text = (
                "(" + ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in value) + ")"
            )
        else:
            text = str(value)
        unit = self.current.source.metadata.get("unit") if self.current is not None else None
        self.readout.setText(f"x {x}  y {y}   value {text}" + (f" ({unit})" if unit else ""))

    def _show_zoom(self) -> None:
        scale = self.canvas.screen_scale()
        shown = self.current is not None and math.isfinite(scale)
        self.zoom_label.setText(f"{scale * 100:.0f} %" if shown else "")

    def _update_task_bar(self) -> None:
        # unlisted tasks (the Browser's suggestion refreshes) are many and short: a progress
        # bar repainted 10 times a second for them cost the GUI thread ~10 ms each time
        active = [t for t in self.tasks.active() if t.listed]
        if not active:
            self.task_bar.hide()
            self.task_cancel.hide()
            self._task_timer.stop()
            return
        task = active[0]
        progress = task.last_progress
        if progress.total > 0:
            self.task_bar.setRange(0, progress.total)
            self.task_bar.setValue(progress.done)
        else:
            self.task_bar.setRange(0, 0)
        more = f" (+{len(active) - 1})" if len(active) > 1 else ""
        # one line cut with "…" to the bar (a long title wrapped to two lines, the second cut
        # off); the whole title and what the job is doing are its tooltip. Laid out again only
        # when the title or the bar's width changes: this runs 10 times a second.
        text = f"{task.title}{more}"
        room = max(40, self.task_bar.width() - 12)
        if self._task_bar_text != (text, room):
            self._task_bar_text = (text, room)
            metrics = self.task_bar.fontMetrics()
            self.task_bar.setFormat(metrics.elidedText(text, Qt.TextElideMode.ElideRight, room))
        tip = f"{text}: {progress.message}" if progress.message else text
        if self.task_bar.toolTip() != tip:  # each setToolTip sends the bar an event
            self.task_bar.setToolTip(tip)
        self.task_bar.show()
        self.task_cancel.show()
        if not self._task_timer.isActive():
            self._task_timer.start()

    def clear_error_message(self) -> None:
        """A later success answers the error the status bar still says: it goes (a message shown
        since, such as "… is already open: shown", stays)."""
        bar = self.statusBar()
        if self._error_message is not None and bar.currentMessage() == self._error_message:
            bar.clearMessage()
        self._error_message = None

    def report_error(self, message: str) -> None:
        """Tell the user what went wrong (status bar, a dialog, the log); the app carries on."""
        self.last_error = message
        log.error(message)
        self.statusBar().showMessage(message, 15000)
        self._error_message = message
        self.error_reported.emit(message)
        box = QMessageBox(
            QMessageBox.Icon.Warning, "QBI Desktop", message, QMessageBox.StandardButton.Ok, self
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()
        # the box takes the keyboard: Enter closes it instead of acting on the widget behind
        box.raise_()
        box.activateWindow()
        box.button(QMessageBox.StandardButton.Ok).setFocus(Qt.FocusReason.ActiveWindowFocusReason)


def _tool_name(tool: str | None) -> str:
    """The tool as its button in the Annotate panel names it (without the key)."""
    from qbi_desktop.gui.docks.annotate import TOOL_TITLES

    return "Navigate" if tool is None else TOOL_TITLES.get(tool, tool)


def _tool_label(tool: str | None) -> str:
    from qbi_desktop.gui.docks.annotate import TOOL_KEYS

    return f"Tool: {_tool_name(tool)}" + (f" ({TOOL_KEYS[tool]})" if tool in TOOL_KEYS else "")
