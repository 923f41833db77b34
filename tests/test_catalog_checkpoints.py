"""WAL checkpoints off the GUI's commits: a project opened interactively (the Browser's) never
runs a checkpoint inside a COMMIT on its own connection - its checkpoint thread does them, the
WAL stays bounded, and a killed process loses no committed label. Real catalogs on disk; what
SQLite did is read from the WAL index (the ``-shm`` file, https://sqlite.org/walformat.html)."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import open_project

try:
    from tests.test_gui_browser import _mnist_subset
except ImportError:  # pragma: no cover
    from test_gui_browser import _mnist_subset


class _WalIndex:
    """(frames in the WAL, frames of them already copied into the database file) from the
    WAL-index header: mxFrame at byte 16, nBackfill at byte 96, native byte order.
    The file stays open until every connection to the catalog in this process is closed:
    closing any descriptor of it drops the process's POSIX locks on it, SQLite's included -
    another process then takes the WAL index for unused and truncates it under our mapping."""

    def __init__(self, db_path: Path):
        self.fd = os.open(f"{db_path}-shm", os.O_RDONLY)

    def __call__(self) -> tuple[int, int]:
        head = os.pread(self.fd, 100, 0)
        assert struct.unpack_from("=I", head, 0)[0] == 3007000  # the format these offsets are of
        return struct.unpack_from("=I", head, 16)[0], struct.unpack_from("=I", head, 96)[0]

    def close(self) -> None:
        os.close(self.fd)


def _checkpointed_in(before: tuple[int, int], after: tuple[int, int]) -> bool:
    """A checkpoint copied frames between the two readings (a WAL that was restarted - its
    frame count dropped - was fully checkpointed before, which the readings show on their own)."""
    return after[1] > before[1]


def _label_one_by_one(project, wal, ids, rounds: int, hold=None):
    """Label ``ids`` one commit each, ``rounds`` times round, as keys in the Browser do; the
    WAL state around each commit, taken while ``hold`` (a lock) is held if given."""
    states = []
    for r in range(rounds):
        for item_id in ids:
            if hold is not None:
                hold.acquire()
            try:
                before = wal()
                project.set_label([item_id], f"c{(item_id + r) % 3}")
                states.append((before, wal()))
            finally:
                if hold is not None:
                    hold.release()
    return states


def _frames_written(states) -> int:
    return sum(a[0] - b[0] if a[0] >= b[0] else a[0] for b, a in states)


def test_label_commits_on_an_interactive_project_never_checkpoint_on_its_connection(tmp_path):
    root, _ = _mnist_subset(tmp_path, n=60)
    project = open_project(root, interactive=True)
    wal = _WalIndex(project.db_path)
    try:
        ids = project.ids()
        # the checkpoint thread held off around each commit: what happens in it is the commit's
        states = _label_one_by_one(project, wal, ids, 8, hold=project.checkpoints.lock)
        written = _frames_written(states)
        assert written > 2000  # past SQLite's automatic checkpoint (1 000 pages) twice over
        assert not [s for s in states if _checkpointed_in(*s)]
        assert project.get(ids[5])["label"] == f"c{(ids[5] + 7) % 3}"
    finally:
        project.close()
        wal.close()


def test_a_plain_project_still_checkpoints_in_its_commits(tmp_path):
    """The CLI and imports keep SQLite's automatic checkpoint: what the test above tells apart."""
    root, _ = _mnist_subset(tmp_path, n=60)
    project = open_project(root)
    wal = _WalIndex(project.db_path)
    try:
        assert project.checkpoints is None
        states = _label_one_by_one(project, wal, project.ids(), 8)
        assert [s for s in states if _checkpointed_in(*s)]
    finally:
        project.close()
        wal.close()


def _wait_checkpointed(wal, timeout: float = 30.0) -> tuple[int, int]:
    """Wait until the checkpoint thread has copied every frame (a bound, not a speed test)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state = wal()
        if state[0] == state[1]:
            return state
        time.sleep(0.05)
    raise AssertionError(f"the WAL was never checkpointed: {wal()}")


def test_the_checkpoint_thread_keeps_the_wal_from_growing(tmp_path):
    root, _ = _mnist_subset(tmp_path, n=60)
    project = open_project(root, interactive=True)
    wal_file = Path(f"{project.db_path}-wal")
    wal = _WalIndex(project.db_path)
    try:
        ids = project.ids()
        sizes = []
        for _ in range(4):
            states = _label_one_by_one(project, wal, ids, 2)
            assert not [s for s in states if s[1][0] > 20_000]  # never runs away meanwhile
            _wait_checkpointed(wal)
            sizes.append(wal_file.stat().st_size)
        # the next commit starts the WAL over: its file is reused, not grown round after round
        assert sizes[-1] <= sizes[0] * 1.5, sizes
        project.set_label([ids[0]], "c0")
        assert wal()[0] < 100
    finally:
        project.close()
        wal.close()
    assert not project.checkpoints.running
    # the last connection closed: SQLite checkpointed and removed the WAL
    assert not wal_file.exists() or wal_file.stat().st_size == 0


_KILLED_CHILD = r"""
import sys, time
from qbi_desktop.core.catalog import open_project

project = open_project(sys.argv[1], interactive=True)
ids = project.ids()
project.checkpoints.lock.acquire()  # the labels stay in the WAL alone when the kill comes
for k, item_id in enumerate(ids):
    project.set_label([item_id], f"killed{k % 4}")
print("committed", flush=True)
time.sleep(60)
"""


def test_labels_committed_before_a_kill_survive_it(tmp_path):
    root, _ = _mnist_subset(tmp_path, n=40)
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert proc.stdout.readline().strip() == "committed"
        wal = _WalIndex(root / "catalog.sqlite")  # (no connection of ours: closed at once)
        frames, copied = wal()
        wal.close()
        assert frames > copied  # the labels were in the WAL only
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    with open_project(root) as project:
        labels = [project.get(i)["label"] for i in project.ids()]
    assert labels == [f"killed{k % 4}" for k in range(40)]


def test_typing_labels_in_the_browser_never_checkpoints_on_the_gui_thread(
    qtbot, main_window, tmp_path
):
    root, _ = _mnist_subset(tmp_path, n=60)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    project = panel.project
    assert project.checkpoints is not None and project.checkpoints.running
    wal = _WalIndex(project.db_path)
    table = panel.table
    table.setFocus()
    table.selectRow(0)
    QApplication.processEvents()
    states = []
    for k in range(300):
        if table.currentIndex().row() >= 59:
            table.selectRow(0)
        with project.checkpoints.lock:
            before = wal()
            qtbot.keyClick(table, getattr(Qt.Key, f"Key_{k % 3}"))
            states.append((before, wal()))
    item = panel.model.item_id(5)
    shown = panel.model.item(5)["label"]
    panel.close_project()  # (wal stays open: a worker's connection may still be open)
    assert _frames_written(states) > 1500  # the automatic checkpoint would have run
    assert not [s for s in states if _checkpointed_in(*s)]
    with open_project(root) as other:  # what the keys wrote, read back from the file
        assert other.get(item)["label"] == shown


def test_a_catalog_moved_away_is_not_made_again_and_the_checkpoint_says_why(tmp_path):
    from functools import partial

    from qbi_desktop.core.catalog.checkpoints import Checkpointer, connect_for_checkpoints

    gone = tmp_path / "proj" / "catalog.sqlite"
    gone.parent.mkdir()
    checkpoints = Checkpointer(partial(connect_for_checkpoints, gone), period=3600)
    try:
        assert checkpoints.checkpoint() is None  # never raises
        assert "unable to open" in checkpoints.error
        assert not gone.exists()  # no empty catalog left where the user's was
    finally:
        checkpoints.close()
    assert not checkpoints.running
