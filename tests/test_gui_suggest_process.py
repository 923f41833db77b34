"""The suggestion model lives in a child process: started when a project opens, kept when
another opens, ended when the project closes and when the window closes (no process left
behind), and replaced when it dies, while suggestions keep coming. Real projects of
scikit-learn's digits."""

from __future__ import annotations

import os
import signal

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from sklearn.datasets import load_digits

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def _make(tmp_path, name: str, n: int, labelled: int):
    d = load_digits()
    npz = tmp_path / f"{name}.npz"
    np.savez(npz, x_train=(d.images[:n] * 16).clip(0, 255).astype(np.uint8))
    root = tmp_path / name
    with open_project(root, create=True) as project:
        run_job(import_job(project, "npz", [npz]))
        ids = project.ids()
        for i in range(labelled):
            project.set_label([ids[i]], str(d.target[i]))
    return root, ids, d.target[:n]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _open(qtbot, panel, root):
    suggest = panel.suggestions
    assert panel.open_project(root)
    qtbot.waitUntil(lambda: suggest.table is not None and not suggest.table.pending, timeout=30000)
    return suggest


def test_the_model_process_follows_the_project_and_ends_with_the_window(
    qtbot, main_window, tmp_path
):
    a, ids_a, _ = _make(tmp_path, "a", 120, 20)
    b, ids_b, _ = _make(tmp_path, "b", 90, 30)
    panel = main_window.panels["browser"]
    suggest = _open(qtbot, panel, a)
    pid_a = suggest.worker.pid
    assert pid_a != os.getpid() and not _gone(pid_a)  # the model is not in the GUI process
    # nor in its session: where the CPU is shared between sessions first (Linux autogroup),
    # the child's work would come out of the GUI thread's share
    assert os.getsid(pid_a) == pid_a != os.getsid(0)
    assert suggest.table.labelled + suggest.table.unlabelled == 120

    # another project: the same process (its imports done) suggests for the new items
    suggest = _open(qtbot, panel, b)
    qtbot.wait(50)
    pid_b = suggest.worker.pid
    assert pid_b == pid_a and not _gone(pid_b)
    assert sorted(suggest.table.ids.tolist()) == sorted(ids_b[30:])

    # the project closed: no process, no counter
    panel.close_project()
    qtbot.waitUntil(lambda: _gone(pid_b), timeout=10000)
    assert suggest.worker is None and suggest.counter_text() == ""

    # the window closed with a project open: its process does not outlive it
    suggest = _open(qtbot, panel, a)
    pid = suggest.worker.pid
    assert not _gone(pid)
    main_window.close()
    qtbot.waitUntil(lambda: _gone(pid), timeout=10000)
    assert suggest.worker is None


def test_a_killed_model_process_is_replaced_and_suggestions_go_on(qtbot, main_window, tmp_path):
    root, ids, truth = _make(tmp_path, "p", 200, 40)
    panel = main_window.panels["browser"]
    suggest = _open(qtbot, panel, root)
    model = panel.model
    pid = suggest.worker.pid
    os.kill(pid, signal.SIGKILL)  # the kernel's out-of-memory killer, a crash in C code
    qtbot.waitUntil(lambda: _gone(pid) or not suggest.worker.alive, timeout=10000)
    # the next label the user types asks a new process, which learns from it
    item = ids[60]
    panel.table.setCurrentIndex(model.index(model.row_of(item), 1))
    panel.table.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(panel.table, getattr(Qt.Key, f"Key_{truth[60]}"))
    qtbot.waitUntil(lambda: suggest.table.labelled == 41, timeout=30000)
    assert suggest.worker.pid not in (None, pid)
    assert suggest.table.lookup(item) is None  # labelled now
    right = [suggest.suggestion_for(i)[0] == str(truth[n]) for n, i in enumerate(ids) if n > 60]
    assert np.mean(right) > 0.7
    assert "Suggestions:" not in suggest.counter_text()  # no error shown: nothing was lost
