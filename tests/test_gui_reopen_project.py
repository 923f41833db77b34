"""A relaunch reopens the project that was open when the app closed (a setting, on by default).

After Ctrl+Q and a relaunch the Browser said "No project open" while the Baselines dock still
showed the project's folder. Here the real window is closed with a project open and a second
window starts as the app starts one (the viewer first, the panels after); the Browser and the
Baselines dock must both show the project, or neither. A project that is gone is told once in the
status bar (no message box); a start with files on its command line opens those, not the project.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
from PySide6.QtWidgets import QApplication, QMessageBox

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

REPO = Path(__file__).resolve().parents[1]


def _project(base: Path, name: str = "proj1") -> Path:
    folder = base / f"{name}_in"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f"edge_{i}.tif", np.full((32, 40), 100 + i, np.uint16))
    root = base / name
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [folder]))
    return root


def _close(window) -> None:
    window.tasks.cancel_all()
    window.tasks.wait(5000)
    window.close()
    QApplication.processEvents()


def _first_session(qtbot, root: Path | None, reopen: bool | None = None):
    """A window with ``root`` open, closed as Ctrl+Q closes it (``reopen``: the menu setting)."""
    from qbi_desktop.gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    if root is not None:
        assert window.panels["browser"].open_project(root)
    if reopen is not None:
        action = window.reopen_project_action
        assert action.isChecked()  # on by default
        assert action in window.menus["dataset"].actions()
        if not reopen:
            action.trigger()  # as a click on the menu entry
    _close(window)


def _relaunch(qtbot):
    """The next start as the app does it with nothing on its command line."""
    from qbi_desktop.gui.main_window import MainWindow

    window = MainWindow(defer_panels=True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    reopening = window.reopen_last_project()
    window.install_panels()
    qtbot.wait(50)
    return window, reopening


def _shown_project(window) -> tuple[Path | None, Path | None, str]:
    """The project the Browser shows, the one the Baselines form uses, and its note."""
    browser = window.panels["browser"]
    form = window.panels["baselines"].form
    root = browser.project.root if browser.project is not None else None
    return root, form.open_project_root(), form.project_note.text()


def test_a_relaunch_reopens_the_last_project_in_browser_and_baselines(
    qtbot, settings_dir, tmp_path
):
    root = _project(tmp_path)
    _first_session(qtbot, root, reopen=True)
    window, reopening = _relaunch(qtbot)
    try:
        assert reopening == root
        browser_root, baselines_root, note = _shown_project(window)
        assert browser_root == root and baselines_root == root
        assert str(root) in note and "No project open" not in note
        assert window.panels["browser"].model.rowCount() == 3
        assert root.name in window.windowTitle()
        assert window.project_is_open  # the project actions are enabled
    finally:
        _close(window)


def test_no_project_at_close_means_none_at_the_next_start(qtbot, settings_dir, tmp_path):
    root = _project(tmp_path)
    _first_session(qtbot, root)
    _first_session(qtbot, None)  # closed with no project open (Dataset > Close Project)
    window, reopening = _relaunch(qtbot)
    try:
        assert reopening is None
        assert _shown_project(window)[:2] == (None, None)
    finally:
        _close(window)


def test_reopening_turned_off_in_the_dataset_menu_is_kept(qtbot, settings_dir, tmp_path):
    root = _project(tmp_path)
    _first_session(qtbot, root, reopen=False)
    window, reopening = _relaunch(qtbot)
    try:
        assert reopening is None
        browser_root, baselines_root, _note = _shown_project(window)
        assert browser_root is None and baselines_root is None
        assert not window.reopen_project_action.isChecked()  # the setting stays off
    finally:
        _close(window)


def test_a_gone_project_is_said_once_in_the_status_bar(qtbot, settings_dir, tmp_path):
    root = _project(tmp_path)
    _first_session(qtbot, root)
    shutil.rmtree(root)
    window, _reopening = _relaunch(qtbot)
    try:
        message = window.statusBar().currentMessage()
        assert "not reopened" in message and str(root) in message and "gone" in message
        boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]
        assert not [b for b in boxes if b.isVisible()], [b.text() for b in boxes]
        assert _shown_project(window)[:2] == (None, None)
    finally:
        _close(window)
    # said once: the next start does not try (nor say it) again
    window, reopening = _relaunch(qtbot)
    try:
        assert reopening is None and "not reopened" not in window.statusBar().currentMessage()
    finally:
        _close(window)


def _launch(home: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, QBI_DESKTOP_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    env.pop("QBI_DESKTOP_REPORT_READY", None)
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "qbi_desktop", "--new-instance", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _log_after(home: Path, text: str, process: subprocess.Popen, timeout: float = 60) -> str:
    log = home / "logs" / "qbi-desktop.log"
    deadline = time.monotonic() + timeout
    found = ""
    while time.monotonic() < deadline:
        found = log.read_text() if log.exists() else ""
        if text in found:
            return found
        assert process.poll() is None, f"app exited ({process.returncode}): {process.stderr.read()}"
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in the log:\n{found}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(10)


def test_the_app_reopens_the_project_unless_files_are_named(tmp_path):
    """Two real starts of the app with the settings of a session that closed with proj1 open:
    with nothing named it opens proj1; with an image named it opens that image only."""
    root = _project(tmp_path)
    image = tmp_path / "other.tif"
    tifffile.imwrite(image, np.full((20, 30), 5, np.uint16))
    for home in (tmp_path / "home_a", tmp_path / "home_b"):
        (home / "config").mkdir(parents=True)
        (home / "config" / "qbi-desktop.ini").write_text(
            f"[meta]\nstarted_before=true\n\n[session]\nlast_project={root}\n"
        )
    bare = _launch(tmp_path / "home_a")
    try:
        _log_after(tmp_path / "home_a", f"opened project {root}", bare)
    finally:
        _stop(bare)
    named = _launch(tmp_path / "home_b", str(image))
    try:
        log = _log_after(tmp_path / "home_b", f"opened {image}", named)
        time.sleep(2)  # the panels are built after the image: time enough to open a project
        log = (tmp_path / "home_b" / "logs" / "qbi-desktop.log").read_text()
        assert "opened project" not in log
    finally:
        _stop(named)


def _in_front(window, name: str) -> bool:
    dock = window.docks[name]
    return dock.isVisible() and not dock.visibleRegion().isEmpty()


def test_reset_layout_with_a_project_open_shows_the_browser(qtbot, main_window, tmp_path):
    """View > Reset Layout with a project open put the Files list in front of the Browser."""
    window = main_window
    assert window.panels["browser"].open_project(_project(tmp_path))
    qtbot.wait(50)
    assert _in_front(window, "browser")
    window.docks["files"].raise_()  # the user looks at the Files list for a while
    qtbot.waitUntil(lambda: _in_front(window, "files"))
    reset = next(
        a for a in window.menus["view"].actions() if a.text().replace("&", "") == "Reset Layout"
    )
    reset.trigger()
    qtbot.wait(100)
    assert _in_front(window, "browser") and not _in_front(window, "files")
    # with no project open the Files list is the one in front, as before
    assert window.panels["browser"].close_project_asked()
    reset.trigger()
    qtbot.wait(100)
    assert _in_front(window, "files") and not _in_front(window, "browser")
