"""The picture of one disagreeing item: its image with each annotator's mask or boxes in their
own colour (a legend names them), the agreement of each pair on this item, and the decided
consensus in white once there is one.

Two layouts: overlays in one view, or side by side (one small view per annotator, and one for the
consensus), their zoom and pan linked. Drawn with pyqtgraph like the canvas: the image is a
row-major ``ImageItem`` with explicit levels; a mask is an RGBA ``ImageItem`` (a light fill and
an opaque outline, so two masks over each other both show); a box is a rectangle with a
cosmetic pen (the same width at any zoom).
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.quality.item_review import ItemVersions
from qbi_desktop.gui.annotate.overlay import boundary

#: Okabe–Ito colours (told apart with the common colour-vision deficiencies), one per annotator
COLOURS = [
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (204, 121, 167),
    (240, 228, 66),
    (213, 94, 0),
    (0, 114, 178),
]
RESULT_COLOUR = (255, 255, 255)
FILL_ALPHA = 70


def colour_of(index: int) -> tuple[int, int, int]:
    return COLOURS[index % len(COLOURS)]


#: images with a side above this are drawn downsampled (pyqtgraph's autoDownsample): below it,
#: the plain render with explicit levels is faster than its averaging
DOWNSAMPLE_ABOVE = 4096


def mask_codes(mask: np.ndarray) -> np.ndarray:
    """A label mask as uint8 codes for drawing: 0 outside, 1 inside, 2 on its edges. Plain
    numpy (the versions' reading computes them on its worker)."""
    codes = (np.asarray(mask) != 0).astype(np.uint8)
    codes[boundary(np.asarray(mask))] = 2
    return codes


def code_lut(colour: tuple[int, int, int], fill: bool = True) -> np.ndarray:
    """The colours of the codes: transparent, a light fill (or none), the opaque edge. An
    8-bit image with a lookup table is pyqtgraph's fastest path (an indexed QImage)."""
    lut = np.zeros((256, 4), np.uint8)
    lut[1] = (*colour, FILL_ALPHA if fill else 0)
    lut[2] = (*colour, 255)
    return lut


class DisagreementView(QWidget):
    """Shows an :class:`ItemVersions`; ``set_result`` adds the decided consensus."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.versions: ItemVersions | None = None
        self.codes: dict[str, np.ndarray] = {}
        self.result: np.ndarray | list | None = None
        self.result_codes: np.ndarray | None = None
        self.result_by = ""
        self.views: list[pg.ViewBox] = []
        self.title = QLabel("")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.legend = QLabel("")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.figures = QLabel("")
        self.figures.setWordWrap(True)
        self.figures.setToolTip(
            "Agreement of each pair on this item: Dice and IoU of the masks (1 = the same "
            "pixels); for boxes, F1 of the boxes matched at IoU >= 0.5 and the mean IoU of "
            "the matches"
        )
        self.side_by_side = QCheckBox("Side by side (S)")
        self.side_by_side.setToolTip("One view per annotator, zoom and pan linked")
        self.side_by_side.toggled.connect(lambda _on: self._build())
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(pg.mkColor(30, 30, 30))
        self.graphics.setMinimumSize(240, 180)
        self.graphics.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the queue
        self.message = QLabel("")
        self.message.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.side_by_side)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.legend)
        layout.addWidget(self.figures)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.message)

    # -- content ---------------------------------------------------------------------------------
    def show_versions(
        self,
        versions: ItemVersions | None,
        message: str = "",
        codes: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Show ``versions``; ``codes``: each annotator's :func:`mask_codes`, if already made."""
        keep = self._same_item(versions)
        self.versions = versions
        self.codes = dict(codes or {})
        if versions is not None and versions.kind == "mask":
            for person, mask in versions.masks.items():
                if person not in self.codes:
                    self.codes[person] = mask_codes(mask)
        # the consensus the item already holds, if any
        self.result = None if versions is None else versions.consensus
        self.result_by = "" if versions is None else versions.consensus_by
        self.result_codes = self._result_codes()
        self.message.setText(message)
        if versions is None:
            self.title.setText("")
            self.legend.setText("")
            self.figures.setText("")
        else:
            self.title.setText(
                f"<b>{versions.name}</b> — {versions.kind} of {len(versions.annotators)} annotators"
            )
            self.figures.setText(
                "Agreement on this item: "
                + "; ".join(f.text(versions.kind) for f in versions.figures)
                if versions.figures
                else ""
            )
        self._build(keep_range=keep)

    def set_result(self, result, by: str) -> None:
        """The consensus decided for the item (a mask, or boxes (label, x, y, w, h)); None: none."""
        self.result = result
        self.result_by = by if result is not None else ""
        self.result_codes = self._result_codes()
        self._build(keep_range=True)

    def _result_codes(self) -> np.ndarray | None:
        v = self.versions
        if v is None or v.kind != "mask" or self.result is None:
            return None
        return mask_codes(self.result)

    def _same_item(self, versions: ItemVersions | None) -> bool:
        old = self.versions
        return (
            old is not None
            and versions is not None
            and (old.item, old.kind) == (versions.item, versions.kind)
        )

    def _legend(self) -> None:
        v = self.versions
        if v is None:
            return
        entries = [
            f'<span style="color: rgb{colour_of(i)}">■</span> {i + 1}: {name}'
            + (f" says <b>{html.escape(v.values[name])}</b>" if name in v.values else "")
            for i, name in enumerate(v.annotators)
        ]
        if self.result is not None:  # white on a dark swatch: it shows on a light dialog too
            entries.append(
                f'<span style="color: white; background-color: #303030">■</span> {self.result_by}'
            )
        self.legend.setText(" &nbsp; ".join(entries))

    # -- drawing ---------------------------------------------------------------------------------
    def _build(self, keep_range: bool = False) -> None:
        old_range = self.views[0].viewRange() if keep_range and self.views else None
        self.graphics.clear()
        self.views = []
        v = self.versions
        if v is None:
            return
        self._legend()
        # a class or target: the image alone, each one's value in the legend
        layers = list(range(len(v.annotators))) if v.kind in ("mask", "boxes") else []
        if self.side_by_side.isChecked() and layers:
            panes = [[i] for i in layers] + ([["result"]] if self.result is not None else [])
            columns = self._columns(len(panes))
        else:
            panes = [[*layers, "result"]]
            columns = 1
        for n, pane in enumerate(panes):
            view = self._view(pane, n, columns, side=len(panes) > 1)
            if self.views:
                view.setXLink(self.views[0])
                view.setYLink(self.views[0])
            self.views.append(view)
        if len(panes) > 1:  # equal panes, whatever the length of their titles
            for c in range(columns):
                self.graphics.ci.layout.setColumnStretchFactor(c, 1)
        if old_range is not None:
            self.views[0].setRange(xRange=old_range[0], yRange=old_range[1], padding=0)
        else:
            height, width = v.image.shape[:2]
            self.views[0].setRange(QRectF(0, 0, width, height), padding=0.02)

    def _columns(self, n: int) -> int:
        """The number of columns that gives ``n`` square panes the largest side."""
        width, height = max(1, self.graphics.width()), max(1, self.graphics.height() - 20 * n)

        def side(c: int) -> float:
            rows = -(-n // c)
            return min(width / c, height / rows)

        return max(range(1, n + 1), key=lambda c: (side(c), -c))

    def _view(self, pane: list, n: int, columns: int, side: bool) -> pg.ViewBox:
        v = self.versions
        assert v is not None
        if side:
            who = pane[0]
            text = self.result_by if who == "result" else f"{who + 1}: {v.annotators[who]}"
            colour = RESULT_COLOUR if who == "result" else colour_of(who)
            self.graphics.addLabel(text, row=2 * (n // columns), col=n % columns, color=colour)
            view = self.graphics.addViewBox(
                row=2 * (n // columns) + 1, col=n % columns, lockAspect=True, invertY=True
            )
        else:
            view = self.graphics.addViewBox(lockAspect=True, invertY=True)
        view.setMenuEnabled(False)
        big = max(v.image.shape[:2]) > DOWNSAMPLE_ABOVE
        image = pg.ImageItem(v.image, axisOrder="row-major", levels=v.levels, autoDownsample=big)
        view.addItem(image)
        for who in pane:
            if who == "result":
                if self.result is not None:  # alone in its pane: filled as the others
                    data = self.result_codes if v.kind == "mask" else self.result
                    self._draw(view, data, RESULT_COLOUR, fill=side, dashed=True)
            else:
                person = v.annotators[who]
                data = self.codes[person] if v.kind == "mask" else v.boxes[person]
                self._draw(view, data, colour_of(who), fill=True, dashed=False)
        return view

    def _draw(self, view: pg.ViewBox, data, colour, fill: bool, dashed: bool) -> None:
        assert self.versions is not None
        if self.versions.kind == "mask":  # data: mask codes
            layer = pg.ImageItem(
                data, axisOrder="row-major", lut=code_lut(colour, fill), levels=(0, 255)
            )
            layer.setZValue(5)
            view.addItem(layer)
            return
        pen = QPen(QColor(*colour), 2)
        pen.setCosmetic(True)
        if dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        for label, x, y, w, h in data:
            rect = QGraphicsRectItem(QRectF(x, y, w, h))
            rect.setPen(pen)
            rect.setZValue(10)
            view.addItem(rect)
            if not dashed:  # the class, as the canvas tags a box (the consensus: by position)
                tag = pg.TextItem(str(label), color=colour, anchor=(0, 1))
                tag.setPos(x, y)
                tag.setZValue(11)
                view.addItem(tag)
