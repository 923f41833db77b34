"""Browser papercuts a new user hit, each driven through the real widgets of the real window."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.atomic import UMASK
from qbi_desktop.core.catalog import open_project

try:
    from tests.test_catalog_edits import mnist_like
    from tests.test_gui_browser import _imagefolder_project
except ImportError:  # pragma: no cover
    from test_catalog_edits import mnist_like
    from test_gui_browser import _imagefolder_project


def _project(tmp_path, name="p", n=30):
    base = tmp_path / name
    base.mkdir()
    project = mnist_like(base, n - 5, 5)  # n items: train and test
    root = project.root
    project.close()
    return root


def test_new_project_accepts_a_typed_new_folder_name(qtbot, main_window, tmp_path):
    panel = main_window.panels["browser"]
    main_window.settings.setValue("browser/last_dir", str(tmp_path))
    panel.menu.actions()[0].trigger()  # Dataset > New Project…
    dialog = panel.new_project_box
    assert dialog is not None and dialog.isVisible()
    qtbot.keyClicks(dialog.folder, "beamtime-2026")  # a name that does not exist yet
    assert "a new folder" in dialog.where.text()
    ok = dialog.button_box.buttons()[0]
    assert ok.text() == "Create" and ok.isEnabled()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    root = tmp_path / "beamtime-2026"
    assert (root / "catalog.sqlite").is_file()
    assert panel.project is not None and panel.project.root == root
    assert panel.new_project_box is None


def test_switching_projects_clears_a_stale_name_filter(qtbot, main_window, tmp_path):
    first, second = _project(tmp_path, "a"), _project(tmp_path, "b", 12)
    panel = main_window.panels["browser"]
    assert panel.open_project(first)
    qtbot.keyClicks(panel.name_filter, "train-images-idx3-ubyte[2")  # item names: "...[2]" etc.
    qtbot.waitUntil(lambda: panel.model.rowCount() < 30)
    assert panel.open_project(second)
    qtbot.wait(300)  # longer than the typing timer: nothing arrives late either
    assert panel.name_filter.text() == ""
    assert panel.model.rowCount() == 12
    assert "12 of 12" in panel.count_label.text()


def test_export_dialog_states_the_real_count_and_export_folder_follows_the_umask(
    qtbot, main_window, tmp_path
):
    root = _imagefolder_project(tmp_path)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    out = tmp_path / "export"
    seen = {}

    def fill():
        dialog = QApplication.activeModalWidget()
        seen["text"] = dialog.only_shown.text()
        seen["enabled"] = dialog.only_shown.isEnabled()
        dialog.kind.setCurrentIndex(dialog.kind.findData("imagefolder"))
        dialog.out.setText(str(out))
        dialog.accept()

    QTimer.singleShot(50, fill)
    panel.export_dialog()
    assert seen == {"text": "Only the 5 item(s) the browser shows (of 5)", "enabled": False}
    qtbot.waitUntil(lambda: out.is_dir() and not main_window.tasks.active(), timeout=10000)
    mode = stat.S_IMODE(os.stat(out).st_mode)
    assert mode == 0o777 & ~UMASK, oct(mode)  # not mkdtemp's 0700

    # With a filter the check box offers the items shown, counted.
    panel.set_filter(label="a")
    QTimer.singleShot(
        50,
        lambda: (
            seen.update(text=QApplication.activeModalWidget().only_shown.text()),
            QApplication.activeModalWidget().reject(),
        ),
    )
    panel.export_dialog()
    assert seen["text"] == "Only the 3 item(s) the browser shows (of 5)"


def test_a_note_after_export_takes_the_focus_so_enter_does_not_open_an_item(
    qtbot, main_window, tmp_path
):
    root = _imagefolder_project(tmp_path)
    with open_project(root) as project:
        project.set_review(project.ids({"label": "b"}), "rejected")
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    panel.table.setFocus()
    panel.table.selectRow(0)
    task = panel.run_export("imagefolder", tmp_path / "out", leave_out_rejected=True)
    qtbot.waitUntil(lambda: task.finished, timeout=10000)
    note = panel.last_export_note
    qtbot.waitUntil(lambda: note.isVisible())
    QApplication.processEvents()
    assert note.isAncestorOf(QApplication.focusWidget())
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)  # the user presses Enter
    qtbot.waitUntil(lambda: not note.isVisible())
    assert main_window.documents == []  # Enter went to the note, not to the table
    assert not any(t.title.startswith("Open") for t in main_window.tasks.tasks)


def test_the_note_takes_the_focus_on_a_real_x_display_too():
    """The offscreen platform activates every new window, so on it the old code passed; on a
    real display (Xvfb, no window manager) a shown box did not get the keyboard."""
    if os.environ.get("QT_QPA_PLATFORM") == "xcb":
        pytest.skip("already running on a real display")
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        pytest.skip("xvfb-run is not installed")
    name = "test_a_note_after_export_takes_the_focus_so_enter_does_not_open_an_item"
    result = subprocess.run(
        [xvfb, "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-m", "pytest"]
        + [f"{__file__}::{name}", "-q", "-p", "no:cacheprovider"],
        env={**os.environ, "QT_QPA_PLATFORM": "xcb"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_montage_pages_through_every_item_not_only_the_first_100(qtbot, main_window, tmp_path):
    root = _project(tmp_path, "m", 250)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    montage = panel.montage
    panel.tabs.setCurrentWidget(montage)
    qtbot.waitUntil(lambda: len(montage.tiles) == 100, timeout=5000)
    assert montage.info.text() == "items 1-100 of 250 shown"
    assert montage.pages_label.text() == "of 3" and not montage.prev_button.isEnabled()

    qtbot.mouseClick(montage.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: montage.info.text().startswith("items 101-200"), timeout=5000)
    labels = [panel.model.item(r)["label"] for r in range(100, 200)]
    assert [t[1] for t in montage.tiles] == labels

    montage.page_spin.setValue(3)  # the last page: the last 50 items, thumbnails from a worker
    qtbot.waitUntil(lambda: len(montage.tiles) == 50, timeout=5000)
    assert montage.info.text() == "items 201-250 of 250 shown"
    assert not montage.next_button.isEnabled()
    qtbot.waitUntil(lambda: all(t[0] is not None for t in montage.tiles), timeout=20000)


def test_mnist_import_progress_moves_while_writing_the_catalog(qtbot, main_window, tmp_path):
    import numpy as np

    from qbi_desktop.core.idx import write_idx

    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(2)
    # enough rows for the writing to outlast the progress throttle's 0.1 s a few times over:
    # 9 000 were written in ~0.1 s once the import got faster, and reached the bar as one step
    n = 40000
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28), np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    panel = main_window.panels["browser"]
    assert panel.open_project(tmp_path / "proj", create=True)
    seen = []
    task = panel.run_import("mnist", [folder])
    task.progress.connect(lambda p: seen.append((p.done, p.total, p.message)))
    qtbot.waitUntil(lambda: task.finished, timeout=60000)
    assert task.state == "done", task.error
    writing = [(d, t) for d, t, m in seen if m.startswith("writing catalog")]
    # the bar moves while the catalog is written; signals are throttled (~10 a second), so on a
    # fast machine the rows' chunks reach the bar as a few steps, not one per chunk
    assert len({d for d, _t in writing}) >= 2
    assert all(t == n for _d, t in writing)
    assert [d for d, _t in writing] == sorted(d for d, _t in writing)
    # progress signals are throttled, so the last chunk's report may be merged into the finish
    assert writing[-1][0] >= n - n // 4
    qtbot.waitUntil(lambda: panel.model.rowCount() == n)
