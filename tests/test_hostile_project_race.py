"""Two processes creating one project at the same moment (two imports started together, the GUI
and a command): SQLite makes its file at the first connection and the schema after, so the
others found an empty or half-made catalog and called it damaged ("the catalog file is empty
(0 bytes) ... restore it from a backup", "table meta already exists"). Now one creates the
catalog whole and the others open it as the existing project it is."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

CREATORS = 4


def _create(root, barrier, results):
    barrier.wait()
    try:
        with open_project(root, create=True) as project:
            results.put(("created" if project.created else "opened", len(project)))
    except Exception as exc:  # the outcome under test: reported, not raised in the child
        results.put((type(exc).__name__, str(exc)))


def test_processes_creating_one_project_at_once_all_open_it(tmp_path):
    context = multiprocessing.get_context("spawn")
    for trial in range(4):  # the race was lost in 15 of 15 trials of 4 creators
        root = tmp_path / f"p{trial}"
        barrier, results = context.Barrier(CREATORS), context.Queue()
        children = [
            context.Process(target=_create, args=(root, barrier, results)) for _ in range(CREATORS)
        ]
        for child in children:
            child.start()
        outcomes = sorted(results.get(timeout=120) for _ in children)
        for child in children:
            child.join(30)
        assert outcomes == [("created", 0)] + [("opened", 0)] * (CREATORS - 1), outcomes
        assert not [p.name for p in root.iterdir() if p.name.startswith(".catalog-new-")]


def test_an_import_overtaken_by_another_of_the_same_files_says_so(tmp_path):
    """Two imports of one folder into one project: the one that read the project first and
    wrote second ended with SQLite's "UNIQUE constraint failed: items.path"."""
    (tmp_path / "src" / "c").mkdir(parents=True)
    for i in range(3):
        tifffile.imwrite(tmp_path / "src" / "c" / f"im{i}.tif", np.full((8, 8), i, np.uint16))
    with open_project(tmp_path / "p", create=True) as first, open_project(tmp_path / "p") as second:
        slow = import_job(first, "imagefolder", [str(tmp_path / "src")])
        while next(slow).message != "reading images":  # it has read what the project holds
            pass
        run_job(import_job(second, "imagefolder", [str(tmp_path / "src")]))  # overtakes it
        with pytest.raises(UserFacingError) as stop:
            for _ in slow:
                pass
        assert "another import added some of these image files" in str(stop.value)
        assert "run the import again" in str(stop.value)
        assert len(second) == 3  # the other import's items stay, nothing twice


def test_a_catalog_a_killed_creator_was_making_is_removed_at_the_next_open(tmp_path):
    """A creator killed while making the catalog leaves it under its working name; the next
    open removes it once its process is gone and it is old, and spares a living one's."""
    import os
    import subprocess
    import sys

    from qbi_desktop.core.catalog.creation import NEW_PREFIX, STALE_S

    root = tmp_path / "p"
    with open_project(root, create=True):
        pass
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(gone.stdout)  # a process that has ended
    old = os.path.getmtime(root / "catalog.sqlite") - STALE_S - 60
    dead = [root / f"{NEW_PREFIX}{dead_pid}-0a1b2c3d.sqlite{s}" for s in ("", "-wal", "-shm")]
    living = root / f"{NEW_PREFIX}{os.getpid()}-0a1b2c3d.sqlite"  # this process: alive
    young = root / f"{NEW_PREFIX}{dead_pid}-feedbeef.sqlite"  # just made: may be a creator
    for path in (*dead, living, young):
        path.write_bytes(b"SQLite format 3\0")
    for path in (*dead, living):
        os.utime(path, (old, old))
    with open_project(root) as project:
        assert len(project) == 0
    assert not any(path.exists() for path in dead)
    assert living.exists() and young.exists()
