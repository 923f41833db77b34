"""Dataset > Agreement… in the real window: the report of the open project with its pictures,
and "Write consensus" writes the majority vote into the catalog."""

from __future__ import annotations

import sqlite3

import numpy as np
from PySide6.QtCore import Qt

from qbi_desktop.core.catalog import NewItem, open_project


def _action(window, text):
    menu = window.menus["dataset"]
    return next(a for a in menu.actions() if a.text().replace("&", "") == text)


def _labels(root):
    db = sqlite3.connect(root / "catalog.sqlite")
    try:
        return dict(db.execute("SELECT id, label FROM items").fetchall())
    finally:
        db.close()


def _project(root):
    project = open_project(root, create=True)
    with project.transaction() as tx:
        ids = tx.add_items(
            [
                NewItem(name=f"img{i}.tif", hash=f"h{i}", path=root / f"img{i}.tif")
                for i in range(12)
            ]
        )
    rng = np.random.default_rng(0)
    truth = rng.choice(["cell", "dust"], size=12)
    for person, wrong in (("Ana", {3}), ("Ben", {5}), ("Cleo", {7, 9})):
        for i, item in enumerate(ids):
            label = truth[i] if i not in wrong else ("dust" if truth[i] == "cell" else "cell")
            project.set_label([item], str(label), annotator=person)
            project.set_targets(item, {"area": float(i + (person == "Cleo"))}, annotator=person)
    project.set_label([ids[0]], str(truth[0]), annotator="Dora")  # Dora labelled one item
    project.close()
    return ids, truth


def test_agreement_dialog_shows_figures_pictures_and_writes_consensus(qtbot, main_window, tmp_path):
    root = tmp_path / "proj"
    ids, truth = _project(root)
    action = _action(main_window, "Agreement…")
    assert not action.isEnabled()  # no project yet: greyed, as Import and Export

    main_window.annotator.set_name("Dora")  # a shared project asks for a name otherwise
    assert main_window.panels["browser"].open_project(root)
    action.trigger()
    agreement = main_window.panels["agreement"]
    qtbot.waitUntil(lambda: agreement.dialog is not None, timeout=60000)
    dialog = agreement.dialog
    text = dialog.summary.text()
    assert "Annotators: Ana, Ben, Cleo, Dora." in text
    assert "(11 items with 3 annotators each)" in text and "Fleiss' kappa n/a" not in text
    assert "ICC(2,1)" in text
    # Dora labelled one item: her pairs cover that one item
    rows = [
        [dialog.pairs.item(r, c).text() for c in range(dialog.pairs.columnCount())]
        for r in range(dialog.pairs.rowCount())
    ]
    label_pairs = {r[1]: r for r in rows if r[0] == "label"}
    assert label_pairs["Ana & Ben"][2] == "12"
    assert label_pairs["Ana & Ben"][3] == f"{10 / 12:.3f}"
    assert label_pairs["Ben & Cleo"][3] == f"{9 / 12:.3f}"
    assert label_pairs["Ana & Dora"][2] == "1"
    # each wrong label is one against two: four items listed, the others agree
    listed = [
        dialog.items.item(r, 0).text().split(" ")[0]
        for r in range(dialog.items.rowCount())
        if dialog.items.item(r, 1).text() == "label"
    ]
    assert listed == [f"img{i}.tif" for i in (3, 5, 7, 9)]
    # pictures: a confusion matrix per pair and Bland-Altman plots, shown as images
    dialog.tabs.setCurrentIndex(2)
    names = [dialog.picture_choice.itemText(i) for i in range(dialog.picture_choice.count())]
    assert "Classes: Ana against Ben" in names
    assert any(n.startswith("Bland–Altman area") for n in names)
    dialog.picture_choice.setCurrentIndex(names.index("Bland–Altman area: Ana − Cleo"))
    assert not dialog.picture.pixmap().isNull() and dialog.picture.pixmap().width() > 400
    dialog.grab().save(str(tmp_path / "agreement.png"))
    dialog.picture_choice.setCurrentIndex(names.index("Classes: Ana against Ben"))
    dialog.grab().save(str(tmp_path / "confusion.png"))

    qtbot.mouseClick(dialog.consensus_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Consensus written" in dialog.consensus_note.text(), timeout=60000)
    labels = _labels(root)
    assert [labels[i] for i in ids] == [str(t) for t in truth]  # the majority is right
