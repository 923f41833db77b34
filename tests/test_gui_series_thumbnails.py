"""The Browser's thumbnails of a series project (Import ▸ series of the real ``edge20mm_*``
frames): each frame's thumbnail is that frame's (the same as the frame's file on its own gets),
not all black, and the table draws it as those pixels whether its row is selected or not.

Reported: "thumbnails looked black for frames 1-3, frame 0 fine". Each frame is mostly a 20 mm
absorbing plate (near-black at the 0.5-99.5 % levels the viewer uses too) in a bright open
beam; the first row, selected after the import, was drawn tinted by the selection colour."""

from __future__ import annotations

import io
import shutil

import numpy as np
import tifffile
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.thumbnails import render_thumbnail
from qbi_desktop.gui.docks.browser_model import COL_THUMB, ITEM_ID_ROLE, THUMB_SIZE

try:
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pragma: no cover - rootdir without package
    from conftest import RADIOGRAPHS, need


def _rgb(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    rows = np.frombuffer(bytes(image.constBits()), np.uint8).reshape(h, stride)
    return rows[:, : w * 3].reshape(h, w, 3).astype(np.int16)


def _drawn_as(cell: np.ndarray, thumb: np.ndarray) -> float:
    """The mean difference (grey levels) between ``thumb`` and the best-matching place of the
    same size in the painted ``cell`` (where the style put the icon)."""
    th, tw = thumb.shape[:2]
    return min(
        float(np.abs(cell[y : y + th, x : x + tw] - thumb).mean())
        for y in range(cell.shape[0] - th + 1)
        for x in range(cell.shape[1] - tw + 1)
    )


def test_series_thumbnails_are_each_frames_own_and_drawn_untinted_when_selected(
    qtbot, main_window, tmp_path
):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        shutil.copy(need(RADIOGRAPHS / f"edge20mm_000{i}.tif"), folder / f"edge20mm_000{i}.tif")
    open_project(tmp_path / "proj", create=True).close()
    panel = main_window.panels["browser"]
    assert panel.open_project(tmp_path / "proj")

    def fill():  # Dataset ▸ Import…, kind "series", as a user fills the dialog
        dialog = QApplication.activeModalWidget()
        dialog.kind.setCurrentIndex(dialog.kind.findData("series"))
        dialog.sources.addItem(str(folder / "edge20mm_####.tif"))
        dialog.accept()

    QTimer.singleShot(50, fill)
    panel.import_dialog()
    model, table = panel.model, panel.table
    qtbot.waitUntil(lambda: model.rowCount() == 4, timeout=20000)
    names = [model.item(r)["name"] for r in range(4)]
    assert names == [f"edge20mm#000{i}" for i in range(4)]

    def thumbs():
        return [
            model.data(model.index(r, COL_THUMB), Qt.ItemDataRole.DecorationRole) for r in range(4)
        ]

    qtbot.waitUntil(lambda: all(t is not None for t in thumbs()), timeout=30000)

    # each frame's thumbnail is the one its file gets on its own, and shows the open beam
    with open_project(tmp_path / "proj") as project:
        ids = [model.data(model.index(r, 0), ITEM_ID_ROLE) for r in range(4)]
        cached = project.thumbnails(ids, THUMB_SIZE)
    for r, item_id in enumerate(ids):
        frame = tifffile.imread(folder / f"edge20mm_000{r}.tif")
        alone = np.asarray(Image.open(io.BytesIO(render_thumbnail(frame, THUMB_SIZE))), np.int16)
        mine = np.asarray(Image.open(io.BytesIO(cached[item_id])), np.int16)
        assert np.abs(mine - alone).mean() < 1.0, names[r]
        assert (mine > 100).mean() > 0.1, f"{names[r]}: its thumbnail is all dark"

    # a frame other than the first selected, as a click does: every row is drawn as its pixels
    for selected in (2, 0):
        rect = table.visualRect(model.index(selected, 1))
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.waitUntil(
            lambda s=selected: (
                table.selectionModel().isRowSelected(s) and all(t is not None for t in thumbs())
            ),
            timeout=20000,
        )
        QApplication.processEvents()
        shot = _rgb(table.viewport().grab().toImage())
        for r, pixmap in enumerate(thumbs()):
            cell = table.visualRect(model.index(r, COL_THUMB))
            painted = shot[cell.top() : cell.bottom() + 1, cell.left() : cell.right() + 1]
            thumb = _rgb(pixmap.toImage())
            off = _drawn_as(painted, thumb)
            state = "selected" if r == selected else "not selected"
            assert off < 3.0, f"{names[r]} ({state}) is drawn {off:.1f} grey levels off"
            assert (painted > 100).all(axis=-1).mean() > 0.05, f"{names[r]} drawn all dark"
