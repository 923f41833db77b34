"""Leftovers in ``annotators/<person>/``: a save killed between writing an annotator's own mask
and committing it leaves the file behind; the next open removes it (and atomic-write
temporaries there), keeps every mask an opinion names, and leaves the catalog's bytes alone."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import tifffile

from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

REPO = Path(__file__).resolve().parents[1]


def _project_with_own_mask(tmp_path: Path) -> tuple[Path, int, np.ndarray]:
    image = tmp_path / "a.tif"
    tifffile.imwrite(image, np.zeros((6, 8), np.uint16))
    root = tmp_path / "p"
    with open_project(root, create=True) as project:
        with project.transaction() as tx:
            (item,) = tx.add_items([NewItem("a", "h1", path=image, width=8, height=6)])
        mask = np.zeros((6, 8), np.uint8)
        mask[1:3, 2:5] = 1
        project.set_mask(item, mask, "ada")  # the item's mask and Ada's own copy
    return root, item, mask


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_save_killed_before_its_commit_leaves_a_mask_that_the_next_open_removes(tmp_path):
    root, item, mask = _project_with_own_mask(tmp_path)
    (kept,) = list((root / "annotators").rglob("*.tif"))
    # Bob saves a mask; the process is killed (SIGKILL) once his own file is in place, before
    # the transaction commits
    script = textwrap.dedent(
        f"""
        import os, signal
        import numpy as np
        from qbi_desktop.core.catalog import open_project, opinions
        real = opinions.record
        def record(db, ids, annotator, kind, value, at, name=""):
            if kind == "mask":
                os.kill(os.getpid(), signal.SIGKILL)
            return real(db, ids, annotator, kind, value, at, name)
        opinions.record = record
        project = open_project({str(root)!r})
        project.set_mask({item}, np.ones((6, 8), np.uint8), "bob")
        """
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    run = subprocess.run([sys.executable, "-c", script], env=env, timeout=120, capture_output=True)
    assert run.returncode == -9, run.stderr
    bobs = [p for p in (root / "annotators").rglob("*.tif") if p.parent != kept.parent]
    assert len(bobs) == 1  # what the killed save left
    temp = kept.parent / f".{item}-89abcdef.tif.Xy12ab34.tmp"  # an atomic write's temporary
    temp.write_bytes(b"half")

    masks_before = set((root / "masks").iterdir())
    with open_project(root) as project:
        assert project.swept is not None
        (stored,) = project.db.execute("SELECT path FROM masks").fetchone()
        item_masks = sorted(masks_before - {project.resolve(stored)})
        # the item's mask the killed save wrote (masks/), Bob's own copy, the temporary
        assert sorted(project.swept.paths) == sorted([*item_masks, bobs[0], temp])
        assert len(item_masks) == 1
        assert np.array_equal(project.mask(item), mask)
        assert project.db.execute("SELECT COUNT(*) FROM opinions").fetchone()[0] == 1
    assert kept.exists()
    assert not bobs[0].exists() and not temp.exists()


def test_opening_a_project_leaves_its_catalog_bytes_alone(tmp_path):
    """The sweep reads which masks the opinions name. Read on the project's own connection,
    that made it ANALYZE the opinions table when it closed (``PRAGMA optimize``): the first
    open after an import changed the catalog of a project that was only read."""
    npz = tmp_path / "d.npz"
    np.savez(npz, x_train=np.zeros((6, 8, 8), np.uint8), y_train=np.arange(6) % 2)
    root = tmp_path / "p"
    with open_project(root, create=True) as project:  # as an import leaves it
        run_job(import_job(project, "npz", [npz]))
        item = project.ids()[0]
    person = root / "annotators" / "ada-0123abcd"  # a first save of Ada's, killed
    person.mkdir(parents=True)
    orphan = person / f"{item}-0123abcd.tif"
    orphan.write_bytes(b"not committed")
    catalog = root / "catalog.sqlite"
    before = _digest(catalog)
    with open_project(root) as project:
        assert project.swept is not None and project.swept.paths == [orphan]
    assert _digest(catalog) == before
    with open_project(root) as project:  # nothing left to sweep, still nothing written
        assert project.swept is None
    assert _digest(catalog) == before


def test_files_of_other_names_and_other_folders_stay(tmp_path):
    root, item, _mask = _project_with_own_mask(tmp_path)
    person = next((root / "annotators").iterdir())
    notes = person / "notes.txt"
    notes.write_text("mine")
    other = root / "annotators" / "loose-0123abcd.tif"  # not inside a person's folder
    other.write_bytes(b"x")
    nested = person / "old"
    nested.mkdir()
    (nested / f"{item}-0123abcd.tif").write_bytes(b"x")
    with open_project(root) as project:
        assert project.swept is None
    assert notes.exists() and other.exists() and (nested / f"{item}-0123abcd.tif").exists()
