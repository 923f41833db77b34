"""The Browser's Classes field never drops a class that labels or boxes still use.

The user's walk-through: a class used only by boxes ("corner") vanished when the class list was
edited without it, and after reopening it was no longer offered. Real window, real project, the
field typed with real key presses; the stored list read back from the catalog.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from qbi_desktop.core.catalog import classes as catalog_classes
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.records import Box

try:
    from tests.gui_browser_annotate_helpers import _folder_project, _id_of
except ImportError:  # pragma: no cover
    from gui_browser_annotate_helpers import _folder_project, _id_of


def _type_classes(qtbot, browser, text: str) -> None:
    edit = browser.classes_edit
    edit.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)  # select all
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    browser.table.setFocus()  # leaving the field ends the edit
    QApplication.processEvents()


def _close_message(qtbot, window) -> None:
    """The user reads the refusal and clicks OK (it took the keyboard); the window has the
    keyboard again, as after that click on a desktop."""
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]
    box = next(b for b in boxes if b.isVisible() and b.parentWidget() is window)
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    window.activateWindow()
    QApplication.setActiveWindow(window)  # offscreen, after other tests' windows: no WM
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)


def _stored(root) -> list[str]:
    with open_project(root) as project:
        return catalog_classes.stored_list(project.db)


def test_a_class_boxes_use_is_kept_and_the_refusal_says_how_many(qtbot, main_window, tmp_path):
    root = _folder_project(tmp_path)
    with open_project(root) as project:
        a0, b0 = _id_of(project, "a0"), _id_of(project, "b0")
        project.set_boxes(a0, [Box("corner", 1, 1, 5, 5), Box("corner", 10, 10, 5, 5)], "ann")
        project.set_boxes(b0, [Box("corner", 2, 2, 5, 5)], "ann")
        catalog_classes.set_class_list(project, ["a", "b", "corner"])
    main_window.annotator.set_name("Tester")
    browser = main_window.panels["browser"]
    assert browser.open_project(root)
    assert browser.classes() == ["a", "b", "corner"]
    errors: list[str] = []
    main_window.error_reported.connect(errors.append)

    _type_classes(qtbot, browser, "a, b, extra")  # "corner" left out, a new class added
    assert browser.classes() == ["a", "b", "extra", "corner"]  # kept, after the typed ones
    assert _stored(root) == ["a", "b", "extra", "corner"]
    assert errors and "corner" in errors[-1] and "3 boxes" in errors[-1]
    assert "2 items" in errors[-1]
    _close_message(qtbot, main_window)

    # a class of item labels likewise (a: 2 items)
    _type_classes(qtbot, browser, "b, corner, extra")
    assert browser.classes() == _stored(root) == ["b", "corner", "extra", "a"]
    assert "2 labels" in errors[-1] and "corner" not in errors[-1]
    _close_message(qtbot, main_window)

    # a class nothing uses goes
    count = len(errors)
    _type_classes(qtbot, browser, "a, b, corner")
    assert _stored(root) == ["a", "b", "corner"] and len(errors) == count

    # and reopening the project still offers a class only boxes use
    with open_project(root) as project:
        catalog_classes.set_class_list(project, ["a", "b"])  # e.g. an older project
    assert browser.open_project(root)
    assert "corner" in browser.classes()
