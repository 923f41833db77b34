"""Opening a project never waits on a listing of its masks for a dead run's leftovers: a project
swept clean before answers from its stamp, and the Browser leaves a due sweep to a worker
(opening a 70 000-mask project took 1.5 s in the GUI thread, every time). Nothing a living
run is making is removed, and what a dead run left still is."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np

from qbi_desktop.core import leftovers
from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.jobs import run_job


def _project_with_masks(tmp_path: Path, n: int = 12) -> Path:
    root = tmp_path / "p"
    rng = np.random.default_rng(0)
    with open_project(root, create=True) as project, project.transaction() as tx:
        images = [
            tx.store_image(rng.integers(0, 999, (8, 8), np.uint16), f"s{i}") for i in range(n)
        ]
        ids = tx.add_items(
            [
                NewItem(name=f"s{i}", hash=f"{i:032x}", path=path, width=8, height=8)
                for i, path in enumerate(images)
            ]
        )
        for i in ids:
            tx.set_mask(i, np.eye(8, dtype=np.uint8) * (i % 3 + 1), None)
    return root


def _orphan(root: Path, item: int = 1) -> Path:
    """A mask file as a save killed before its commit leaves it (named like ours, no row)."""
    path = root / "masks" / f"{item}-0badf00d.tif"
    path.write_bytes(b"written, never committed")
    return path


def test_a_project_swept_clean_opens_without_looking_at_its_masks_again(tmp_path):
    root = _project_with_masks(tmp_path)
    masks = sorted((root / "masks").iterdir())
    with open_project(root) as project:  # the first open looks (the writer left no stamp)
        assert project.swept is None
    # ... and notes what it found; before, any mask file at all meant a full listing each time
    assert not leftovers.has_candidates(root)
    with open_project(root) as project:
        assert project.swept is None
    assert sorted((root / "masks").iterdir()) == masks  # nothing of the user's was removed


def test_a_dead_runs_file_after_a_clean_sweep_is_still_found(tmp_path):
    root = _project_with_masks(tmp_path)
    open_project(root).close()
    assert not leftovers.has_candidates(root)
    orphan = _orphan(root)
    assert leftovers.has_candidates(root)
    with open_project(root) as project:
        assert project.swept is not None and project.swept.paths == [orphan]
    assert not orphan.exists()
    assert not leftovers.has_candidates(root)


def test_a_row_removed_by_a_run_killed_before_it_deleted_the_file_is_found(tmp_path):
    """Removing an item's mask commits first and deletes the file after: a kill in between
    leaves the folder as it was, only the catalog changed."""
    root = _project_with_masks(tmp_path)
    open_project(root).close()
    db = sqlite3.connect(root / "catalog.sqlite")
    (stored,) = db.execute("SELECT path FROM masks WHERE item_id = 2").fetchone()
    db.execute("DELETE FROM masks WHERE item_id = 2")
    db.commit()
    db.close()
    assert leftovers.has_candidates(root)
    with open_project(root) as project:
        assert project.swept is not None and project.swept.paths == [root / stored]


def test_sweep_later_leaves_the_work_to_the_job_which_spares_what_a_living_run_writes(tmp_path):
    root = _project_with_masks(tmp_path)
    orphan = _orphan(root)
    time.sleep(0.05)  # the dead run is over before the open (file times are coarse)
    with open_project(root, sweep_later=True) as project:
        assert project.pending_sweep is not None
        assert orphan.exists()  # the open did not wait for the sweep
        in_flight = _orphan(root, item=3)  # a save of this window, not yet committed
        swept = run_job(leftovers.sweep_project_job(project.root, project.pending_sweep))
        assert swept.paths == [orphan]
        assert not orphan.exists() and in_flight.exists()
        kept = {p.name for p in (root / "masks").iterdir()}
        with sqlite3.connect(root / "catalog.sqlite") as db:
            referenced = {Path(r[0]).name for r in db.execute("SELECT path FROM masks")}
        assert referenced <= kept
    # the file still in flight was left: it is looked at again on the next open
    assert leftovers.has_candidates(root)


def test_a_clean_project_needs_no_later_sweep(tmp_path):
    root = _project_with_masks(tmp_path)
    open_project(root).close()
    with open_project(root, sweep_later=True) as project:
        assert project.pending_sweep is None and project.swept is None


def test_browser_open_returns_before_the_sweep_and_a_task_removes_the_leftover(
    qtbot, main_window, tmp_path
):
    root = _project_with_masks(tmp_path)
    orphan = _orphan(root)
    time.sleep(0.05)
    browser = main_window.panels["browser"]
    assert browser.open_project(root)
    assert browser.project.swept is None  # the open itself did not list the masks
    task = browser.sweep_task
    assert task.title == "Look for leftovers of a stopped run"
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    assert task.state == "done", task.error
    assert task.result.paths == [orphan] and not orphan.exists()
    assert "removed 1 leftover(s)" in main_window.statusBar().currentMessage()
    assert browser.model.rowCount() == 12


def test_a_start_with_nothing_to_recover_lists_no_task(qtbot, main_window):
    """The start-up look for unsaved masks was a Tasks row for seconds (its end waited for
    the window's panels to be built) although the recovery folder was empty."""
    panel = main_window.panels["annotate"]
    assert panel.leftovers is not None and not panel.leftovers.message()
    assert not any(t.title == "Look for unsaved masks" for t in main_window.tasks.tasks)


def test_a_stamp_that_is_not_a_regular_file_or_not_ours_means_a_sweep(tmp_path):
    import os
    import threading

    root = _project_with_masks(tmp_path)
    stamp = root / leftovers.STAMP
    stamp.write_text('{"folders": {}, "references": [0, 0, 0]}')  # says nothing true
    orphan = _orphan(root)
    assert leftovers.has_candidates(root)
    stamp.unlink()
    os.mkfifo(stamp)  # reading it would wait for a writer for ever
    orphan = _orphan(root)
    outcome = []

    def opening() -> None:
        with open_project(root) as project:
            outcome.append(project.swept)

    opener = threading.Thread(target=opening)
    opener.start()
    opener.join(30)
    assert not opener.is_alive(), "the open hung on the FIFO"
    assert outcome[0] is not None and outcome[0].paths == [orphan]
    assert stamp.is_file() and not stamp.is_symlink()  # replaced by a real stamp
