"""The Dataset Browser dock, driven through its real widgets on real projects."""

from __future__ import annotations

import sqlite3

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.idx import write_idx
from qbi_desktop.core.jobs import run_job
from qbi_desktop.gui.docks.browser_model import COL_LABEL, COL_SUGGESTED

try:
    from tests.conftest import MNIST, need
except ImportError:  # pragma: no cover
    from conftest import MNIST, need


def _wait(qtbot, task, timeout=20000):
    assert task is not None
    qtbot.waitUntil(lambda: task.finished, timeout=timeout)
    assert task.state == "done", task.error


def _mnist_subset(tmp_path, n=300):
    """A real MNIST subset (first n test digits) as IDX files, imported into a project."""
    from qbi_desktop.core.idx import read_idx

    folder = tmp_path / "mnist"
    folder.mkdir()
    images = read_idx(need(MNIST) / "t10k-images-idx3-ubyte.gz")[:n]
    labels = read_idx(MNIST / "t10k-labels-idx1-ubyte.gz")[:n]
    write_idx(folder / "t10k-images-idx3-ubyte", images)
    write_idx(folder / "t10k-labels-idx1-ubyte", labels)
    project = open_project(tmp_path / "proj", create=True)
    run_job(import_job(project, "mnist", [folder]))
    project.close()
    return tmp_path / "proj", labels


def _imagefolder_project(tmp_path):
    """Folder-per-class PNGs: a (3 items), b (2 items), and an unlabelled-to-be project."""
    root = tmp_path / "folder"
    rng = np.random.default_rng(1)
    for label, n in (("a", 3), ("b", 2)):
        (root / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (20, 24), dtype=np.uint8)).save(
                root / label / f"{label}{i}.png"
            )
    project = open_project(tmp_path / "proj", create=True)
    run_job(import_job(project, "imagefolder", [root]))
    project.close()
    return tmp_path / "proj"


def _catalog(root, sql, params=()):
    db = sqlite3.connect(root / "catalog.sqlite")
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def _shown_labels(panel):
    return [panel.model.item(r)["label"] for r in range(panel.model.rowCount())]


def test_browser_filters_sorts_labels_reviews_and_opens_mnist(qtbot, main_window, tmp_path):
    root, labels = _mnist_subset(tmp_path)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    assert panel.model.rowCount() == len(labels)
    assert "300 of 300" in panel.count_label.text()

    # Filter by label through the combo box: only the 7s, exactly as many as in the IDX labels.
    panel.label_filter.setCurrentIndex(panel.label_filter.findData("7"))
    assert panel.model.rowCount() == int((labels == 7).sum())
    assert set(_shown_labels(panel)) == {"7"}
    panel.label_filter.setCurrentIndex(0)
    assert panel.model.rowCount() == len(labels)

    # Sort by clicking the Label header (twice: descending).
    header = panel.table.horizontalHeader()
    x = header.sectionViewportPosition(3) + 5
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    shown = _shown_labels(panel)
    assert shown == sorted(shown, key=int) and shown[0] == "0"
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    shown = _shown_labels(panel)
    assert shown[0] == "9" and shown == sorted(shown, key=int, reverse=True)

    # Name filter (free text) through the line edit.
    panel.name_filter.setText("ubyte-0001")
    qtbot.waitUntil(lambda: panel.model.rowCount() < len(labels), timeout=3000)
    assert all("ubyte-0001" in panel.model.item(r)["name"] for r in range(panel.model.rowCount()))
    panel.name_filter.clear()
    qtbot.waitUntil(lambda: panel.model.rowCount() == len(labels), timeout=3000)

    # Quick labelling: keys on the table relabel the current item and move to the next one.
    panel.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
    panel.table.setFocus()
    panel.table.selectRow(0)
    first, second = panel.model.item_id(0), panel.model.item_id(1)
    qtbot.keyClick(panel.table, Qt.Key.Key_3)
    assert _catalog(root, "SELECT label, label_by FROM items WHERE id = ?", (first,)) == [
        ("3", panel.annotator)
    ]
    assert panel.table.currentIndex().row() == 1
    qtbot.keyClick(panel.table, Qt.Key.Key_A)
    qtbot.keyClick(panel.table, Qt.Key.Key_R)
    qtbot.keyClick(panel.table, Qt.Key.Key_F)
    third, fourth = panel.model.item_id(2), panel.model.item_id(3)
    reviews = dict(
        _catalog(root, "SELECT id, review FROM items WHERE id IN (?,?,?)", (second, third, fourth))
    )
    assert reviews == {second: "accepted", third: "rejected", fourth: "needs_edit"}
    assert panel.table.currentIndex().row() == 4
    assert panel.model.item(0)["label"] == "3"  # the table shows the new value

    # Review filter now finds exactly the accepted item.
    panel.review_filter.setCurrentIndex(panel.review_filter.findData("accepted"))
    assert [panel.model.item_id(r) for r in range(panel.model.rowCount())] == [second]
    panel.review_filter.setCurrentIndex(0)

    # Double-click opens the container item's digit in the viewer.
    index = panel.model.index(5, 2)
    panel.table.scrollTo(index)
    rect = panel.table.visualRect(index)
    before = main_window.current
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert main_window.current is not before
    shown = main_window.current.plane().array
    with open_project(root) as project:
        assert np.array_equal(shown, project.image(panel.model.item_id(5)))


def test_balance_chart_split_dialog_and_montage(qtbot, main_window, tmp_path, monkeypatch):
    from qbi_desktop.gui.docks import browser_dialogs

    root = _imagefolder_project(tmp_path)
    panel = main_window.panels["browser"]
    panel.open_project(root)
    panel.tabs.setCurrentWidget(panel.balance_page)
    _wait(qtbot, panel._stats_task)
    bars = panel.balance.bars
    assert list(bars) == ["unassigned"]
    assert panel.balance.axis.names == ["a", "b"]
    assert list(bars["unassigned"].opts["height"]) == [3, 2]
    assert "imbalance all: 1.50" in panel.balance.summary.text()
    # no targets, no duplicates: those sections step aside for the chart and the warnings
    assert panel.balance.hist_box.isHidden() and panel.balance.duplicates.isHidden()
    assert not panel.balance.warnings.isHidden()

    # The split dialog: set fractions through its spin boxes, accept it, let the worker write.
    def fill(dialog):
        dialog.fractions["train"].setValue(0.6)
        dialog.fractions["val"].setValue(0.0)
        dialog.fractions["test"].setValue(0.4)
        dialog.seed.setValue(3)
        return True

    monkeypatch.setattr(browser_dialogs.SplitDialog, "exec", lambda self: fill(self), raising=True)
    tasks_before = len(main_window.tasks.tasks)
    panel.split_dialog()
    split_task = main_window.tasks.tasks[tasks_before]
    _wait(qtbot, split_task)
    _wait(qtbot, panel.split_task)  # nothing assigned before: written without a question
    rows = dict(_catalog(root, "SELECT split, COUNT(*) FROM items GROUP BY split"))
    assert rows == {"train": 3, "test": 2}  # a: 2 train + 1 test, b: 1 train + 1 test
    per_class = _catalog(root, "SELECT label, split, COUNT(*) FROM items GROUP BY label, split")
    assert sorted(per_class) == [
        ("a", "test", 1),
        ("a", "train", 2),
        ("b", "test", 1),
        ("b", "train", 1),
    ]

    # The balance chart follows: one bar series per split with the per-class counts.
    qtbot.waitUntil(
        lambda: panel._stats_task.finished and "train" in panel.balance.bars, timeout=10000
    )
    assert list(panel.balance.bars["train"].opts["height"]) == [2, 1]
    assert list(panel.balance.bars["test"].opts["height"]) == [1, 1]
    assert any(
        "fewer than 10" in panel.balance.warnings.item(i).text()
        for i in range(panel.balance.warnings.count())
    )

    # Montage of a selection of two items: two tiles with their labels and real thumbnails.
    panel.tabs.setCurrentIndex(0)
    panel.table.selectRow(0)
    panel.table.selectionModel().select(
        panel.model.index(3, 0),
        panel.table.selectionModel().SelectionFlag.Select
        | panel.table.selectionModel().SelectionFlag.Rows,
    )
    panel.tabs.setCurrentWidget(panel.montage)
    qtbot.waitUntil(lambda: len(panel.montage.tiles) == 2, timeout=5000)
    if panel._montage_task is not None:
        _wait(qtbot, panel._montage_task)
        qtbot.waitUntil(lambda: all(t[0] is not None for t in panel.montage.tiles), timeout=5000)
    assert [t[1] for t in panel.montage.tiles] == ["a", "b"]
    assert all(t[0] is not None and not t[0].isNull() for t in panel.montage.tiles)


def test_import_refused_shows_problem_report_and_writes_nothing(qtbot, main_window, tmp_path):
    root = _imagefolder_project(tmp_path)
    sheet = tmp_path / "targets.csv"
    sheet.write_text("image,size\nmissing.png,1.5\na0.png,notanumber\n")
    panel = main_window.panels["browser"]
    panel.open_project(root)
    task = panel.run_import("sheet", [sheet], images_dir=str(tmp_path / "folder" / "a"))
    _wait(qtbot, task)
    dialog = panel.last_problems
    assert dialog.isVisible()
    reasons = [dialog.table.item(r, 3).text() for r in range(dialog.table.rowCount())]
    assert dialog.table.rowCount() >= 2
    assert any("missing" in r or "not found" in r for r in reasons)
    assert _catalog(root, "SELECT COUNT(*) FROM targets") == [(0,)]
    assert panel.model.rowCount() == 5


def test_open_file_item_shows_its_mask_and_thumbnails_arrive(qtbot, main_window, tmp_path):
    root = _imagefolder_project(tmp_path)
    mask = np.zeros((20, 24), np.uint8)
    mask[5:9, 6:12] = 1
    with open_project(root) as project:
        project.set_mask(1, mask, "tester")
    panel = main_window.panels["browser"]
    panel.open_project(root)
    # Thumbnails are rendered on a worker and appear in the table without blocking it.
    qtbot.waitUntil(
        lambda: all(panel.model.thumbnail(panel.model.item_id(r)) is not None for r in range(5)),
        timeout=10000,
    )
    annotate = main_window.panels["annotate"]
    annotate.unsaved_answer = "discard"

    def shown_item(item_id):
        s = annotate.session
        return s is not None and s.ready and s.store is not None and s.store.item_id == item_id

    row = panel.model.row_of(1)
    task = panel.open_item(row)
    _wait(qtbot, task)
    # The item's mask is the Annotate session's mask (one display: Annotate's overlay).
    qtbot.waitUntil(lambda: shown_item(1), timeout=5000)
    assert main_window.current.path.name == "a0.png"
    assert np.array_equal(annotate.session.mask, mask)
    assert np.array_equal(annotate.overlay.drawn() != 0, mask > 0)
    # Another item without a mask: nothing drawn over it.
    panel.open_item(panel.model.row_of(2))
    qtbot.waitUntil(lambda: shown_item(2), timeout=5000)
    assert main_window.current.path.name == "a1.png"
    assert not annotate.session.mask.any()
    assert not annotate.overlay.drawn().any()


def test_metadata_dialog_saves_fair_fields(qtbot, main_window, tmp_path, monkeypatch):
    from qbi_desktop.gui.docks import browser_dialogs

    root = _imagefolder_project(tmp_path)
    panel = main_window.panels["browser"]
    panel.open_project(root)

    def fill(dialog):
        dialog.title.setText("Edges")
        dialog.creators.setText("Ada Lovelace; Alan Turing")
        dialog.license.setCurrentText("CC-BY-4.0")
        dialog.keywords.setText("neutron, spots")
        dialog.pixel_size.setValue(55.0)
        return True

    monkeypatch.setattr(browser_dialogs.MetadataDialog, "exec", lambda self: fill(self))
    panel.metadata_dialog()
    with open_project(root) as project:
        meta = project.metadata()
    assert meta["title"] == "Edges" and meta["license"] == "CC-BY-4.0"
    assert meta["creators"] == ["Ada Lovelace", "Alan Turing"]
    assert meta["keywords"] == ["neutron", "spots"] and meta["pixel_size"] == 55.0
    assert "Edges" in panel.project_label.text()


def test_bad_project_folder_is_reported_not_raised(main_window, tmp_path):
    panel = main_window.panels["browser"]
    (tmp_path / "notproj").mkdir()
    assert not panel.open_project(tmp_path / "notproj")
    assert "not a QBI Desktop project" in main_window.last_error
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "catalog.sqlite").write_bytes(b"this is not sqlite" * 100)
    assert not panel.open_project(bad)
    assert "catalog" in main_window.last_error
    assert panel.project is None


def test_montage_array_pads_different_sizes():
    from qbi_desktop.gui.docks.browser import montage_array

    out = montage_array([np.ones((4, 6), np.uint16), np.full((5, 3), 2, np.uint16)])
    assert out.dtype == np.uint16
    assert (out == 1).sum() == 24 and (out == 2).sum() == 15


def test_opening_a_project_widens_a_narrow_browser_so_its_columns_show(
    qtbot, main_window, tmp_path
):
    root, _labels = _mnist_subset(tmp_path, n=20)
    dock = main_window.docks["browser"]
    dock.show()
    dock.raise_()
    main_window.resizeDocks([dock], [260], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: dock.width() < 300)
    assert main_window.zoom_label.text() == ""  # no image shown: no zoom figure
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    # as wide as the image canvas keeping half the window allows (the default layout's rule)
    qtbot.waitUntil(lambda: dock.width() >= 275)
    qtbot.wait(50)
    assert main_window.canvas.width() >= main_window.width() / 2
    table = panel.table
    header = table.horizontalHeader()
    name = next(
        c
        for c in range(panel.model.columnCount())
        if panel.model.headerData(c, Qt.Orientation.Horizontal) == "Name"
    )
    # the thumbnail and the label (or the suggested class, shown in the Label column) show
    # whole, the name (after them) shows at least 80 px; the Suggested column and the ID follow
    for column in (0, COL_LABEL):
        right = header.sectionViewportPosition(column) + header.sectionSize(column)
        assert right <= table.viewport().width()
    assert header.sectionViewportPosition(name) + 80 <= table.viewport().width()
    assert header.visualIndex(name) == header.visualIndex(COL_LABEL) + 1
    assert header.visualIndex(COL_SUGGESTED) == header.visualIndex(name) + 1
    # a width the user chose beyond the default is kept when another project opens
    main_window.resizeDocks([dock], [700], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: dock.width() >= 690)
    assert panel.open_project(root)
    qtbot.wait(50)
    assert dock.width() >= 690


def test_class_names_typed_in_survive_a_reload_without_duplicates(qtbot, main_window, tmp_path):
    root, _labels = _mnist_subset(tmp_path, n=20)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    present = panel.classes()
    typed = list(reversed(present))  # the user's own order for the number keys
    panel.classes_edit.setText(", ".join(typed))
    panel.classes_edit.editingFinished.emit()
    assert panel.open_project(root)  # reloading (also after a split or an import)
    assert panel.classes() == typed
    assert panel.open_project(root)
    assert panel.classes() == typed


def test_opening_an_item_brings_the_annotate_dock_forward(qtbot, main_window, tmp_path):
    root, _labels = _mnist_subset(tmp_path, n=5)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    main_window.docks["simulate"].raise_()
    qtbot.waitUntil(lambda: main_window.docks["annotate"].visibleRegion().isEmpty())
    panel.open_item(0)
    annotate = main_window.docks["annotate"]
    qtbot.waitUntil(lambda: not annotate.visibleRegion().isEmpty())


def test_detail_line_says_where_an_augmented_item_comes_from(qtbot, main_window, tmp_path):
    from qbi_desktop.core.catalog import NewItem
    from qbi_desktop.core.catalog.images import hash_file

    root = _imagefolder_project(tmp_path)
    with open_project(root) as project:
        parent = project.ids()[0]
        source = project.resolve(project.get(parent)["source"])
        copy = tmp_path / "a0_aug.png"
        copy.write_bytes(source.read_bytes())
        with project.transaction() as tx:
            (child,) = tx.add_items(
                [
                    NewItem(
                        name="a0_aug",
                        hash=hash_file(copy),
                        path=copy,
                        provenance_kind="augmented",
                        provenance={
                            "params": {"theta": 12.5, "flip_horizontal": True, "zx": 1.0},
                            "seed": [1, 0, 2],
                            "copy": 2,
                            "parent": parent,
                        },
                        parent_id=parent,
                    )
                ]
            )
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    panel.table.setCurrentIndex(panel.model.index(panel.model.row_of(child), 1))
    text = panel.detail.text()
    assert f"augmented from item {parent} (copy 2: theta 12.5, flip_horizontal True)" in text
    assert '"seed"' in panel.detail.toolTip()  # everything, in full, on hover


def test_export_dialog_leaves_out_rejected_items_by_default(qtbot, main_window, tmp_path):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    root = _imagefolder_project(tmp_path)
    with open_project(root) as project:
        rejected = project.ids({"label": "a"})[0]
        project.set_review([rejected], "rejected")
        name = project.get(rejected)["name"]
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    out = tmp_path / "out"
    seen = {}

    def fill():
        dialog = QApplication.activeModalWidget()
        seen["checked"] = dialog.leave_out_rejected.isChecked()
        seen["text"] = dialog.leave_out_rejected.text()
        dialog.kind.setCurrentIndex(dialog.kind.findData("imagefolder"))
        dialog.out.setText(str(out))
        dialog.accept()

    QTimer.singleShot(50, fill)
    panel.export_dialog()
    qtbot.waitUntil(lambda: (out / "unassigned").is_dir() or any(out.glob("*/*")), timeout=10000)
    qtbot.waitUntil(lambda: not main_window.tasks.active(), timeout=10000)
    assert seen == {"checked": True, "text": "Leave out the 1 rejected item(s)"}
    exported = {p.stem for p in out.rglob("*.png")}
    assert name not in exported and len(exported) == 4
    # the export's note says so, in a box as well as in the log
    assert "1 item(s) reviewed as rejected left out" in panel.last_export_note.text()


def test_a_good_project_opened_after_a_refused_one_says_so(qtbot, main_window, tmp_path):
    """A refused catalog's error no longer stays in the status bar over the project opened
    after it (it stayed 15 s, as if that one had failed too)."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "catalog.sqlite").write_bytes(b"this is not a catalog" * 100)
    good = tmp_path / "good"
    with open_project(good, create=True):
        pass
    panel = main_window.panels["browser"]
    bar = main_window.statusBar()
    assert panel.open_project(bad) is False
    assert "catalog.sqlite" in bar.currentMessage()  # the refusal names the file
    assert panel.open_project(good)
    assert bar.currentMessage() == "good: opened, 0 items"


def test_export_and_import_dialogs_stay_open_with_their_choices_when_refused(
    qtbot, main_window, tmp_path
):
    """A folder that is not empty, or an import with no source, is said in the dialog, which
    stays open with what was chosen (it closed and the kind and folder had to be chosen again);
    the next choice then goes through."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    root = _imagefolder_project(tmp_path)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    out = tmp_path / "out"
    seen = {}

    def export_steps():
        dialog = QApplication.activeModalWidget()
        dialog.kind.setCurrentIndex(dialog.kind.findData("coco"))
        dialog.out.setText(str(full))
        dialog.accept()  # refused: the dialog stays
        seen["open"] = dialog.isVisible()
        seen["said"] = dialog.refusal.text() if dialog.refusal.isVisible() else ""
        seen["kind"] = dialog.kind.currentData()
        dialog.out.setText(str(out))
        dialog.accept()

    QTimer.singleShot(50, export_steps)
    panel.export_dialog()
    assert seen["open"] and seen["kind"] == "coco"
    assert f"{full}: export folder exists and is not empty" in seen["said"]
    qtbot.waitUntil(lambda: not main_window.tasks.active() and out.is_dir(), timeout=10000)
    assert (out / "annotations.json").is_file() or any(out.glob("*.json"))
    assert (full / "notes.txt").read_text() == "mine" and len(list(full.iterdir())) == 1

    def import_steps():
        dialog = QApplication.activeModalWidget()
        dialog.kind.setCurrentIndex(dialog.kind.findData("imagefolder"))
        dialog.accept()  # no source yet: refused, still open
        seen["import open"] = dialog.isVisible()
        seen["import said"] = dialog.refusal.text()
        dialog.reject()

    QTimer.singleShot(50, import_steps)
    panel.import_dialog()
    assert seen["import open"] and "Choose at least one file or folder" in seen["import said"]


def test_export_dialog_can_leave_out_items_without_a_class(qtbot, main_window, tmp_path):
    """torchvision's ImageFolder reads an unlabelled/ folder as one more class: the dialog
    offers the export's --leave-out-unlabelled, counting the items it concerns."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    root = _imagefolder_project(tmp_path)
    with open_project(root) as project:
        unlabelled = project.ids({"label": "a"})[:2]
        project.set_label(unlabelled, None)
        names = {project.get(i)["name"] for i in unlabelled}
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    out = tmp_path / "out"
    seen = {}

    def fill():
        dialog = QApplication.activeModalWidget()
        seen["text"] = dialog.leave_out_unlabelled.text()
        seen["enabled"] = dialog.leave_out_unlabelled.isEnabled()
        dialog.leave_out_unlabelled.setChecked(True)
        dialog.kind.setCurrentIndex(dialog.kind.findData("imagefolder"))
        dialog.out.setText(str(out))
        dialog.accept()

    QTimer.singleShot(50, fill)
    panel.export_dialog()
    qtbot.waitUntil(lambda: not main_window.tasks.active() and out.is_dir(), timeout=10000)
    qtbot.waitUntil(lambda: not main_window.tasks.active(), timeout=10000)
    assert seen == {"text": "Leave out the 2 item(s) without a class", "enabled": True}
    exported = {p.stem for p in out.rglob("*.png")}
    assert not names & exported and len(exported) == 3
    assert not list(out.rglob("unlabelled"))
    assert "2 item(s) without a class left out" in panel.last_export_note.text()
