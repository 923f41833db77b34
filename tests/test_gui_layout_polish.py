"""A new user's walk-through at 1366x768: what the window must show without cutting or scrolling
(the Browser's name and class names, the counter under it, Levels after restarts, the log's
newest line, the "Classes" row, a confusion-matrix cell's thumbnails), the help as a user's
guide, the import/export dialogs remembering kind and folder, and a title that names the
project and the item."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLabel, QStyleOptionViewItem, QWidget

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

LAPTOP = (1366, 768)
CLASSES = ("calibration", "reference", "plate")


@pytest.fixture(scope="module")
def class_project(tmp_path_factory):
    """Nine TIFF radiographs in three class folders (long class names), three labelled."""
    tmp = tmp_path_factory.mktemp("polish")
    rng = np.random.default_rng(0)
    for k, name in enumerate(CLASSES):
        folder = tmp / "data" / name
        folder.mkdir(parents=True)
        for i in range(6):
            image = rng.normal(1000 + 3000 * k, 50, (24, 24)).clip(0, 65535).astype(np.uint16)
            tifffile.imwrite(folder / f"edge20mm_{k}{i:03d}.tif", image)
    root = tmp / "proj1"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [tmp / "data"]))
        items = project.ids()
        # half of each class unlabelled: they get suggestions
        by_name = {project.get(i)["name"]: i for i in items}
        unlabel = [i for n, i in by_name.items() if int(n[-7:-4]) >= 3]
        project.set_label(unlabel, None)
    return root


def _window(qtbot, size=LAPTOP, settings=None):
    from qbi_desktop.gui.main_window import MainWindow

    window = MainWindow(settings)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(100)
    return window


def _close(window):
    window.tasks.cancel_all()
    window.tasks.wait(5000)
    window.close()


def _visible_width(table, column) -> int:
    left = table.columnViewportPosition(column)
    right = min(left + table.columnWidth(column), table.viewport().width())
    return max(0, right - max(0, left))


def test_at_1366_the_browser_shows_name_class_names_suggestions_and_counter(
    qtbot, settings_dir, class_project
):
    from qbi_desktop.gui.docks.browser_model import COL_LABEL, COL_NAME

    window = _window(qtbot)
    try:
        panel = window.panels["browser"]
        assert panel.open_project(class_project)
        suggest = panel.suggestions
        qtbot.waitUntil(
            lambda: suggest.table is not None and not suggest.table.pending, timeout=30000
        )
        qtbot.wait(300)
        table = panel.table
        assert window.docks["browser"].width() <= 300  # a laptop's narrow column
        assert table.horizontalScrollBar().value() == 0
        # the name is in view, with room for a name (it was off to the right)
        assert table.columnViewportPosition(COL_NAME) >= 0
        assert _visible_width(table, COL_NAME) >= 80
        # ...ending at the viewport's edge, cut in the middle: a series' names differ at their
        # end (five rows read "edge20mm_000" when the viewport cut the column)
        name_end = table.columnViewportPosition(COL_NAME) + table.columnWidth(COL_NAME)
        assert name_end <= table.viewport().width()
        assert table.textElideMode() == Qt.TextElideMode.ElideMiddle
        # class names read whole in the Label column ("cal…ion" before)
        metrics = table.fontMetrics()
        assert all(
            metrics.horizontalAdvance(c) + 12 <= _visible_width(table, COL_LABEL) for c in CLASSES
        )
        # an unlabelled item's suggestion shows in its (empty) Label cell, in italics
        model = panel.model
        rows = [r for r in range(model.rowCount()) if model.item(r)["label"] is None]
        delegate = table.itemDelegateForColumn(COL_LABEL)
        option = QStyleOptionViewItem()
        index = model.index(rows[0], COL_LABEL)
        delegate.initStyleOption(option, index)
        assert option.text.split(" · ")[0] in CLASSES and option.text.endswith("%")
        assert option.font.italic()
        # the counter beside "Label next" reads whole ("labelled 0 / remainin…" before)
        counter = suggest.counter
        qtbot.waitUntil(lambda: counter.text() != "", timeout=5000)
        assert counter.text() == "9 / 18 labelled"
        assert QLabel.text(counter) == counter.text()
    finally:
        _close(window)


def test_levels_shows_all_its_rows_after_restarts(qtbot, settings_dir, class_project):
    """Each restart (with a project open) took ~15 px from Levels: its last row was cut and
    both scroll bars showed."""
    from qbi_desktop.gui.settings import open_settings

    for run in range(3):
        window = _window(qtbot, settings=open_settings())
        try:
            assert window.panels["browser"].open_project(class_project)
            qtbot.wait(300)
            levels = window.docks["levels"]
            levels.raise_()
            area = levels.widget()
            assert area.viewport().height() >= area.widget().minimumSizeHint().height(), run
            assert not area.verticalScrollBar().isVisible(), run
            assert not area.horizontalScrollBar().isVisible(), run
        finally:
            _close(window)


def test_the_log_shows_three_lines_and_follows_the_newest(qtbot, settings_dir):
    window = _window(qtbot)
    try:
        panel = window.tasks_panel
        log = panel.log_view
        lines = log.fontMetrics().lineSpacing()
        assert log.viewport().height() >= 3 * lines
        # a dock made lower (a layout saved so) keeps the log's least height
        window.resizeDocks([window.docks["tasks"]], [60], Qt.Orientation.Vertical)
        qtbot.wait(50)
        assert log.viewport().height() >= 3 * lines
        assert not window.docks["tasks"].widget().verticalScrollBar().isVisible()
        for i in range(40):
            panel.append_log(f"12:00:{i:02d} INFO line {i} " + "with a long message " * 6)
        qtbot.wait(50)
        bar = log.verticalScrollBar()
        assert bar.value() == bar.maximum() > 0
        last = log.cursorForPosition(QPoint(5, log.viewport().height() - 5)).block().text()
        assert last.startswith("12:00:39"), last
        # scrolled up to read: a new line does not pull the view away
        bar.setValue(0)
        panel.append_log("12:01:00 INFO another")
        assert bar.value() == 0
        bar.setValue(bar.maximum())  # back at the end: it follows again
        panel.append_log("12:01:01 INFO newest")
        assert bar.value() == bar.maximum()
    finally:
        _close(window)


def test_the_classes_label_keeps_clear_of_its_field(qtbot, settings_dir, class_project):
    window = _window(qtbot)
    try:
        panel = window.panels["browser"]
        assert panel.open_project(class_project)
        panel.filters_button.setChecked(True)
        qtbot.wait(50)
        label = next(w for w in panel.filter_box.findChildren(QLabel) if w.text() == "Classes")
        edit = panel.classes_edit
        right = QWidget.mapTo(label, panel, QPoint(label.width(), 0)).x()
        left = QWidget.mapTo(edit, panel, QPoint(0, 0)).x()
        assert right + 4 <= left, (right, left)
        # the list reads from its first class, not from its end ("…eference,plate,…")
        assert edit.text() and edit.cursorPosition() == 0
    finally:
        _close(window)


def test_a_cell_gallery_shows_three_thumbnails_a_row_beside_a_laptop_matrix(qtbot):
    from qbi_desktop.gui.docks.baselines_plots import Gallery

    gallery = Gallery()
    qtbot.addWidget(gallery)
    gallery.resize(260, 300)
    gallery.show()
    qtbot.waitExposed(gallery)
    tiles = [(i, np.full((28, 28), 40 * i, np.uint8)) for i in range(6)]
    gallery.set_tiles("true 4, predicted 9: 19 misclassified test items", tiles, "4", "9")
    qtbot.wait(50)
    rects = [gallery.list.visualItemRect(gallery.list.item(i)) for i in range(6)]
    assert rects[0].top() == rects[1].top() == rects[2].top()  # three in the first row
    viewport = QRect(QPoint(0, 0), gallery.list.viewport().size())
    assert all(viewport.contains(r) for r in rects)  # two whole rows in 300 px
    # the title has the whole width: two lines at most
    title = gallery.title
    assert title.width() >= 250 and title.height() <= 2 * title.fontMetrics().lineSpacing() + 4


def test_help_is_a_users_guide_with_contents_and_wrapped_code(qtbot, main_window):
    from qbi_desktop.gui.help import ReadmeDialog, guide_markdown, readme_text

    text = guide_markdown(readme_text())
    install = "Install and run (two commands)"
    order = [text.index(t) for t in ("## First steps", "## Using the viewer", f"## {install}")]
    assert order == sorted(order)
    assert "## Layout of the code" not in text and "## Benchmarks" not in text
    dialog = ReadmeDialog(main_window)
    qtbot.addWidget(dialog)
    dialog.resize(QSize(820, 680))
    dialog.show()
    qtbot.waitExposed(dialog)
    titles = dialog.section_titles()
    assert titles[0] == "QBI Desktop" and titles[1] == "First steps"
    assert "Keyboard shortcuts" in titles and titles.index(install) > titles.index(
        "Using the viewer"
    )
    plain = dialog.browser.toPlainText()
    assert plain.index("First steps") < plain.index("pip install")
    assert "Ctrl+O" in plain  # the window's own shortcuts, listed
    # no line scrolls sideways (the apt-get line did)
    assert dialog.browser.horizontalScrollBar().maximum() == 0
    # a title in the contents brings its section to the top
    bar = dialog.browser.verticalScrollBar()
    dialog.contents.setCurrentRow(titles.index(install))
    assert bar.value() > 0
    top = dialog.browser.cursorForPosition(QPoint(10, 10)).block().text()
    assert top.startswith("Install and run") or bar.value() == bar.maximum(), top
    dialog.close()


def test_import_and_export_remember_kind_and_folder(
    qtbot, main_window, class_project, tmp_path, monkeypatch
):
    from qbi_desktop.gui.docks import browser_io
    from qbi_desktop.gui.docks.browser_io import EXPORT_KIND_KEY, IMPORT_DIR_KEY, IMPORT_KIND_KEY

    panel = main_window.panels["browser"]
    assert panel.open_project(class_project)
    settings = main_window.settings
    data = tmp_path / "radiographs"
    data.mkdir()
    seen = []

    def fake_exec(dialog, choose=None):
        seen.append((dialog.kind.currentData(), dialog.start_dir))
        if choose is not None:
            choose(dialog)
            return 1
        return 0

    def pick(dialog):
        dialog.kind.setCurrentIndex(dialog.kind.findData("npz"))
        dialog.sources.addItem(str(data))

    monkeypatch.setattr(panel, "run_import", lambda *a, **k: None)
    monkeypatch.setattr(browser_io.ImportDialog, "exec", lambda d: fake_exec(d, pick))
    panel.import_dialog()
    monkeypatch.setattr(browser_io.ImportDialog, "exec", fake_exec)
    panel.import_dialog()
    assert seen[-1] == ("npz", str(data))  # kind and the last data folder (not the cwd)
    assert settings.value(IMPORT_DIR_KEY) == str(data)
    # hostile or stale values: the defaults
    settings.setValue(IMPORT_KIND_KEY, ["a", "list"])
    settings.setValue(IMPORT_DIR_KEY, str(tmp_path / "gone"))
    panel.import_dialog()
    kind, start = seen[-1]
    assert kind == "imagefolder" and start != str(tmp_path / "gone")
    assert start and (tmp_path / "gone").exists() is False and __import__("os").path.isdir(start)

    out = tmp_path / "exports" / "first"

    def export_to(dialog):
        dialog.kind.setCurrentIndex(dialog.kind.findData("coco"))
        dialog.out.setText(str(out))

    (tmp_path / "exports").mkdir()
    monkeypatch.setattr(panel, "run_export", lambda *a, **k: None)
    monkeypatch.setattr(browser_io.ExportDialog, "exec", lambda d: fake_exec(d, export_to))
    panel.export_dialog()
    monkeypatch.setattr(browser_io.ExportDialog, "exec", fake_exec)
    panel.export_dialog()
    assert seen[-1] == ("coco", str(tmp_path / "exports"))
    assert settings.value(EXPORT_KIND_KEY) == "coco"


def test_the_title_names_the_project_and_the_item_of_a_radiograph(
    qtbot, main_window, class_project
):
    panel = main_window.panels["browser"]
    assert panel.open_project(class_project)
    qtbot.waitUntil(lambda: main_window.windowTitle() == f"{class_project.name} — QBI Desktop")
    row = 1
    item = panel.model.item(row)
    panel.open_item(row)  # an image file: opened on a worker
    qtbot.waitUntil(lambda: main_window.current is not None, timeout=10000)
    qtbot.wait(50)
    expected = f"{item['name']} (item {item['id']}) — {class_project.name} — QBI Desktop"
    assert main_window.windowTitle() == expected
    panel.close_project()  # the image stays open; the project leaves the title
    qtbot.waitUntil(lambda: f"— {class_project.name} —" not in main_window.windowTitle())
    assert main_window.windowTitle().startswith(item["name"])
    assert main_window.windowTitle().endswith(" — QBI Desktop")
