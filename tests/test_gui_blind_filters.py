"""Annotating blind, the Browser's filters, sorts and count follow your own opinions: the
"(unlabelled)" filter lists the items *you* have not labelled (also those someone else did),
the label filter and the Label column's sort use your classes, the count says how many of
yours; with blind mode off they follow the item's latest label again.

Real window, real combo box choices and column sorts; rows read from the Browser's table.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.queries import NONE
from qbi_desktop.gui.docks.browser_model import COL_LABEL, COL_REVIEW

try:
    from tests.test_gui_browser import _mnist_subset
except ImportError:  # pragma: no cover
    from test_gui_browser import _mnist_subset


def _shown(browser) -> list[int]:
    model = browser.model
    return [model.item_id(r) for r in range(model.rowCount())]


def _choose(qtbot, combo, data) -> None:
    """Pick the entry holding ``data`` in a filter combo box, as a user does (popup, click)."""
    index = combo.findData(data)
    assert index >= 0, data
    combo.showPopup()
    view = combo.view()
    QApplication.processEvents()
    rect = view.visualRect(view.model().index(index, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: combo.currentIndex() == index, timeout=3000)


def test_blind_filters_sorts_and_counts_use_your_own_opinions(qtbot, main_window, tmp_path):
    window = main_window
    root, _labels = _mnist_subset(tmp_path, n=30)
    with open_project(root) as project:
        ids = project.ids()
        project.set_label(ids, None)  # start unlabelled
        ada, bob = ids[:12], ids[8:16]  # items 8..11 labelled by both
        project.set_label(ada, "3", "Ada")
        project.set_label(bob[:4], "7", "Bob")
        project.set_label(bob[4:], "1", "Bob")
        project.set_review(ids[20:22], "accepted", "Ada")
        latest = {i: project.get(i)["label"] for i in ids}
    assert latest[ids[8]] == "7" and latest[ids[0]] == "3"  # items 8..11: Bob's label is latest
    window.annotator.set_name("Ada")
    browser = window.panels["browser"]
    assert browser.open_project(root)
    window.blind.action.trigger()  # Edit > Annotate blind
    qtbot.waitUntil(lambda: window.blind.active, timeout=3000)

    # (unlabelled): Ada's own unlabelled items - Bob's 12..15 among them
    _choose(qtbot, browser.label_filter, NONE)
    expected = [i for i in ids if i not in ada]
    qtbot.waitUntil(lambda: _shown(browser) == expected, timeout=5000)
    assert browser.count_label.text() == f"{len(expected):,} of {len(ids):,} items"
    assert all(browser.model.index(r, COL_LABEL).data() == "" for r in range(len(expected)))

    # her class "3": all twelve of hers, also 8..11 whose latest label is Bob's "7"
    _choose(qtbot, browser.label_filter, "3")
    qtbot.waitUntil(lambda: _shown(browser) == list(ada), timeout=5000)
    assert browser.count_label.text() == f"12 of {len(ids):,} items"
    _choose(qtbot, browser.label_filter, "7")  # Bob's class: none of Ada's
    qtbot.waitUntil(lambda: _shown(browser) == [], timeout=5000)

    # review: only her own decisions count
    _choose(qtbot, browser.label_filter, browser.label_filter.itemData(0))  # All labels
    _choose(qtbot, browser.review_filter, "accepted")
    qtbot.waitUntil(lambda: _shown(browser) == list(ids[20:22]), timeout=5000)
    assert [browser.model.index(r, COL_REVIEW).data() for r in range(2)] == ["accepted"] * 2
    _choose(qtbot, browser.review_filter, browser.review_filter.itemData(0))  # All reviews

    # Bob, blind: his own work, sorted by his classes (a click on the Label header)
    window.annotator.set_name("Bob")
    _choose(qtbot, browser.label_filter, NONE)
    qtbot.waitUntil(lambda: _shown(browser) == [i for i in ids if i not in bob], timeout=5000)
    _choose(qtbot, browser.label_filter, browser.label_filter.itemData(0))
    browser.table.sortByColumn(COL_LABEL, Qt.SortOrder.DescendingOrder)
    expected = list(bob[:4]) + list(bob[4:])  # "7" then "1", ties by id
    qtbot.waitUntil(lambda: _shown(browser)[:8] == expected, timeout=5000)
    assert [browser.model.index(r, COL_LABEL).data() for r in range(8)] == ["7"] * 4 + ["1"] * 4

    # blind off: the item's latest label again (8..11 are Bob's "7", 0..7 Ada's "3")
    window.blind.action.trigger()
    qtbot.waitUntil(lambda: not window.blind.active, timeout=3000)
    _choose(qtbot, browser.label_filter, "3")
    qtbot.waitUntil(lambda: _shown(browser) == list(ids[:8]), timeout=5000)
