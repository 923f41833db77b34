"""Opening an older catalog in the Browser: its update runs as a listed task whose progress the
status bar shows, and the project opens when it ends; a cancelled update leaves the catalog as
it was and opens nothing."""

from __future__ import annotations

import shutil
import sqlite3

from qbi_desktop.core.catalog import SCHEMA_VERSION, schema
from tests.test_catalog_v9 import V8


def _version(root) -> int:
    db = sqlite3.connect(root / "catalog.sqlite")
    try:
        return schema.schema_version(db)
    finally:
        db.close()


def test_an_older_catalog_is_updated_with_progress_then_opened(qtbot, main_window, tmp_path):
    root = tmp_path / "old"
    shutil.copytree(V8, root)
    panel = main_window.panels["browser"]
    messages = []
    main_window.statusBar().messageChanged.connect(messages.append)
    assert panel.open_project(root) is False  # not yet: its update runs first
    task = panel.upgrade_task
    assert task is not None and task in main_window.tasks.tasks and task.listed
    qtbot.waitUntil(lambda: panel.project is not None, timeout=30000)
    assert panel.project.root == root.absolute()
    assert _version(root) == SCHEMA_VERSION
    assert panel.model.rowCount() == len(panel.project)
    assert any("Updating the catalog's indexes" in m for m in messages), messages
    assert any("catalog updated" in m for m in messages), messages
    assert panel.upgrade_task is None


def test_a_cancelled_update_leaves_the_catalog_as_it_was(qtbot, main_window, tmp_path):
    root = tmp_path / "old"
    shutil.copytree(V8, root)
    panel = main_window.panels["browser"]
    main_window.tasks.pool.setMaxThreadCount(1)
    # the pool's only thread is busy: the update waits in the queue, where it is cancelled
    gate = []
    blocker = main_window.tasks.submit("hold", lambda: _hold(gate), listed=False)
    try:
        assert panel.open_project(root) is False
        panel.upgrade_task.cancel()
    finally:
        gate.append(True)
    qtbot.waitUntil(lambda: blocker.finished and panel.upgrade_task is None, timeout=30000)
    assert panel.project is None
    assert _version(root) == 8
    assert "cancelled" in main_window.statusBar().currentMessage()
    assert panel.open_project(root) is False  # asked again: updated and opened
    qtbot.waitUntil(lambda: panel.project is not None, timeout=30000)
    assert _version(root) == SCHEMA_VERSION


def _hold(gate):
    import time

    from qbi_desktop.core.jobs import Progress

    while not gate:
        time.sleep(0.01)
        yield Progress(0)
    return None
