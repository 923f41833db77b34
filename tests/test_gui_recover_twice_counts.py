"""Recover, crash again, start again: every count shown says what there is to recover.

The user's walk-through: after a recovery the status read "journal: 0 stroke(s) safe on disk"
while the mask was modified, and after the next crash the start-up message and the recovery
prompt said "0 stroke(s)" yet restored work. The recovered mask, saved nowhere yet, is in the
journal as its base: it is unsaved work and is named as such. Real windows, real key presses
and clicks, a journal left as by kill -9.
"""

from __future__ import annotations

import numpy as np
import tifffile
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from qbi_desktop.core.annotation.journal import ImageIdentity, Journal
from qbi_desktop.core.annotation.journal_places import journal_path
from qbi_desktop.core.annotation.masks import MaskEditor
from qbi_desktop.gui.main_window import MainWindow

SHAPE = (60, 80)


def _click(qtbot, box: QMessageBox, text: str) -> None:
    button = next(b for b in box.buttons() if b.text() == text)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _window(qtbot) -> MainWindow:
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    return window


def _recover_offered(qtbot, window, path):
    panel = window.panels["annotate"]
    panel.unsaved_answer = "discard"
    task = window.open_file(path)
    qtbot.waitUntil(lambda: task.finished, timeout=10000)
    qtbot.waitUntil(
        lambda: panel.session is not None and panel.recovery_box is not None, timeout=10000
    )
    return panel


def test_counts_after_recover_then_crash_name_the_recovered_mask(qtbot, main_window, tmp_path):
    path = tmp_path / "scan.tif"
    image = np.random.default_rng(0).integers(0, 4000, SHAPE, dtype=np.uint16)
    tifffile.imwrite(path, image)
    ident = ImageIdentity.of(image, path)
    journal = Journal.open_at(journal_path(ident, path), ident)
    editor = MaskEditor(SHAPE, on_commit=journal)
    editor.dab(20, 20, 4)
    journal.close()  # as by kill -9: one stroke
    painted = editor.mask.copy()

    panel = _recover_offered(qtbot, main_window, path)
    assert "1 stroke(s)" in panel.recovery_box.text()
    _click(qtbot, panel.recovery_box, "Recover")
    session = panel.session
    assert np.array_equal(session.mask, painted) and session.modified
    status = panel.status.text()
    assert "0 stroke(s)" not in status  # the recovered mask is unsaved work, on disk
    assert "journal: a mask recovered earlier, never saved, safe on disk" in status
    session.journal.close()  # the second crash: nothing saved since the recovery

    again = _window(qtbot)  # the next start
    try:
        annotate = again.panels["annotate"]
        annotate.unsaved_answer = "discard"
        qtbot.waitUntil(lambda: annotate.leftovers is not None, timeout=10000)
        box = annotate.leftovers_box
        assert box is not None and "0 stroke(s)" not in box.text()
        assert "scan.tif (a mask recovered earlier, never saved)" in box.text()
        box.close()
        panel2 = _recover_offered(qtbot, again, path)
        text = panel2.recovery_box.text()
        assert "0 stroke(s)" not in text and "a mask recovered earlier, never saved" in text
        assert "unsaved work found" in panel2.status.text()
        _click(qtbot, panel2.recovery_box, "Recover")
        assert np.array_equal(panel2.session.mask, painted)
    finally:
        again.tasks.cancel_all()
        again.tasks.wait(5000)
        again.close()
