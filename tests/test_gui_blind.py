"""Several annotators in one window: "Annotate blind" hides the others' work, switching annotator
keeps each one's edits apart, a shared project asks for the name, and the Browser shows the items
by annotator and those needing a second opinion.

Real window, real project, real key presses in the Browser; catalog values read back.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.opinions import for_item
from qbi_desktop.gui.docks.browser_model import COL_LABEL

try:
    from tests.test_gui_annotator import _answer_name_dialog
    from tests.test_gui_browser_annotate import _folder_project, _id_of
except ImportError:  # pragma: no cover
    from test_gui_annotator import _answer_name_dialog
    from test_gui_browser_annotate import _folder_project, _id_of


def _label_shown(browser, item_id) -> str:
    row = browser.model.row_of(item_id)
    return browser.model.index(row, COL_LABEL).data()


def _press_class_key(qtbot, browser, item_id, key) -> None:
    browser.window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is browser.window, timeout=3000)
    browser.table.setFocus()
    browser.table.selectRow(browser.model.row_of(item_id))
    QApplication.processEvents()
    qtbot.keyClick(browser.table, key)


def _opinion_labels(root, item_id) -> dict[str, str]:
    with open_project(root) as project:
        return {
            who: mine["label"]
            for who, mine in for_item(project.db, item_id).items()
            if "label" in mine
        }


def test_blind_mode_hides_others_labels_and_switching_keeps_edits_apart(
    qtbot, main_window, tmp_path
):
    window = main_window
    root = _folder_project(tmp_path)
    with open_project(root) as project:
        a0 = _id_of(project, "a0")
        project.set_label([a0], "a", "Ada")  # Ada's opinion, before this window opens
    window.annotator.set_name("Bob")
    browser = window.panels["browser"]
    assert browser.open_project(root)
    blind = window.blind
    assert _label_shown(browser, a0) == "a"  # not blind: the item's label, by Ada

    blind.action.trigger()  # Edit > Annotate blind
    assert blind.action.isChecked()
    qtbot.waitUntil(lambda: _label_shown(browser, a0) == "", timeout=3000)

    # Bob labels a0 "b" blind (key 1: classes count from 0); his opinion is kept beside Ada's
    _press_class_key(qtbot, browser, a0, Qt.Key.Key_1)
    qtbot.waitUntil(lambda: _opinion_labels(root, a0) == {"Ada": "a", "Bob": "b"}, timeout=5000)
    qtbot.waitUntil(lambda: _label_shown(browser, a0) == "b", timeout=3000)

    # switching to Ada shows her own label, not Bob's latest edit
    window.annotator.set_name("Ada")
    qtbot.waitUntil(lambda: _label_shown(browser, a0) == "a", timeout=3000)
    # a third person sees nothing yet
    window.annotator.set_name("Cleo")
    qtbot.waitUntil(lambda: _label_shown(browser, a0) == "", timeout=3000)
    # back to Bob: his edit is there, Ada's untouched
    window.annotator.set_name("Bob")
    qtbot.waitUntil(lambda: _label_shown(browser, a0) == "b", timeout=3000)
    assert _opinion_labels(root, a0) == {"Ada": "a", "Bob": "b"}

    # blind mode is remembered for this project: open it again and it is still on
    browser.close_project()
    assert browser.open_project(root)
    qtbot.waitUntil(lambda: blind.action.isChecked(), timeout=3000)
    qtbot.waitUntil(lambda: _label_shown(browser, a0) == "b", timeout=3000)

    blind.action.trigger()  # off: everyone's latest edit again (Bob's)
    assert not blind.action.isChecked()
    qtbot.waitUntil(lambda: _label_shown(browser, a0) == "b", timeout=3000)
    with open_project(root) as project:
        other = [r["id"] for r in project.query(limit=None) if r["id"] != a0]
        project.set_label(other[:1], "a", "Ada")
    browser.model.reload()
    assert _label_shown(browser, other[0]) == "a"


def test_a_shared_project_asks_for_the_name_in_the_status_bar(qtbot, main_window, tmp_path):
    window = main_window
    assert not window.annotator.chosen  # a fresh start: only the login name
    root = _folder_project(tmp_path)
    with open_project(root) as project:
        project.set_label([_id_of(project, "a0")], "a", "Ada")
    assert window.panels["browser"].open_project(root)
    button = window.annotator_button
    assert "?" in button.text() and "Ada" in button.toolTip()
    assert "give your annotator name" in window.statusBar().currentMessage()
    _answer_name_dialog(qtbot, "Bob")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.annotator.name == "Bob", timeout=5000)
    assert window.annotator.chosen and button.text() == "Annotator: Bob"


def test_items_by_annotator_and_needing_a_second_opinion(qtbot, main_window, tmp_path):
    window = main_window
    window.annotator.set_name("Bob")
    root = _folder_project(tmp_path)
    with open_project(root) as project:
        a0, a1, b0 = (_id_of(project, s) for s in ("a0", "a1", "b0"))
        project.set_label([a0, a1], "a", "Ada")
        project.set_label([a0], "b", "Bob")
        project.set_targets(b0, {"depth": 2.5}, "Bob")
    browser = window.panels["browser"]
    assert browser.open_project(root)
    blind = window.blind

    assert blind.show_needing_second_opinion() == [a1, b0]
    assert sorted(browser.model.ids.tolist()) == [a1, b0]
    assert blind.show_items_by("Ada") == [a0, a1]
    assert sorted(browser.model.ids.tolist()) == [a0, a1]

    # the same through the Dataset menu, as a user would pick it
    menu = next(
        a.menu() for a in window.menus["dataset"].actions() if a.text() == "Show items by annotator"
    )
    blind.fill_menu(menu)
    by_bob = next(a for a in menu.actions() if a.text() == "By Bob")
    by_bob.trigger()
    assert sorted(browser.model.ids.tolist()) == [a0, b0]


def test_blind_annotate_shows_only_the_own_mask_and_saves_it_apart(qtbot, main_window, tmp_path):
    import numpy as np

    try:
        from tests.test_gui_browser_annotate import (
            _ctrl,
            _mouse_stroke,
            _old_mask,
            _open_row_with_enter,
            _wait_item,
            _wait_saved,
        )
    except ImportError:  # pragma: no cover
        from test_gui_browser_annotate import (
            _ctrl,
            _mouse_stroke,
            _old_mask,
            _open_row_with_enter,
            _wait_item,
            _wait_saved,
        )

    window = main_window
    window.annotator.set_name("Bob")
    root = _folder_project(tmp_path)  # a0 has a mask drawn by "importer"
    browser = window.panels["browser"]
    annotate = window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    assert browser.open_project(root)
    with open_project(root) as project:
        a0 = _id_of(project, "a0")
    window.blind.action.trigger()
    _open_row_with_enter(qtbot, browser, a0)
    _wait_item(qtbot, annotate, a0)
    session = annotate.session
    assert not session.mask.any()  # the importer's mask is hidden
    assert not annotate.overlay.drawn().any()

    annotate.set_tool("brush")
    annotate.controller.set_size(3)
    qtbot.keyClick(window.canvas, Qt.Key.Key_1)
    _mouse_stroke(qtbot, window, [(20, 20), (30, 20)])
    painted = session.mask.copy()
    assert painted.any()
    _ctrl(qtbot, window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)

    with open_project(root) as project:
        from qbi_desktop.core.catalog.opinions import load_mask

        mine = for_item(project.db, a0)
        bob = load_mask(project, mine["Bob"]["mask"], a0, "Bob")
        importer = load_mask(project, mine["importer"]["mask"], a0, "importer")
    assert np.array_equal(bob, painted)  # Bob's own mask, without the importer's regions
    assert np.array_equal(importer, _old_mask())  # the importer's own mask untouched
