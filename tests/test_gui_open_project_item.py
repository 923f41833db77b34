"""A file that is an item of the open project opens as that item, however the user opens it.

`qbi-desktop in/ob.tif` (a second launch handing the file over) while ob.tif was item 7 of the
open project opened it as a loose file: the title said "ob.tif — proj2" without "(item 7)", and a
mask painted there went to the user's masks folder, not into the project. Here every way of
opening a file (the hand-off, File > Open's path, Open Recent, a drop, a second launch) is driven
on a real project made with the core import, and the window must show the item.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

REPO = Path(__file__).resolve().parents[1]


def _project(base: Path) -> tuple[Path, Path, int]:
    """A project whose items are TIFFs of ``base/in`` (by reference); the folder, ob.tif's id."""
    folder = base / "in"
    folder.mkdir()
    for i, name in enumerate(("dc.tif", "flat.tif", "ob.tif")):
        tifffile.imwrite(folder / name, np.full((40, 50), 100 * (i + 1), np.uint16))
    root = base / "proj2"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [folder]))
        rows = project.query({"name": "ob.tif"}, limit=None)
        assert [Path(project.resolve(r["source"])) for r in rows] == [folder / "ob.tif"], rows
        item_id = int(rows[0]["id"])
    return root, folder, item_id


@pytest.fixture
def opened_project(qtbot, main_window, tmp_path):
    root, folder, item_id = _project(tmp_path)
    browser = main_window.panels["browser"]
    assert browser.open_project(root)
    return main_window, root, folder, item_id


def _wait_shown(qtbot, window, name: str) -> None:
    qtbot.waitUntil(
        lambda: window.current is not None and window.current.path.name == name, timeout=15000
    )
    qtbot.wait(20)


def _assert_item(window, root: Path, item_id: int) -> None:
    """What the user sees and where a mask painted now would go."""
    title = window.windowTitle()
    assert f"ob.tif (item {item_id})" in title and root.name in title, title
    store = window.panels["annotate"].store_of(window.current)
    assert store is not None, "opened as a loose file: its mask would not go to the project"
    assert Path(store.root) == root and store.item_id == item_id
    row = window.documents.index(window.current)
    assert f"(item {item_id})" in window.files_list.item(row).text()


def test_a_handed_over_file_that_is_an_item_opens_as_that_item(qtbot, opened_project, tmp_path):
    window, root, folder, item_id = opened_project
    # the path as a second launch sends it (absolute), and one spelled through "..": same file
    window.open_files([str(folder / "ob.tif")])
    _wait_shown(qtbot, window, "ob.tif")
    _assert_item(window, root, item_id)
    assert f"item {item_id}" in window.statusBar().currentMessage()

    # opened again by another spelling of its path: the same document, not a second one
    count = len(window.documents)
    window.open_files([str(folder / ".." / "in" / "ob.tif")])
    qtbot.wait(200)
    assert len(window.documents) == count
    _assert_item(window, root, item_id)


def test_a_file_of_no_item_still_opens_by_itself(qtbot, opened_project, tmp_path):
    window, root, _folder, _item_id = opened_project
    loose = tmp_path / "ob.tif"  # the same name as the item, another file
    tifffile.imwrite(loose, np.full((40, 50), 7, np.uint16))
    window.open_files([str(loose)])
    qtbot.waitUntil(lambda: window.current is not None and window.current.path == loose)
    assert window.panels["annotate"].store_of(window.current) is None
    assert "(item" not in window.windowTitle()


def test_open_recent_and_a_drop_open_the_item(qtbot, opened_project):
    window, root, folder, item_id = opened_project
    path = str(folder / "ob.tif")
    # Open Recent: the file was opened by itself before the project knew it
    window.settings.setValue("recent_files", [path])
    window._refresh_recent_menu()
    entry = next(a for a in window.recent_menu.actions() if a.text() == path)
    entry.trigger()
    _wait_shown(qtbot, window, "ob.tif")
    _assert_item(window, root, item_id)
    assert window.close_document(window.current)

    # a drop from the file manager
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(path)])
    drop = QDropEvent(
        QPointF(QPoint(200, 200)),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    # (QApplication.sendEvent passes drop events on only from a drag under way)
    assert window.event(drop) and drop.isAccepted()
    _wait_shown(qtbot, window, "ob.tif")
    _assert_item(window, root, item_id)


def _launch(home: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, QBI_DESKTOP_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    env.pop("QBI_DESKTOP_REPORT_READY", None)
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "qbi_desktop", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_log(home: Path, text: str, process: subprocess.Popen, timeout: float = 60) -> str:
    log = home / "logs" / "qbi-desktop.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = log.read_text() if log.exists() else ""
        if text in found:
            return found
        assert process.poll() is None, f"app exited ({process.returncode}): {process.stderr.read()}"
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in the log:\n{found}")


def test_a_second_launch_with_an_items_file_opens_it_as_the_item(tmp_path):
    """The walkthrough's case with two real processes: the project on the first launch's
    command line, `qbi-desktop in/ob.tif` as the second."""
    root, folder, item_id = _project(tmp_path)
    home = tmp_path / "home"
    running = _launch(home, str(root))
    try:
        _wait_for_log(home, f"opened project {root}", running)
        other = _launch(home, str(folder / "ob.tif"))
        _out, err = other.communicate(timeout=60)
        assert other.returncode == 0 and "already running" in err, err
        log = _wait_for_log(home, f"opened {folder / 'ob.tif'}", running)
        assert f"ob.tif is item {item_id} of project {root.name}: opened as that item" in log
    finally:
        if running.poll() is None:
            running.terminate()
            running.wait(10)
