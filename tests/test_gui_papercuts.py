"""Small things a new user trips over in the viewer: the wheel over docks, message boxes and
focus, same-named files, the empty window, the Help menu."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import open_and_wait
from gui_window_events import wheel_through_window
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QScrollArea,
    QScrollBar,
)

REPO = Path(__file__).resolve().parents[1]


def _value(widget):
    if isinstance(widget, QComboBox):
        return widget.currentIndex()
    if isinstance(widget, QAbstractSpinBox):
        return widget.text()
    return widget.value()


def test_wheel_over_dock_controls_scrolls_instead_of_changing_them(qtbot, main_window):
    dock = main_window.docks["levels"]
    dock.setFloating(True)
    dock.resize(320, 140)  # the panel is taller than this: its scroll area scrolls
    QApplication.processEvents()
    scroll = dock.widget()
    assert isinstance(scroll, QScrollArea)
    bar = scroll.verticalScrollBar()
    assert bar.maximum() > 0
    cmap = main_window.levels_panel.cmap
    scroll.ensureWidgetVisible(cmap)
    bar.setValue(0)
    before = cmap.currentIndex()
    assert wheel_through_window(cmap, -1)
    assert cmap.currentIndex() == before, "the wheel changed the colour map while scrolling"
    assert bar.value() > 0, "the dock did not scroll"
    assert not cmap.hasFocus()
    # with focus (clicked or tabbed into) the wheel does change it
    cmap.setFocus(Qt.FocusReason.TabFocusReason)
    assert wheel_through_window(cmap, -1)
    assert cmap.currentIndex() == before + 1


def test_wheel_changes_no_control_in_any_dock(qtbot, main_window):
    QApplication.processEvents()
    kinds = (QComboBox, QAbstractSpinBox, QAbstractSlider)
    changed = []
    seen = 0
    for name, dock in main_window.docks.items():
        dock.show()
        dock.raise_()
        QApplication.processEvents()
        controls = [c for kind in kinds for c in dock.findChildren(kind)]
        for control in controls:
            if isinstance(control, QScrollBar) or not control.isEnabled():
                continue
            if not control.isVisibleTo(dock):
                continue
            dock.widget().ensureWidgetVisible(control)
            QApplication.processEvents()
            before = _value(control)
            for steps in (-1, 1, 1):
                if not wheel_through_window(control, steps):
                    break
                seen += int(steps == -1)
                if _value(control) != before:
                    changed.append(f"{name}: {type(control).__name__} {control.objectName()}")
                    break
    assert seen >= 10
    assert changed == []


# On a real X display a newly shown window does not take the keyboard by itself (the offscreen
# platform activates every window it shows, so this runs under Xvfb, as a user's session would).
_BOX_FOCUS_SCRIPT = """
from shiboken6 import isValid
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox
from qbi_desktop.gui.app import create_application
from qbi_desktop.gui.main_window import MainWindow

app = create_application()
window = MainWindow()
window.resize(1200, 800)
window.show()
window.activateWindow()
result = {}

import time
deadline = time.monotonic() + 30  # a loaded machine: wait for states, not fixed times

def error():
    if not window.isActiveWindow() and time.monotonic() < deadline:
        QTimer.singleShot(100, error)  # the window manager has not activated it yet
        return
    window.files_list.setFocus()
    app.processEvents()
    result["before"] = type(QApplication.focusWidget()).__name__
    window.report_error("/data/broken.tif: not a TIFF file")
    QTimer.singleShot(100, enter)

def enter():
    box = next((b for b in window.findChildren(QMessageBox) if b.isVisible()), None)
    focused = QApplication.focusWidget()
    if (box is None or focused is None or not box.isAncestorOf(focused)) and (
        time.monotonic() < deadline
    ):
        QTimer.singleShot(100, enter)  # not shown or not focused yet
        return
    try:
        result["focus_in_box"] = box is not None and focused is not None and box.isAncestorOf(
            focused
        )
        if focused is not None:
            QTest.keyClick(focused, Qt.Key.Key_Return)
            app.processEvents()
        result["box_closed"] = box is None or not isValid(box) or not box.isVisible()
        print(result, flush=True)
    finally:
        window.close()
        app.quit()

QTimer.singleShot(300, error)
app.exec()
"""


def test_error_box_takes_the_keyboard(tmp_path):
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb)")
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", QBI_DESKTOP_HOME=str(tmp_path / "home"))
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [xvfb, "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-c", _BOX_FOCUS_SCRIPT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    outcome = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert outcome["before"] == "QListWidget"
    assert outcome["focus_in_box"], "the error box did not take the keyboard"
    assert outcome["box_closed"], "Enter did not reach the error box"


def test_same_named_files_from_two_folders_are_told_apart(qtbot, main_window, tmp_path):
    paths = []
    for folder, value in (("run1", 100), ("run2", 200)):
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / "edge.tif")
        tifffile.imwrite(paths[-1], np.full((32, 32), value, np.uint16))
    for path in paths:
        open_and_wait(qtbot, main_window, path)
    files = main_window.files_list
    texts = [files.item(r).text() for r in range(files.count())]
    assert texts[0] != texts[1]
    assert "edge.tif" in texts[0] and "run1" in texts[0] and "run2" in texts[1]
    assert [files.item(r).toolTip() for r in range(2)] == [str(p) for p in paths]
    assert "run2" in main_window.windowTitle()
    # one closed: the other goes back to its plain name
    main_window.close_current()
    assert files.count() == 1 and files.item(0).text() == "edge.tif"


def test_empty_window_shows_how_to_open_an_image(qtbot, main_window):
    hint = main_window.canvas.empty_hint
    assert hint.isVisible()
    text = hint.text.text()
    assert "Open" in text and "Drag and drop" in text and "demo" in text
    canvas = main_window.canvas
    assert canvas.rect().contains(hint.geometry())  # all of it inside the canvas
    qtbot.mouseClick(hint.demo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: main_window.current is not None, timeout=30000)
    assert not hint.isVisible()
    while main_window.documents:
        main_window.close_current()
    assert hint.isVisible()


def test_info_min_max_of_integer_images_are_whole_numbers(qtbot, main_window, tmp_path):
    path = tmp_path / "counts32.tif"
    data = np.arange(1_234_000, 1_234_000 + 64 * 64, dtype=np.uint32).reshape(64, 64)
    tifffile.imwrite(path, data)
    open_and_wait(qtbot, main_window, path)
    assert main_window.info_panel.value("Min / max") == f"{data.min()} / {data.max()}"


def _menu_action(window, menu_key: str, text: str):
    return next(
        a for a in window.menus[menu_key].actions() if a.text().replace("&", "").startswith(text)
    )


def test_help_lists_every_shortcut_from_the_actions(qtbot, main_window):
    from qbi_desktop.gui.help import ShortcutsDialog

    _menu_action(main_window, "help", "Keyboard Shortcuts").trigger()
    dialogs = [d for d in main_window.findChildren(ShortcutsDialog) if d.isVisible()]
    assert len(dialogs) == 1
    table = dialogs[0].table
    rows = [tuple(table.item(r, c).text() for c in range(3)) for r in range(table.rowCount())]
    keys = {r[2] for r in rows}
    # every action of the window that has a shortcut is in the table, by its keys
    for action in main_window.findChildren(QAction):
        for sequence in action.shortcuts():
            text = sequence.toString(QKeySequence.SequenceFormat.NativeText)
            assert any(text in k.split(", ") for k in keys), (action.text(), text)
    assert ("File", "Open…", QKeySequence(QKeySequence.StandardKey.Open).toString()) in rows
    assert any(r[0].endswith("panel") for r in rows)  # the panels' own keys too
    dialogs[0].filter.setText("zoom")
    shown = [r for r in range(table.rowCount()) if not table.isRowHidden(r)]
    assert shown and all("zoom" in " ".join(rows[r]).lower() for r in shown)


def test_help_shows_the_readme(qtbot, main_window):
    from qbi_desktop.gui.help import ReadmeDialog

    _menu_action(main_window, "help", "QBI Desktop Help").trigger()
    dialog = next(d for d in main_window.findChildren(ReadmeDialog) if d.isVisible())
    text = dialog.browser.toPlainText()
    assert "Install and run" in text and "Using the viewer" in text
    # rendered, not the Markdown source: no line starts as a Markdown heading
    assert not [line for line in text.splitlines() if line.lstrip().startswith("#")]
