"""Who is annotating: one name for the window, switched from the status bar, recorded with edits.

Real window, real project, real clicks and key presses; catalog values read back from SQLite.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit

from qbi_desktop.core.catalog import open_project

try:
    from tests.test_gui_browser_annotate import _folder_project, _id_of
except ImportError:  # pragma: no cover
    from test_gui_browser_annotate import _folder_project, _id_of


def _answer_name_dialog(qtbot, text):
    """Type ``text`` into the annotator dialog when it opens, and press Enter."""

    def answer():
        dialog = next(
            (
                w
                for w in QApplication.topLevelWidgets()
                if isinstance(w, QInputDialog) and w.isVisible()
            ),
            None,
        )
        if dialog is None:
            QTimer.singleShot(20, answer)
            return
        field = dialog.findChild(QLineEdit)
        field.selectAll()
        qtbot.keyClicks(field, text)
        qtbot.keyClick(field, Qt.Key.Key_Return)

    QTimer.singleShot(0, answer)


def test_switching_annotator_in_the_status_bar_records_the_new_name_with_labels(
    qtbot, main_window, tmp_path
):
    window = main_window
    root = _folder_project(tmp_path)
    browser = window.panels["browser"]
    assert browser.open_project(root)
    # a shared project (the importer drew a mask) and only the login name: the button asks
    assert window.annotator_button.text().startswith(f"Annotator: {window.annotator.name}?")

    _answer_name_dialog(qtbot, "  Ada   Lovelace ")
    qtbot.mouseClick(window.annotator_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.annotator.name == "Ada Lovelace", timeout=5000)
    assert window.annotator_button.text() == "Annotator: Ada Lovelace"

    with open_project(root) as project:
        item_id = _id_of(project, "a0")
    window.activateWindow()  # back from the dialog, as a click on the window does
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    browser.table.setFocus()
    browser.table.selectRow(browser.model.row_of(item_id))
    QApplication.processEvents()
    qtbot.keyClick(browser.table, Qt.Key.Key_1)

    def labelled():
        with open_project(root) as project:
            row = project.db.execute(
                "SELECT label, label_by FROM items WHERE id = ?", (item_id,)
            ).fetchone()
        return row == ("b", "Ada Lovelace")

    qtbot.waitUntil(labelled, timeout=5000)


def test_the_name_is_kept_for_the_next_start_and_an_empty_name_is_refused(qtbot, main_window):
    from qbi_desktop.gui.annotator import Annotator

    window = main_window
    window.annotator.set_name("B. Scientist")
    again = Annotator(window.settings)
    assert again.name == "B. Scientist" and again.chosen
    try:
        window.annotator.set_name("   ")
    except ValueError as exc:
        assert "empty" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("an empty name was accepted")
    assert window.annotator.name == "B. Scientist"
