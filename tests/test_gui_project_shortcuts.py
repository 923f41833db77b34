"""The common project actions have standard keys, shown in their menu and in Help's list.

Ctrl+N and Ctrl+E did nothing; New Project and Export had no key. Real key presses on the real
window: Ctrl+N opens the New Project dialog, Ctrl+E (a project open) the Export dialog,
Ctrl+Shift+W closes the project; no key is bound twice.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import tifffile
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

EXPECTED = {"New Project…": "Ctrl+N", "Export…": "Ctrl+E", "Close Project": "Ctrl+Shift+W"}


def _project(base):
    folder = base / "in"
    folder.mkdir()
    for i in range(2):
        tifffile.imwrite(folder / f"a{i}.tif", np.full((20, 30), i, np.uint16))
    root = base / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [folder]))
    return root


def _dataset_entries(window) -> dict[str, str]:
    return {
        a.text().replace("&", ""): a.shortcut().toString(QKeySequence.SequenceFormat.PortableText)
        for a in window.menus["dataset"].actions()
    }


def test_project_actions_show_their_keys_in_the_menu_and_help(qtbot, main_window):
    from qbi_desktop.gui.help import shortcut_rows

    entries = _dataset_entries(main_window)
    for text, key in EXPECTED.items():
        assert entries[text] == key, (text, entries)
    rows = shortcut_rows(main_window)
    for text, key in EXPECTED.items():
        assert ("Dataset", text, key) in rows
    assert ("File", "Quit", "Ctrl+Q") in rows  # a key on every platform, listed too
    # no key does two things
    keys = Counter(
        k.toString(QKeySequence.SequenceFormat.PortableText)
        for a in main_window.findChildren(type(main_window.menus["dataset"].actions()[0]))
        for k in a.shortcuts()
    )
    assert not [k for k, n in keys.items() if n > 1], keys


def _activate(qtbot, window) -> None:
    """The offscreen platform gives the window no activation back when a dialog closes (a
    desktop's window manager does): the window's keys need it."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.canvas.setFocus()


def _modal_after_key(qtbot, window, key) -> str:
    """Press Ctrl+``key`` on the window; the title of the modal dialog it opens (closed)."""
    seen = []

    def close_it() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            return
        seen.append(dialog.windowTitle())
        dialog.reject()

    QTimer.singleShot(300, close_it)
    qtbot.keyClick(window, key, Qt.KeyboardModifier.ControlModifier)
    qtbot.wait(400)
    return seen[0] if seen else ""


def test_ctrl_n_ctrl_e_and_ctrl_shift_w_do_what_their_entries_say(qtbot, main_window, tmp_path):
    window = main_window
    browser = window.panels["browser"]
    window.canvas.setFocus()
    assert _modal_after_key(qtbot, window, Qt.Key.Key_N) == "New project"

    assert browser.open_project(_project(tmp_path))
    _activate(qtbot, window)
    assert _modal_after_key(qtbot, window, Qt.Key.Key_E) == "Export project"

    _activate(qtbot, window)
    qtbot.keyClick(
        window,
        Qt.Key.Key_W,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    qtbot.waitUntil(lambda: browser.project is None)
    assert not window.project_is_open
