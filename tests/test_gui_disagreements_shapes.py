"""Review Disagreements for masks and boxes: the item's image with each annotator's version in
their colour (overlaid or side by side), take one (keys 1..n), merge (majority vote, STAPLE,
matched boxes), undo, and edit the consensus in the canvas.

Real window, a real neutron radiograph imported into a real project; the catalog read back.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication
from scipy import ndimage

from qbi_desktop.core.catalog import Box, open_project
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.quality.merge import merge_boxes, merge_masks
from qbi_desktop.core.quality.staple import staple
from qbi_desktop.gui.docks.disagreement_view import colour_of

try:
    from tests.conftest import RADIOGRAPHS, need
    from tests.gui_disagreements_helpers import item_mask as _mask
    from tests.gui_disagreements_helpers import open_queue as _open_queue
    from tests.gui_disagreements_helpers import two_annotator_project
except ImportError:  # pragma: no cover
    from conftest import RADIOGRAPHS, need
    from gui_disagreements_helpers import item_mask as _mask
    from gui_disagreements_helpers import open_queue as _open_queue
    from gui_disagreements_helpers import two_annotator_project


def _project(tmp_path: Path) -> tuple[Path, int, np.ndarray, np.ndarray]:
    """The radiograph as one item; Ada and Bob marked the absorbing plate differently (Bob's
    edge lies 12 px to the right); Ada saved last, so the item's mask is hers."""
    import tifffile

    radiograph = need(RADIOGRAPHS / "edge20mm_0000.tif")

    folder = tmp_path / "images" / "plate"
    folder.mkdir(parents=True)
    shutil.copy(radiograph, folder / "edge0.tif")
    image = tifffile.imread(radiograph).astype(float)
    ada = (ndimage.uniform_filter(image, 15) < 10000).astype(np.uint8)
    bob = np.roll(ada, 12, axis=1)
    bob[:, :12] = 0
    root, item = two_annotator_project(tmp_path, ada, bob)
    return root, item, ada, bob


def _select(qtbot, queue, item, kind):
    row = [(d.item, d.kind) for d in queue.shown()].index((item, kind))
    queue.table.setCurrentCell(row, 0)
    v = queue.view
    qtbot.waitUntil(
        lambda: v.versions is not None and (v.versions.item, v.versions.kind) == (item, kind),
        timeout=10000,
    )


def _key(qtbot, queue, key, modifier=Qt.KeyboardModifier.NoModifier):
    queue.table.setFocus()
    qtbot.keyClick(queue.table, key, modifier)


def _pixels_of(widget, colour, tolerance=12) -> int:
    """How many pixels of the grabbed widget have ``colour``."""
    QApplication.processEvents()
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    rgb = np.frombuffer(image.constBits(), np.uint8, image.bytesPerLine() * h)
    rgb = rgb.reshape(h, image.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).astype(int)
    return int((np.abs(rgb - np.array(colour)).max(axis=2) <= tolerance).sum())


def _decided(qtbot, queue) -> None:
    """Wait until the mask decision (computed and written on a worker) is in."""
    qtbot.waitUntil(lambda: not queue.busy(), timeout=15000)


def test_mask_disagreement_shown_taken_merged_undone_and_edited(qtbot, main_window, tmp_path):
    pg.setConfigOption("mouseRateLimit", -1)
    window = main_window
    root, item, ada, bob = _project(tmp_path)
    queue = _open_queue(qtbot, window, root)
    _select(qtbot, queue, item, "mask")
    view = queue.view
    # both annotators' masks show, each in its own colour; the legend names them
    ada_px = _pixels_of(view.graphics, colour_of(0))
    bob_px = _pixels_of(view.graphics, colour_of(1))
    assert ada_px > 200 and bob_px > 200, (ada_px, bob_px)
    assert "1: Ada" in view.legend.text() and "2: Bob" in view.legend.text()
    both = np.count_nonzero(ada & bob)
    dice = 2 * both / (ada.sum() + bob.sum())
    assert f"Dice {dice:.3f}" in view.figures.text()

    # key 2 takes Bob's mask as the item's mask
    _key(qtbot, queue, Qt.Key.Key_2)
    _decided(qtbot, queue)
    mask, who = _mask(root, item)
    np.testing.assert_array_equal(mask, bob)
    assert who == "consensus of Ada, Bob by Bob's version"
    assert _pixels_of(view.graphics, (255, 255, 255), tolerance=0) > 200  # the consensus, white
    # Ctrl+Z puts Ada's (the item's mask before) back (written on a worker)
    _key(qtbot, queue, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    _decided(qtbot, queue)
    mask, who = _mask(root, item)
    np.testing.assert_array_equal(mask, ada)
    assert who == "Ada"
    queue.redo()
    _decided(qtbot, queue)
    np.testing.assert_array_equal(_mask(root, item)[0], bob)

    # merge by majority vote and by STAPLE: what the core computes
    queue.method.setCurrentIndex(queue.method.findData("majority"))
    qtbot.mouseClick(queue.merge_button, Qt.MouseButton.LeftButton)
    _decided(qtbot, queue)
    mask, who = _mask(root, item)
    np.testing.assert_array_equal(mask, merge_masks([ada, bob], "majority"))
    assert who == "consensus of Ada, Bob by majority vote"
    queue.method.setCurrentIndex(queue.method.findData("staple"))
    _key(qtbot, queue, Qt.Key.Key_M)
    _decided(qtbot, queue)
    mask, who = _mask(root, item)
    np.testing.assert_array_equal(mask != 0, staple([ada, bob]).mask)
    assert who == "consensus of Ada, Bob by STAPLE"
    with open_project(root) as project:  # the people's own masks are untouched
        from qbi_desktop.core.catalog.opinions import for_item, load_mask

        mine = for_item(project.db, item)
        np.testing.assert_array_equal(load_mask(project, mine["Bob"]["mask"], item, "Bob"), bob)
        assert project.history(item)[-1]["annotator"] == who

    # side by side: a view per annotator and one for the consensus, zoom and pan linked
    _key(qtbot, queue, Qt.Key.Key_S)
    assert len(view.views) == 3
    QApplication.processEvents()
    view.views[0].setRange(xRange=(100, 200), yRange=(100, 200), padding=0)
    QApplication.processEvents()
    for other in view.views[1:]:  # the same centre and the same screen pixels per image pixel
        (x0, x1), (y0, y1) = other.viewRange()
        assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((150, 150), abs=0.5)
        assert other.viewPixelSize() == pytest.approx(view.views[0].viewPixelSize(), rel=1e-3)
    assert _pixels_of(view.graphics, colour_of(0)) > 0 and _pixels_of(view.graphics, colour_of(1))

    # E opens the consensus in the canvas; what is saved there names the editor
    annotate = window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    _key(qtbot, queue, Qt.Key.Key_E)

    def opened() -> bool:
        s = annotate.session
        return s is not None and s.ready and s.store is not None and s.store.item_id == item

    qtbot.waitUntil(opened, timeout=15000)
    session = annotate.session
    np.testing.assert_array_equal(session.mask != 0, staple([ada, bob]).mask)
    annotate.set_tool("brush")
    annotate.controller.set_size(5)
    canvas = window.canvas
    canvas.view.setRange(xRange=(0, 600), yRange=(0, 600), padding=0)
    QApplication.processEvents()
    vp = canvas.viewport()

    def at(x, y) -> QPoint:
        return canvas.viewportTransform().map(canvas.view.mapViewToScene(QPointF(x, y))).toPoint()

    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=at(560, 40))
    qtbot.mouseMove(vp, at(580, 40))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=at(580, 40))
    assert session.mask[40, 570] != 0 and not staple([ada, bob]).mask[40, 570]
    window.activateWindow()  # back in the main window, as a user clicking into the canvas
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    task = annotate.last_save_task
    qtbot.waitUntil(lambda: task is not None and task.finished, timeout=10000)
    assert task.state == "done", task.error
    mask, who = _mask(root, item)
    assert mask[40, 570] != 0
    assert who == "consensus of Ada, Bob by STAPLE/edited by Cleo"
    with open_project(root) as project:  # an edited consensus is nobody's own mask
        assert set(for_item(project.db, item)) == {"Ada", "Bob"}


def test_box_disagreement_shown_merged_taken_and_undone(qtbot, main_window, tmp_path):
    window = main_window
    root, item, _ada, _bob = _project(tmp_path)
    ada = [Box("cell", 100, 100, 80, 60), Box("cell", 300, 300, 50, 50), Box("dust", 20, 20, 9, 9)]
    bob = [Box("cell", 104, 96, 80, 66), Box("cell", 400, 420, 40, 40)]
    with open_project(root) as project:
        project.set_boxes(item, bob, "Bob")
        project.set_boxes(item, ada, "Ada")
    queue = _open_queue(qtbot, window, root)
    _select(qtbot, queue, item, "boxes")
    view = queue.view
    assert _pixels_of(view.graphics, colour_of(0)) > 50
    assert _pixels_of(view.graphics, colour_of(1)) > 50
    assert "F1 0.400" in view.figures.text()  # 1 of 3 and 2 boxes matched: 2*1/5

    def boxes():
        with open_project(root) as project:
            return [(b.label, b.x, b.y, b.w, b.h, b.annotator) for b in project.boxes(item)]

    qtbot.mouseClick(queue.merge_button, Qt.MouseButton.LeftButton)
    expected = merge_boxes({"Ada": view.versions.boxes["Ada"], "Bob": view.versions.boxes["Bob"]})
    assert [b[:5] for b in boxes()] == [tuple(e) for e in expected]
    assert boxes()[0][:5] == ("cell", 102, 98, 80, 63)  # the mean corners of the matched pair
    assert {b[5] for b in boxes()} == {"consensus of Ada, Bob by matched boxes"}
    _key(qtbot, queue, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [b[:5] for b in boxes()] == [(b.label, b.x, b.y, b.w, b.h) for b in ada]
    _key(qtbot, queue, Qt.Key.Key_1)  # Ada's
    assert [b[:5] for b in boxes()] == [(b.label, b.x, b.y, b.w, b.h) for b in ada]
    assert {b[5] for b in boxes()} == {"consensus of Ada, Bob by Ada's version"}
    # E opens the item in the canvas: a box drawn there is written under the consensus' name
    annotate = window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    _key(qtbot, queue, Qt.Key.Key_E)

    def box_session():
        s = annotate.boxes.session
        store = getattr(s, "store", None)
        return s if store is not None and getattr(store, "item_id", None) == item else None

    qtbot.waitUntil(lambda: box_session() is not None, timeout=15000)
    session = box_session()
    assert [(b.label, b.x) for b in session.boxes] == [(b.label, b.x) for b in ada]
    assert session.add(Box("cell", 450, 100, 30, 30))
    edited = "consensus of Ada, Bob by Ada's version/edited by Cleo"
    assert boxes()[-1] == ("cell", 450, 100, 30, 30, edited)
    with open_project(root) as project:  # nobody's own boxes changed
        from qbi_desktop.core.catalog.opinions import for_item

        assert len(for_item(project.db, item)["Ada"]["boxes"]) == 3
    # A accepts the item, as in the spot review
    queue.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is queue, timeout=3000)
    row = [(d.item, d.kind) for d in queue.shown()].index((item, "boxes"))
    queue.table.setCurrentCell(row, 0)
    _key(qtbot, queue, Qt.Key.Key_A)
    with open_project(root) as project:
        assert project.get(item)["review"] == "accepted"


def test_masks_of_different_shapes_are_refused_in_the_view(qtbot, main_window, tmp_path):
    root, item, ada, _bob = _project(tmp_path)
    with open_project(root) as project:
        project.set_mask(item, ada[:300], "Bob")  # half a mask: another shape
    queue = _open_queue(qtbot, main_window, root)
    # the report itself refuses the item (listed as a problem, not as a disagreement) ...
    assert all(d.kind != "mask" for d in queue.shown())
    # ... and the view, asked anyway, says which item and who drew which shape
    from qbi_desktop.gui.docks.disagreement_shapes import versions_job

    with pytest.raises(Exception, match=r"different shapes \(Ada: 600x600, Bob: 300x600\)"):
        run_job(versions_job(root, item, "mask"))


def test_edit_without_a_consensus_merges_first_then_opens_it(qtbot, main_window, tmp_path):
    root, item, ada, bob = _project(tmp_path)
    queue = _open_queue(qtbot, main_window, root)
    _select(qtbot, queue, item, "mask")
    annotate = main_window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    assert queue.method.currentData() == "majority"
    _key(qtbot, queue, Qt.Key.Key_E)

    def opened() -> bool:
        s = annotate.session
        return s is not None and s.ready and s.store is not None and s.store.item_id == item

    qtbot.waitUntil(opened, timeout=15000)
    majority = merge_masks([ada, bob], "majority")
    np.testing.assert_array_equal(annotate.session.mask, majority)
    assert annotate.session.store.annotator == (
        "consensus of Ada, Bob by majority vote/edited by Cleo"
    )
    mask, who = _mask(root, item)
    np.testing.assert_array_equal(mask, majority)
    assert who == "consensus of Ada, Bob by majority vote"
    assert "white" in queue.view.legend.text() and "majority vote" in queue.view.legend.text()
