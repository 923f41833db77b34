"""A catalog of the oldest schema (v1, ``schema.MIGRATIONS[0]`` as the first release ran it, with
the rows that release wrote: image files, the rows of an NPZ container with their own
``"index"`` provenance, boxes without an annotator, a mask file, targets, the simulated objects'
``mask_classes {"1..m": ...}``) is updated and opened by every way in: the update job, a plain
open, a command, and the Browser; its data come through."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import numpy as np
import tifffile

from qbi_desktop.core.catalog import SCHEMA_VERSION, open_project, schema
from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.catalog.upgrade import pending, upgrade_job
from qbi_desktop.core.jobs import run_job


def make_v1(root):
    """A v1 catalog as the first release wrote it (its SQL, its rows)."""
    root.mkdir(parents=True)
    (root / "masks").mkdir()
    tifffile.imwrite(root / "a.tif", np.full((8, 10), 7, np.uint16))
    mask = np.zeros((8, 10), np.uint8)
    mask[2:4, 3:6] = 1
    tifffile.imwrite(root / "masks" / "1-0a0b0c0d.tif", mask)
    np.savez(root / "arr.npz", x=np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4))
    db = sqlite3.connect(root / "catalog.sqlite", isolation_level=None)
    for statement in schema._statements(schema.MIGRATIONS[0]):
        db.execute(statement)
    db.execute("PRAGMA journal_mode = WAL")
    added = "2026-01-01T00:00:00+00:00"
    db.execute(
        "INSERT INTO items(id, name, path, hash, size, width, height, label, split, provenance, "
        "added) VALUES (1, 'a.tif', 'a.tif', 'h1', 1, 10, 8, 'cell', 'train', ?, ?)",
        (json.dumps({"source": "imagefolder"}), added),
    )
    db.execute(
        "INSERT INTO containers(id, path, kind, key, hash, size, count) "
        "VALUES (1, 'arr.npz', 'npz', 'x', 'hc', 1, 3)"
    )
    for i in range(3):
        db.execute(
            "INSERT INTO items(id, name, container_id, idx, hash, width, height, label, "
            "provenance, added) VALUES (?, ?, 1, ?, ?, 4, 4, ?, ?, ?)",
            (
                2 + i,
                f"arr-x-{i}",
                i,
                f"hx{i}",
                "01"[i % 2],
                json.dumps({"source": "npz", "imported_from": "arr.npz", "index": i}),
                added,
            ),
        )
    db.execute("INSERT INTO targets(item_id, name, value) VALUES (1, 'depth', 2.5)")
    db.execute("INSERT INTO boxes(item_id, label, x, y, w, h) VALUES (1, 'cell', 1, 1, 3, 2)")
    db.execute(
        "INSERT INTO masks(item_id, path, updated) VALUES (1, 'masks/1-0a0b0c0d.tif', ?)", (added,)
    )
    db.execute(
        "INSERT INTO meta(key, value) VALUES ('mask_classes', ?)",
        (json.dumps({"1..m": "phantom object (one id each)"}),),
    )
    db.execute("PRAGMA user_version = 1")
    db.close()
    return root


def _check(project):
    assert schema.schema_version(project.db) == SCHEMA_VERSION
    assert len(project) == 4 and project.targets(1) == {"depth": 2.5}
    assert [(b.label, b.w) for b in project.boxes(1)] == [("cell", 3.0)]
    assert project.mask(1).sum() == 6
    assert np.array_equal(project.image(3), np.arange(16, 32, dtype=np.uint8).reshape(4, 4))
    assert C.class_list(project) == ["0", "1", "cell"]
    assert project.metadata().get("mask_instances") == "object"
    assert project.ids(sort="-target:depth")[0] == 1


def test_the_update_job_then_the_open(tmp_path):
    root = make_v1(tmp_path / "p")
    assert pending(root)
    assert run_job(upgrade_job(root)) == 1
    with open_project(root) as project:
        _check(project)


def test_a_plain_open_and_a_command(tmp_path):
    with open_project(make_v1(tmp_path / "p")) as project:
        _check(project)
    root = make_v1(tmp_path / "q")
    done = subprocess.run(
        [sys.executable, "-m", "qbi_desktop", "info", "--project", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "4 item(s)" in done.stdout and "Catalog updated" in done.stderr


def test_the_browser_updates_and_opens_it_and_its_items(qtbot, main_window, tmp_path):
    root = make_v1(tmp_path / "p")
    panel = main_window.panels["browser"]
    errors = []
    main_window.report_error = lambda message, *a, **k: errors.append(message)
    main_window.panels["annotate"].unsaved_answer = "discard"
    panel.open_project(root)
    qtbot.waitUntil(lambda: panel.project is not None or bool(errors), timeout=30000)
    assert not errors and panel.model.rowCount() == 4
    _check(panel.project)
    for row in range(4):
        panel.open_item(row)
    qtbot.waitUntil(lambda: len(main_window.documents) == 4, timeout=10000)
    assert not errors
