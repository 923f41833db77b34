"""A scale bar in the canvas's bottom-right corner (View ▸ Scale Bar, ``Ctrl+Shift+B``).

The pixel size comes from the project's metadata when the image belongs to the open project,
else from the file (ImageJ ``unit`` + resolution, or TIFF resolution tags in inch/cm), see
:func:`qbi_desktop.core.measure.pixel_size`. The bar's length is a round number (1, 2 or 5 x
10^k in m, mm, µm or nm) about a fifth of the canvas wide at the current zoom; without a known
pixel size the bar is in image pixels and says so.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QRect, QRectF, Qt
from PySide6.QtGui import QAction, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QWidget

from qbi_desktop.core.measure import PixelSize, pixel_size, round_length, scale_bar_length

KEY = "Ctrl+Shift+B"
SETTING = "view/scale_bar"
TARGET_FRACTION = 0.2  # the bar aims at a fifth of the canvas width
BOX_W, BOX_H, MARGIN = 320, 40, 14


class ScaleBar(QWidget):
    """Overlay child of the canvas; transparent to the mouse."""

    def __init__(self, window):
        self.canvas = window.canvas
        super().__init__(self.canvas)
        self.window = window
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setObjectName("scale_bar")
        self.pixel: PixelSize | None = None
        self._document = None  # the document the pixel size was read for
        self.label = ""
        self.bar_rect = QRect()  # where the bar is drawn, in canvas coordinates

        self.action = QAction("Scale &Bar", window)
        self.action.setCheckable(True)
        self.action.setShortcut(KEY)
        self.action.setStatusTip("Show a scale bar from the pixel size of the file or project")
        on = str(window.settings.value(SETTING, "false")).lower() == "true"
        self.action.setChecked(on)
        self.action.toggled.connect(self._toggled)
        window.addAction(self.action)
        view = window.menus["view"]
        view.insertAction(view.actions()[4] if len(view.actions()) > 4 else None, self.action)

        self.canvas.installEventFilter(self)
        self.canvas.view_changed.connect(self.refresh)
        self.canvas.plane_changed.connect(self._plane_changed)
        window.document_shown.connect(lambda _d: self.read_pixel_size())
        self.read_pixel_size()
        self._place()

    # -- state ---------------------------------------------------------------------------------
    def _toggled(self, on: bool) -> None:
        self.window.settings.setValue(SETTING, bool(on))
        self.refresh()

    def _project_metadata(self, doc) -> dict | None:
        """The open project's metadata if the shown image lives in its folder."""
        browser = getattr(self.window, "panels", {}).get("browser")
        project = getattr(browser, "project", None)
        if project is None or doc is None:
            return None
        try:
            Path(doc.source.path).resolve().relative_to(Path(project.root).resolve())
            return project.metadata()
        except (ValueError, OSError, TypeError, AttributeError):
            return None
        except Exception:  # a closed or broken catalog must not break the viewer
            return None

    def _plane_changed(self, _plane) -> None:
        if self.window.current is not self._document:  # another image: its own pixel size
            self.read_pixel_size()
        else:
            self.refresh()

    def read_pixel_size(self) -> None:
        doc = self._document = self.window.current
        self.pixel = (
            None if doc is None else pixel_size(doc.source.metadata, self._project_metadata(doc))
        )
        self.refresh()

    # -- drawing -------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if watched is self.canvas and event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        w, h = min(BOX_W, self.canvas.width()), BOX_H
        self.setGeometry(self.canvas.width() - w - MARGIN, self.canvas.height() - h - MARGIN, w, h)
        self.refresh()

    def refresh(self) -> None:
        visible = self.action.isChecked() and self.canvas.plane is not None
        self.setVisible(visible)
        if not visible:
            self.bar_rect = QRect()
            self.label = ""
            return
        scale = self.canvas.screen_scale()  # screen px per image px
        target = self.canvas.width() * TARGET_FRACTION / scale  # image px
        if self.pixel is not None:
            value, unit, pixels = scale_bar_length(self.pixel, target)
            self.label = f"{value:g} {unit}"
            self.setToolTip(
                f"Pixel size {self.pixel.size:g} {self.pixel.unit} ({self.pixel.source})"
            )
        else:
            pixels = round_length(target)
            self.label = f"{pixels:g} px"
            self.setToolTip("No pixel size in the file or the project: the bar is in pixels")
        length = max(1, round(pixels * scale))
        length = min(length, self.width() - 4)
        self.bar_rect = QRect(
            self.x() + self.width() - 2 - length, self.y() + self.height() - 12, length, 6
        )
        self.update()

    def paintEvent(self, _event):  # noqa: N802 - Qt naming
        if self.bar_rect.isEmpty():
            return
        p = QPainter(self)
        bar = self.bar_rect.translated(-self.x(), -self.y())
        p.setPen(QPen(QColor(0, 0, 0, 200), 1))
        p.setBrush(QColor(255, 255, 255))
        p.drawRect(bar.adjusted(-1, -1, 0, 0))
        font = QFont(p.font())
        font.setBold(True)
        p.setFont(font)
        text_rect = QRectF(bar.left() - 100, 0, bar.width() + 100, bar.top() - 2)
        flags = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom
        p.setPen(QColor(0, 0, 0))
        p.drawText(text_rect.translated(1, 1), flags, self.label)  # shadow keeps it readable
        p.setPen(QColor(255, 255, 255))
        p.drawText(text_rect, flags, self.label)
        p.end()
