"""Dataset > Audit…: the selected row shows the item's picture, and for a leak or a duplicate
the related item's beside it (the review rows were names only); the pictures are the Browser's
thumbnails of those items."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from sklearn.datasets import load_digits

from qbi_desktop.core.catalog.thumbnails import render_thumbnail

try:
    from tests.gui_audit_helpers import digits_project, open_audit
except ImportError:  # pragma: no cover
    from gui_audit_helpers import digits_project, open_audit
from qbi_desktop.gui.docks.audit_detail import PICTURE


def _grey(picture) -> np.ndarray:
    """A pixmap's (or image's) grey levels as an array."""
    image = picture if isinstance(picture, QImage) else picture.toImage()
    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    w, h = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, image.bytesPerLine() * h)
    return data.reshape(h, image.bytesPerLine())[:, :w].copy()


def _expected(pixels: np.ndarray) -> np.ndarray:
    """The item's thumbnail as the Browser renders it, at the detail's size."""
    image = QImage()
    assert image.loadFromData(render_thumbnail(pixels), "PNG")
    scaled = image.scaled(
        PICTURE,
        PICTURE,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.FastTransformation,
    )
    return _grey(scaled)


def test_a_leak_row_shows_both_items_side_by_side(qtbot, main_window, tmp_path):
    d = load_digits()
    x = (d.images[:400] * 16).clip(0, 255).astype(np.uint8)
    y = d.target[:400].copy()
    y[70] = (y[70] + 4) % 10  # a wrong label
    x[399] = x[10]  # a copy of a training item in the test split: a leak
    root, _ids = digits_project(tmp_path, x, y, train=300)
    dialog = open_audit(qtbot, main_window, root)
    pictures = dialog.pictures

    row = next(
        r for r, i in enumerate(dialog.rows) if i.kind == "leak" and i.item == "digits-x_train-399"
    )
    dialog.table.selectRow(row)
    issue = dialog.rows[row]
    assert issue.related_item == "digits-x_train-010"
    shown = pictures.pictures
    qtbot.waitUntil(lambda: all(not p.pixmap().isNull() for p in shown), timeout=20000)
    assert all(p.isVisible() for p in shown)
    for picture, index in zip(shown, (399, 10), strict=True):
        grey = _grey(picture.pixmap())
        assert grey.std() > 20  # a digit, not an empty tile
        np.testing.assert_array_equal(grey, _expected(x[index]))
    assert "digits-x_train-399" in pictures.captions[0].text()
    assert "digits-x_train-010" in pictures.captions[1].text()

    # a wrong-label row: the item alone, its given and suggested label under it
    row = next(
        r for r, i in enumerate(dialog.rows) if i.kind == "label" and i.item == "digits-x_train-070"
    )
    dialog.table.selectRow(row)
    qtbot.waitUntil(lambda: not shown[0].pixmap().isNull(), timeout=20000)
    np.testing.assert_array_equal(_grey(shown[0].pixmap()), _expected(x[70]))
    assert not shown[1].isVisible()
    assert f"given '{y[70]}'" in pictures.captions[0].text()
    dialog.grab().save(str(tmp_path / "audit.png"))
    dialog.table.selectRow(next(r for r, i in enumerate(dialog.rows) if i.kind == "leak"))
    qtbot.waitUntil(lambda: not shown[1].pixmap().isNull(), timeout=20000)
    dialog.grab().save(str(tmp_path / "audit-leak.png"))
