"""The viewer's single keys never take the keys the focused widget uses itself.

Home/End/PgUp/PgDn page through the Dataset Browser's table (70 000 MNIST items), step a
spin box, move through a combo box; with the image focused they step through the stack."""

from __future__ import annotations

import numpy as np
import tifffile
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

try:
    from tests.conftest import open_and_wait
except ImportError:  # pragma: no cover
    from conftest import open_and_wait


def _stack(tmp_path, n=5):
    path = tmp_path / "stack.tif"
    frames = np.stack([np.full((40, 50), 100 * (i + 1), np.uint16) for i in range(n)])
    tifffile.imwrite(path, frames)
    return path


def _project(tmp_path, n=60):
    """An imagefolder project with ``n`` small items (more than the table shows at once)."""
    from PIL import Image

    root = tmp_path / "folder"
    rng = np.random.default_rng(3)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(n // 2):
            Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8)).save(
                root / label / f"{label}{i:03d}.png"
            )
    project = open_project(tmp_path / "proj", create=True)
    run_job(import_job(project, "imagefolder", [root]))
    project.close()
    return tmp_path / "proj"


def _press(qtbot, widget, key, modifier=Qt.KeyboardModifier.NoModifier):
    """A key as the user types it: to the focused widget, shortcuts tried first."""
    assert widget.hasFocus(), f"{widget} should have the keyboard focus"
    qtbot.keyClick(widget, key, modifier)


def _focus(qtbot, widget):
    widget.window().activateWindow()
    widget.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(widget.hasFocus, timeout=2000)


def test_browser_table_pages_and_the_slice_stays(qtbot, main_window, tmp_path):
    document = open_and_wait(qtbot, main_window, _stack(tmp_path))
    assert document.source.n_slices == 5 and document.index == 0
    panel = main_window.panels["browser"]
    main_window.docks["browser"].show()
    main_window.docks["browser"].raise_()
    assert panel.open_project(_project(tmp_path))
    table = panel.table
    assert panel.model.rowCount() == 60
    table.selectRow(0)
    _focus(qtbot, table)

    _press(qtbot, table, Qt.Key.Key_PageDown)
    assert table.currentIndex().row() > 0  # the table paged down
    assert document.index == 0  # and the viewer's slice did not move
    # End and Home go to the last and first item (a row is an item), with Ctrl too, in the
    # column the user is in (Ctrl+End went to the last column: the table scrolled sideways)
    column = table.currentIndex().column()
    _press(qtbot, table, Qt.Key.Key_End)
    assert table.currentIndex().row() == 59 and table.currentIndex().column() == column
    _press(qtbot, table, Qt.Key.Key_PageUp)
    assert table.currentIndex().row() < 59
    _press(qtbot, table, Qt.Key.Key_Home)
    assert table.currentIndex().row() == 0
    ctrl = Qt.KeyboardModifier.ControlModifier
    _press(qtbot, table, Qt.Key.Key_End, ctrl)
    assert table.currentIndex().row() == 59 and table.currentIndex().column() == column
    _press(qtbot, table, Qt.Key.Key_Home, ctrl)
    assert table.currentIndex().row() == 0 and table.currentIndex().column() == column
    assert document.index == 0
    assert main_window.current is document  # the stack is still the image shown

    # With the image focused the same keys step through the stack.
    canvas = main_window.canvas
    _focus(qtbot, canvas)
    _press(qtbot, canvas, Qt.Key.Key_PageDown)
    assert document.index == 1 and main_window.slice_bar.slider.value() == 1
    _press(qtbot, canvas, Qt.Key.Key_Period)
    assert document.index == 2
    _press(qtbot, canvas, Qt.Key.Key_End)
    assert document.index == 4
    _press(qtbot, canvas, Qt.Key.Key_PageUp)
    assert document.index == 3
    _press(qtbot, canvas, Qt.Key.Key_Home)
    assert document.index == 0
    assert table.currentIndex().row() == 0


def test_spin_box_combo_and_text_field_keep_their_keys(qtbot, main_window, tmp_path):
    """A spin box steps by a page with PgUp, a combo box moves to its last entry with End, the
    Browser's name filter takes a typed "." and "I": none of them steps the slice or starts a
    measuring tool."""
    document = open_and_wait(qtbot, main_window, _stack(tmp_path))
    levels = main_window.levels_panel
    main_window.docks["levels"].show()
    main_window.docks["levels"].raise_()

    spin = levels.low_pct
    _focus(qtbot, spin)
    before = spin.value()
    _press(qtbot, spin, Qt.Key.Key_PageUp)
    assert spin.value() > before  # the spin box stepped
    assert document.index == 0

    combo = levels.cmap
    combo.setCurrentIndex(0)
    _focus(qtbot, combo)
    _press(qtbot, combo, Qt.Key.Key_End)
    assert combo.currentIndex() == combo.count() - 1
    assert document.index == 0

    main_window.docks["browser"].show()
    main_window.docks["browser"].raise_()
    edit = main_window.panels["browser"].name_filter
    _focus(qtbot, edit)
    qtbot.keyClicks(edit, "a.I")
    _press(qtbot, edit, Qt.Key.Key_Home)
    _press(qtbot, edit, Qt.Key.Key_End)
    assert edit.text() == "a.I" and document.index == 0
    assert main_window.panels["measure"].line is None  # "I" (line profile) did not fire


def _dock_tab(main_window, title):
    """The main window's tab bar holding the tab ``title`` (docks grouped as tabs), its index."""
    from PySide6.QtWidgets import QTabBar

    for bar in main_window.findChildren(QTabBar):
        if bar.parentWidget() is main_window and bar.isVisible():
            for i in range(bar.count()):
                if bar.tabText(i).replace("&", "") == title:
                    return bar, i
    raise AssertionError(f"no visible dock tab {title!r}")


def _click_tab(main_window, title):
    """A left click on the dock tab ``title``, sent to the window as the platform sends it (an
    event sent straight to the tab bar never passes the window's input filters)."""
    from PySide6.QtTest import QTest

    bar, index = _dock_tab(main_window, title)
    at = bar.mapTo(main_window, bar.tabRect(index).center())
    assert main_window.childAt(at) is bar
    QTest.mouseClick(
        main_window.windowHandle(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier(0), at
    )
    QApplication.processEvents()


def test_clicking_the_annotate_tab_makes_its_tool_keys_work(qtbot, main_window, tmp_path):
    """The walkthrough: the keyboard in the Browser's table, a click on the Annotate tab, W:
    the Box tool is on (it did nothing, and the next drag panned)."""
    open_and_wait(qtbot, main_window, _stack(tmp_path))
    annotate = main_window.panels["annotate"]
    panel = main_window.panels["browser"]
    main_window.docks["browser"].show()
    main_window.docks["browser"].raise_()
    assert panel.open_project(_project(tmp_path, n=10))
    panel.table.selectRow(0)
    _focus(qtbot, panel.table)

    # another panel in front of Annotate first, so the click brings Annotate to the front
    _click_tab(main_window, main_window.docks["spots"].windowTitle())
    _click_tab(main_window, main_window.docks["annotate"].windowTitle())
    qtbot.wait(20)  # the click's own events
    assert annotate.controller.tool is None
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_W)  # where the keyboard is now
    assert annotate.controller.tool == "box"
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_B)
    assert annotate.controller.tool == "brush"

    # Back to the Browser's tab: the keyboard is in its table again (its keys, its paging)
    _click_tab(main_window, main_window.docks["browser"].windowTitle())
    qtbot.wait(20)
    _press(qtbot, panel.table, Qt.Key.Key_PageDown)
    assert panel.table.currentIndex().row() > 0

    # A text field of the Annotate panel keeps what is typed in it: no tool key fires.
    annotate.set_tool(None)
    field = next(
        w
        for w in annotate.findChildren(QAbstractSpinBox)
        if w.isVisible() and w.isEnabled() and not w.isReadOnly()
    )
    _focus(qtbot, field)
    qtbot.keyClick(field, Qt.Key.Key_W)
    qtbot.keyClick(field, Qt.Key.Key_B)
    assert annotate.controller.tool is None
