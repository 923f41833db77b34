"""The Browser's words a newcomer reads: the status line after a number key with no classes
(it doubled words: "the selected item gets it gets the one typed, or of several class 1"), the
footer under the table at a laptop's dock width (it was cut: "suggestions need labels of at
least two cla…"), and F2 on a target saying which item gets the value (the table scrolls
sideways to the Targets cell, and the thumbnail and name go out of view).
Real projects, the real window, real keys."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QLabel

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def _project(tmp_path, sizes: dict[str, list[tuple[int, int]]]):
    rng = np.random.default_rng(5)
    folder = tmp_path / "images"
    for label, shapes in sizes.items():
        (folder / label).mkdir(parents=True)
        for n, shape in enumerate(shapes):
            image = rng.integers(0, 255, shape, dtype=np.uint8)
            Image.fromarray(image).save(folder / label / f"{label}{n}.png")
    root = tmp_path / "proj"
    with open_project(root, create=True) as p:
        run_job(import_job(p, "imagefolder", [folder]))
    return root


def _narrow(window, browser) -> None:
    dock = window.docks["browser"]
    window.resizeDocks([dock], [280], Qt.Orientation.Horizontal)
    QApplication.processEvents()


def _shown(label) -> str:
    return QLabel.text(label)  # what the label shows (cut with "…" if it does not fit)


def test_class_typing_hint_says_it_once_in_short_words(qtbot, main_window, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "a.png")
    root = tmp_path / "proj"
    with open_project(root, create=True) as p:
        run_job(import_job(p, "imagefolder", [folder]))
    browser = main_window.panels["browser"]
    assert browser.open_project(root)
    browser.select_rows([0])
    browser.type_class_names(1)
    said = main_window.statusBar().currentMessage()
    assert "gets it gets" not in said and "or of several" not in said, said
    assert "gets class 1" in said and len(said) <= 100, said
    browser.show_filters(False)


@pytest.mark.parametrize(
    ("sizes", "words"),
    [
        ({"a": [(12, 12)] * 3}, "label 2 classes"),  # one class: no suggestions yet
        ({"a": [(12, 12), (20, 16)], "b": [(12, 12), (12, 12)]}, "images resized"),
    ],
)
def test_footer_fits_a_laptop_dock(qtbot, main_window, tmp_path, sizes, words):
    root = _project(tmp_path, sizes)
    browser = main_window.panels["browser"]
    assert browser.open_project(root)
    _narrow(main_window, browser)
    suggest = browser.suggestions
    qtbot.waitUntil(lambda: words in suggest.counter_detail.text(), timeout=20000)
    suggest._show_counter()  # at the width it has now
    QApplication.processEvents()
    label = suggest.counter_detail
    assert label.width() <= 290
    assert "…" not in _shown(label), _shown(label)  # never cut in the middle of a word
    assert words in _shown(label)
    tip = label.toolTip()
    assert "at least two classes" in tip or "resized" in tip, tip  # the whole story on hover


def test_f2_says_which_item_gets_the_typed_target(qtbot, main_window, tmp_path):
    root = _project(tmp_path, {"a": [(12, 12)] * 3})
    with open_project(root) as p:
        from qbi_desktop.core.catalog import targets as T

        T.define(p, T.TargetDef("thickness", "mm", 0.0, 50.0))
    browser = main_window.panels["browser"]
    assert browser.open_project(root)
    _narrow(main_window, browser)
    browser.table.setFocus()
    browser.select_rows([1])
    item = browser.model.item(1)
    qtbot.keyClick(browser.table, Qt.Key.Key_F2)
    editor = browser.target_delegate.editor
    assert editor is not None
    said = main_window.statusBar().currentMessage()
    assert item["name"] in said and "thickness" in said, said
    assert item["name"] in editor.toolTip()
    qtbot.keyClicks(editor, "12.5")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    said = main_window.statusBar().currentMessage()  # which item got it, which is next
    assert said.startswith(f"{item['name']}: ") and browser.model.item(2)["name"] in said, said


def test_filters_folded_out_at_1366_leave_the_table_its_rows(qtbot, settings_dir, tmp_path):
    from test_gui_browser_compact import _rows_in_sight, _window

    from qbi_desktop.core.catalog import targets as T

    root = _project(tmp_path, {"a": [(12, 12)] * 20, "b": [(12, 12)] * 20})
    with open_project(root) as p:
        T.define(p, T.TargetDef("thickness", "mm", 0.0, 50.0))
    window = _window(qtbot, (1366, 768))
    try:
        panel = window.panels["browser"]
        assert panel.open_project(root)
        window.docks["browser"].raise_()
        panel.show_filters(True)
        qtbot.wait(200)
        assert panel.target_row.isVisible() and panel.classes_edit.isVisible()
        assert _rows_in_sight(window, panel) >= 4
        # typing class names folds them out by itself, and back in once the names are in
        panel.show_filters(False)
        panel.select_rows([0])
        panel.type_class_names(0)
        assert panel.filter_box.isVisible()
        qtbot.wait(50)
        view = panel.filter_area.viewport()
        top = panel.classes_edit.mapTo(view, QPoint(0, 0)).y()
        assert 0 <= top and top + panel.classes_edit.height() <= view.height()  # in view
        panel.classes_edit.setText("a, b, c")
        qtbot.keyClick(panel.classes_edit, Qt.Key.Key_Return)
        assert not panel.filter_box.isVisible()
    finally:
        window.tasks.cancel_all()
        window.tasks.wait(5000)
        window.close()
