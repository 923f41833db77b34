"""The name gate reads who else worked on a project once, not at every key press (a class key
costs ~3 ms of GUI time more when it asks the catalog each time), and still sees another
person's work that arrives later, at once on a name change or after ``fresh_for`` seconds.
Real window, real keys; the statements are counted on the Browser's own catalog connection."""

from __future__ import annotations

import sqlite3

from PySide6.QtCore import Qt

from qbi_desktop.core.catalog import open_project

try:
    from tests.test_gui_annotator_gate import NameDialog, _catalog
    from tests.test_gui_blind import _press_class_key
    from tests.test_gui_browser_annotate import _folder_project, _id_of
except ImportError:  # pragma: no cover
    from test_gui_annotator_gate import NameDialog, _catalog
    from test_gui_blind import _press_class_key
    from test_gui_browser_annotate import _folder_project, _id_of


def test_class_keys_read_who_else_annotated_once_and_see_new_work_later(
    qtbot, main_window, tmp_path
):
    window = main_window
    assert not window.annotator.chosen
    root = _folder_project(tmp_path)
    with open_project(root) as project:  # nobody's work but the login name's
        project.db.execute("DELETE FROM opinions")
        project.db.execute("DELETE FROM annotation_log")
        project.db.execute("DELETE FROM meta WHERE key = 'annotators'")
        a0, a1, b0 = (_id_of(project, s) for s in ("a0", "a1", "b0"))
    browser = window.panels["browser"]
    assert browser.open_project(root)
    gate = window.edit_gate
    gate.fresh_for = 60.0
    asked: list[str] = []  # the gate's questions to the catalog
    browser.project.db.set_trace_callback(
        lambda sql: asked.append(sql) if "FROM annotation_log" in sql else None
    )
    answers = NameDialog(qtbot)  # Cancel, if ever asked
    try:
        for item, key in ((a0, Qt.Key.Key_1), (a1, Qt.Key.Key_1), (b0, Qt.Key.Key_0)) * 3:
            _press_class_key(qtbot, browser, item, key)
        with open_project(root) as project:
            qtbot.waitUntil(lambda: project.get(b0)["label"] == "a", timeout=5000)
        assert answers.prompts == []
        assert len(asked) == 1, asked  # nine key presses, one look

        # Ada's work arrives from outside (her copy of the app on the same project)
        other = sqlite3.connect(root / "catalog.sqlite")
        with other:
            other.execute(
                "INSERT INTO annotation_log(item_id, what, value, annotator, at) "
                "VALUES (?, 'label', '\"b\"', 'Ada', '2026-12-05')",
                (a0,),
            )
        other.close()
        gate.fresh_for = 0.3
        qtbot.wait(400)
        before = _catalog(root)
        _press_class_key(qtbot, browser, a1, Qt.Key.Key_0)
        qtbot.waitUntil(lambda: len(answers.prompts) == 1, timeout=5000)
        assert "Ada" in answers.prompts[0]
        assert _catalog(root) == before  # refused: nothing written
        assert len(asked) == 2
    finally:
        answers.stop()
        browser.project.db.set_trace_callback(None)
