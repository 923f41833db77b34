"""Annotate's files in the real window: where Ctrl+S proposes to save, what the journal count
says, a journal planted beside an image, the same file opened twice, and what a killed run left
being reported at the next start."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import tifffile
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

try:
    from tests.conftest import open_and_wait
except ImportError:  # pragma: no cover
    from conftest import open_and_wait

from qbi_desktop.core.annotation import mask_index
from qbi_desktop.core.annotation.journal import MAGIC, ImageIdentity, Journal
from qbi_desktop.core.annotation.masks import MaskEditor
from qbi_desktop.core.maskio import load_mask
from qbi_desktop.core.paths import user_dir

SHAPE = (120, 160)


def _write_image(path: Path, seed: int = 0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 4000, SHAPE, dtype=np.uint16)
    tifffile.imwrite(path, image)
    return image


def _ready(qtbot, window, path):
    open_and_wait(qtbot, window, path)
    panel = window.panels["annotate"]
    panel.unsaved_answer = "discard"  # pytest-qt closes the window: never ask
    qtbot.waitUntil(lambda: panel.session is not None and panel.session.identity is not None)
    return panel


def _stroke(qtbot, window, points) -> None:
    """A brush stroke with real mouse events through image points (x, y)."""
    canvas = window.canvas
    canvas.view.setRange(xRange=(0, SHAPE[1]), yRange=(0, SHAPE[0]), padding=0)
    QApplication.processEvents()
    vp = canvas.viewport()

    def at(x, y):
        return canvas.viewportTransform().map(canvas.view.mapViewToScene(QPointF(x, y))).toPoint()

    pos = [at(x, y) for x, y in points]
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=pos[0])
    for p in pos[1:]:
        qtbot.mouseMove(vp, p)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=pos[-1])


def _ctrl(qtbot, window, key, shift=False) -> None:
    for box in QApplication.topLevelWidgets():  # the user clicks OK on messages first
        if isinstance(box, QMessageBox) and box.isVisible():
            box.close()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    window.canvas.setFocus()
    mods = Qt.KeyboardModifier.ControlModifier
    if shift:
        mods |= Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.canvas, key, mods)


class SaveDialog:
    """Stands in for the user at the native save dialog: records what was proposed, answers."""

    def __init__(self, monkeypatch, answer=None):
        self.proposed: list[str] = []
        self.answer = answer

        def fake(_parent, _title, proposed, _filter):
            self.proposed.append(proposed)
            return (str(self.answer) if self.answer else "", "")

        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake))


def test_ctrl_s_proposes_the_masks_folder_not_the_raw_data_folder(
    qtbot, main_window, tmp_path, monkeypatch
):
    """13.10: a new mask is proposed in the user's masks folder; the folder chosen is
    remembered for the next image; nothing (journal, spots) is left beside the saved mask."""
    window = main_window
    raw = tmp_path / "beamline" / "raw"
    _write_image(raw / "scan_0001.tif")
    _write_image(raw / "scan_0002.tif", seed=1)
    panel = _ready(qtbot, window, raw / "scan_0001.tif")
    panel.set_tool("brush")
    _stroke(qtbot, window, [(30, 30), (60, 30)])
    dialog = SaveDialog(monkeypatch)
    _ctrl(qtbot, window, Qt.Key.Key_S)
    assert len(dialog.proposed) == 1
    proposed = Path(dialog.proposed[0])
    assert proposed.parent == mask_index.default_folder()
    assert proposed.parent.is_dir() and not proposed.is_relative_to(raw)
    assert proposed.name == "scan_0001.mask.tif"
    assert panel.session.modified  # cancelled: nothing saved

    chosen = tmp_path / "my masks"
    chosen.mkdir()
    dialog.answer = chosen / "first.mask.tif"
    _ctrl(qtbot, window, Qt.Key.Key_S)
    assert not panel.session.modified
    assert np.array_equal(load_mask(dialog.answer, SHAPE), panel.session.mask)
    assert sorted(p.name for p in chosen.iterdir()) == ["first.mask.tif"]
    assert list(raw.iterdir()) == [raw / "scan_0001.tif", raw / "scan_0002.tif"] or sorted(
        raw.iterdir()
    ) == [raw / "scan_0001.tif", raw / "scan_0002.tif"]

    # the next image's new mask is proposed in the folder chosen last
    _ready(qtbot, window, raw / "scan_0002.tif")
    _stroke(qtbot, window, [(80, 80), (90, 90)])
    dialog.answer = None
    _ctrl(qtbot, window, Qt.Key.Key_S)
    assert Path(dialog.proposed[-1]) == chosen / "scan_0002.mask.tif"


def test_reopening_the_image_loads_the_mask_saved_elsewhere(
    qtbot, main_window, tmp_path, monkeypatch
):
    window = main_window
    image_path = tmp_path / "raw" / "scan.tif"
    _write_image(image_path)
    panel = _ready(qtbot, window, image_path)
    panel.set_tool("brush")
    _stroke(qtbot, window, [(30, 30), (60, 30)])
    painted = panel.session.mask.copy()
    SaveDialog(monkeypatch, answer=tmp_path / "out" / "scan.mask.tif")
    (tmp_path / "out").mkdir()
    _ctrl(qtbot, window, Qt.Key.Key_S, shift=True)
    assert not panel.session.modified
    window.close_current()
    assert window.current is None
    panel = _ready(qtbot, window, image_path)
    qtbot.waitUntil(lambda: panel.session.ready)
    assert panel.session.mask_path == tmp_path / "out" / "scan.mask.tif"
    assert np.array_equal(panel.session.mask, painted)


def test_journal_count_after_undo_and_redo(qtbot, main_window, tmp_path):
    """13.10: the status line's journal count is the strokes a recovery would restore."""
    window = main_window
    image_path = tmp_path / "scan.tif"
    _write_image(image_path)
    panel = _ready(qtbot, window, image_path)
    panel.set_tool("brush")
    for y in (20, 50, 80):
        _stroke(qtbot, window, [(20, y), (40, y)])
    assert "journal: 3 stroke(s)" in panel.status.text()
    _ctrl(qtbot, window, Qt.Key.Key_Z)
    assert panel.session.editor.undo_depth == 2
    assert "journal: 2 stroke(s)" in panel.status.text()
    _ctrl(qtbot, window, Qt.Key.Key_Z, shift=True)
    assert "journal: 3 stroke(s)" in panel.status.text()
    # and that is what a recovery gives back
    assert Journal.pending_at(panel.session.journal.path, panel.session.identity).n_strokes == 3


def _record(payload: bytes) -> bytes:
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def test_planted_journal_beside_an_image_is_refused_in_the_window(
    qtbot, main_window, tmp_path, monkeypatch
):
    """17.1 in the real window, with recovery answered automatically: the journal beside the
    image that names another mask file is refused with a message naming it; nothing is
    recovered; Ctrl+S asks (proposing the masks folder) and nothing is written where the
    journal pointed."""
    monkeypatch.setenv("QBI_ANNOTATE_AUTO_RECOVER", "recover")
    window = main_window
    image_path = tmp_path / "shared" / "scan.tif"
    image = _write_image(image_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    ident = ImageIdentity.of(image, image_path)
    made = tmp_path / "made.journal"
    journal = Journal.open_at(made, ident)
    MaskEditor(SHAPE, on_commit=journal).dab(50, 50, 10)
    journal.close()
    data = made.read_bytes()
    n = struct.unpack_from("<I", data, len(MAGIC))[0]
    header = json.loads(data[len(MAGIC) + 9 : len(MAGIC) + 8 + n])
    header["mask_path"] = str(outside / "evil.mask.tif")
    planted = image_path.with_name("scan.mask.tif.journal")
    blob = MAGIC + _record(b"H" + json.dumps(header).encode()) + data[len(MAGIC) + 8 + n :]
    planted.write_bytes(blob)

    panel = _ready(qtbot, window, image_path)
    qtbot.waitUntil(lambda: panel.session.ready)
    assert str(planted) in window.last_error and "refused" in window.last_error
    assert not panel.session.mask.any() and not panel.session.unsaved_base
    dialog = SaveDialog(monkeypatch)
    _ctrl(qtbot, window, Qt.Key.Key_S)
    assert dialog.proposed and not dialog.proposed[0].startswith(str(outside))
    panel.set_tool("brush")
    _stroke(qtbot, window, [(20, 20), (30, 20)])
    assert panel.session.journal.path.parent == user_dir("recovery")
    assert list(outside.iterdir()) == []
    assert planted.read_bytes() == blob


def test_opening_an_open_file_again_shows_it_and_keeps_one_journal(qtbot, main_window, tmp_path):
    """13.6: a second open of the same file (another spelling of its path too) focuses the
    open document: no second copy, no recovery offer of its own live strokes."""
    window = main_window
    image_path = tmp_path / "scan.tif"
    other = tmp_path / "other.tif"
    _write_image(image_path)
    _write_image(other, seed=3)
    panel = _ready(qtbot, window, image_path)
    panel.set_tool("brush")
    _stroke(qtbot, window, [(30, 30), (60, 30)])
    first = window.current
    journal = panel.session.journal.path
    before = journal.read_bytes()
    _ready(qtbot, window, other)
    assert window.current is not first
    again = window.open_file(tmp_path / "." / "scan.tif")
    qtbot.waitUntil(lambda: again.finished)
    qtbot.waitUntil(lambda: window.current is first)
    assert len(window.documents) == 2 and window.files_list.count() == 2
    assert window.files_list.currentRow() == window.documents.index(first)
    assert panel.session is panel.session_for(first)
    assert panel.session.ready and panel.recovery_box is None
    assert journal.read_bytes() == before
    _stroke(qtbot, window, [(30, 60), (60, 60)])
    assert panel.session.journal.n_strokes == 2


def test_next_start_reports_unsaved_strokes_and_opens_them(qtbot, settings_dir, tmp_path):
    """17.9 / 13.10: a journal with strokes left by a killed run is reported when the window
    starts; "Open these images" opens the image and its strokes are offered."""
    from qbi_desktop.gui.main_window import MainWindow

    image_path = tmp_path / "scan.tif"
    image = _write_image(image_path)
    from qbi_desktop.core.annotation.journal_places import journal_path

    ident = ImageIdentity.of(image, image_path)
    journal = Journal.open_at(journal_path(ident, image_path), ident)
    MaskEditor(SHAPE, on_commit=journal).dab(40, 40, 6)
    journal.close()  # as by kill -9

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    panel = window.panels["annotate"]
    panel.unsaved_answer = "discard"
    qtbot.waitUntil(lambda: panel.leftovers is not None, timeout=10000)
    box = panel.leftovers_box
    assert box is not None and box.isVisible()
    assert "scan.tif (1 stroke(s))" in box.text()
    button = next(b for b in box.buttons() if b.text() == "Open these images")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.current is not None, timeout=10000)
    qtbot.waitUntil(lambda: panel.session is not None and panel.session.recovery is not None)
    assert panel.session.recovery.n_strokes == 1
    window.tasks.cancel_all()
    window.tasks.wait(5000)
    window.close()
