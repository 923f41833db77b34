"""Catalog schema v6/v7 under hostile conditions: a migration killed (SIGKILL) at any point of
its transaction leaves a catalog that the next open migrates to the same answers as an
uninterrupted run; a v6 catalog from an older version opens; a set of identical images (one
hash shared by thousands of items) is loaded in steps that grow linearly with its size, and the
duplicate counts stay exact through inserts, removals and hash changes."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from qbi_desktop.core.catalog import NewItem, open_project, schema

V5 = Path(__file__).parent / "data" / "catalog_v5"  # made by the schema-5 code (make_v5.py)

# opens the project with a trace callback that kills the process (SIGKILL: no cleanup, no
# rollback by Python) as the n-th statement inside a transaction starts; n = 0: count them
KILLER = r"""
import os, signal, sqlite3, sys
target, ticks = int(sys.argv[2]), [0]
real_connect = sqlite3.connect

def connect(*args, **kwargs):
    db = real_connect(*args, **kwargs)
    def tick(statement):
        if db.in_transaction:
            ticks[0] += 1
            if ticks[0] == target:
                os.kill(os.getpid(), signal.SIGKILL)
    db.set_trace_callback(tick)
    return db

sqlite3.connect = connect
from qbi_desktop.core.catalog import open_project
project = open_project(sys.argv[1])
project.close()
print(ticks[0])
"""


def _answers(folder: Path) -> dict:
    """What a user sees of the catalog: every item, the duplicates, box counts, name search."""
    with open_project(folder) as p:
        assert schema.schema_version(p.db) == schema.SCHEMA_VERSION
        ids = p.ids()
        return {
            "items": {i: p.get(i) for i in ids},
            "duplicates": p.ids({"duplicates": True}),
            "by_boxes": [r["id"] for r in p.query(sort="-n_boxes", limit=5)],
            "named": p.ids({"name": "scan_00"}),
            "check": p.db.execute("PRAGMA integrity_check").fetchone()[0],
        }


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ref") / "p"
    shutil.copytree(V5, folder)
    return _answers(folder)


def _run_killer(folder: Path, target: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", KILLER, str(folder), str(target)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_migration_killed_anywhere_is_redone_on_the_next_open(tmp_path, reference):
    counting = tmp_path / "count"
    shutil.copytree(V5, counting)
    run = _run_killer(counting, 0)
    assert run.returncode == 0, run.stderr[-2000:]
    total = int(run.stdout.split()[-1])
    assert total > 8  # the migration does enough work to be cut in several places
    assert _answers(counting) == reference
    for share in (0.1, 0.3, 0.5, 0.7, 0.9, 1.0):
        folder = tmp_path / f"killed_{share}"
        shutil.copytree(V5, folder)
        killed = _run_killer(folder, max(1, int(total * share)))
        assert killed.returncode == -9, (share, killed.returncode, killed.stderr[-2000:])
        # on disk: the old schema or the new one, never a half-migrated mixture
        raw = sqlite3.connect(folder / "catalog.sqlite")
        version = schema.schema_version(raw)
        names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
        raw.close()
        assert version in (5, schema.SCHEMA_VERSION), (share, version)
        assert ("duplicate_hashes" in names) == (version == schema.SCHEMA_VERSION), share
        assert _answers(folder) == reference, share


def test_a_version_6_catalog_opens_with_the_same_answers(tmp_path, reference):
    folder = tmp_path / "p"
    shutil.copytree(V5, folder)
    db = sqlite3.connect(folder / "catalog.sqlite", isolation_level=None)
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("BEGIN")
    for statement in schema._statements(schema.MIGRATIONS[5]):  # v5 -> v6 as it shipped
        db.execute(statement)
    db.execute("PRAGMA user_version = 6")
    db.execute("COMMIT")
    db.close()
    assert _answers(folder) == reference


def _identical(n: int, start: int, digest: str = "same") -> list[NewItem]:
    return [
        NewItem(name=f"copy_{start + i}", hash=digest, path=f"c/{start + i}.tif") for i in range(n)
    ]


def _steps_to_add(project, items: list[NewItem]) -> int:
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    project.db.set_progress_handler(tick, 1000)
    try:
        with project.transaction() as tx:
            tx.add_items(items)
    finally:
        project.db.set_progress_handler(None, 0)
    return steps[0]


def _duplicates_are_exact(project) -> None:
    kept = dict(project.db.execute("SELECT hash, n FROM duplicate_hashes").fetchall())
    truth = dict(
        project.db.execute(
            "SELECT hash, COUNT(*) FROM items GROUP BY hash HAVING COUNT(*) > 1"
        ).fetchall()
    )
    assert kept == truth


def test_thousands_of_identical_images_load_in_linear_steps_with_exact_counts(tmp_path):
    """Each insert of a copy counted every item of its hash: k copies took k^2/2 steps (5 000
    identical items 9 s, 15 000 a minute, 100 000 hours). Measured in SQLite VM steps, not
    seconds: 4x the copies must cost about 4x the steps."""
    with open_project(tmp_path / "p", create=True) as p:
        with p.transaction() as tx:  # not empty: the bulk path (no triggers) is not taken
            tx.add_items([NewItem(name="first", hash="other", path="first.tif")])
        small = _steps_to_add(p, _identical(1000, 0))
        large = _steps_to_add(p, _identical(4000, 1000))
        assert large < 6 * small, (small, large)
        assert p.count({"duplicates": True}) == 5000
        _duplicates_are_exact(p)
        # removals, hash changes (to a duplicated hash, to a new one, to the same one)
        ids = p.ids({"duplicates": True})
        p.remove_items(ids[:2])
        with p.transaction() as tx:
            tx.db.execute("UPDATE items SET hash = 'other' WHERE id = ?", (ids[2],))
            tx.db.execute("UPDATE items SET hash = 'fresh' WHERE id = ?", (ids[3],))
            tx.db.execute("UPDATE items SET hash = hash WHERE id = ?", (ids[4],))
        _duplicates_are_exact(p)
        assert p.count({"duplicates": True}) == 4998  # 4996 copies + 'first' and its twin
        p.remove_items(ids[4:])
        _duplicates_are_exact(p)
        with p.transaction() as tx:
            tx.add_items(_identical(1, 99999, digest="fresh"))  # 'fresh' has two items now
        _duplicates_are_exact(p)
        assert sorted(r["hash"] for r in p.query({"duplicates": True}, limit=10)) == [
            "fresh",
            "fresh",
            "other",
            "other",
        ]


def _two_annotators(tmp_path):
    import numpy as np

    from qbi_desktop.core.catalog.opinions import for_item

    root = tmp_path / "proj"
    with open_project(root, create=True) as project:
        with project.transaction() as tx:
            path = tx.store_image(np.arange(30 * 40, dtype=np.uint16).reshape(30, 40), "plate")
            (item,) = tx.add_items([NewItem(name="plate.tif", hash="h", path=path)])
        mask = np.zeros((30, 40), np.uint8)
        mask[5:15, 5:15] = 1
        project.set_mask(item, mask, "Ada")
        project.set_mask(item, mask[::-1].copy(), "Bob")
        stored = project.db.execute("SELECT path FROM masks").fetchone()[0]
        bob = for_item(project.db, item)["Bob"]["mask"]
    return root, item, stored, bob


SPELLINGS = {
    "dot": lambda root, p: p.replace("/", "/./", 1),
    "double slash": lambda root, p: p.replace("/", "//", 1),
    "dot-dot": lambda root, p: (
        f"{p.rsplit('/', 1)[0]}/../{p.rsplit('/', 2)[-2]}/{p.rsplit('/', 1)[1]}"
    ),
    "backslashes": lambda root, p: p.replace("/", "\\"),
    "absolute": lambda root, p: str(root.absolute() / p),
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_masks_the_catalog_names_in_another_spelling_are_not_swept_away(tmp_path, spelling):
    """The open's leftover sweep compared stored paths as strings: a catalog that wrote
    'masks/./x' (or '//', '..', Windows backslashes, an absolute path inside the project) had
    its own masks - the item's and each annotator's - deleted as leftovers of a dead run."""
    import json

    root, item, stored, bob = _two_annotators(tmp_path)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.tif"))
    spell = SPELLINGS[spelling]
    db = sqlite3.connect(root / "catalog.sqlite")
    db.execute("UPDATE masks SET path = ?", (spell(root, stored),))
    db.execute(
        "UPDATE opinions SET value = ? WHERE annotator = 'Bob' AND kind = 'mask'",
        (json.dumps(spell(root, bob)),),
    )
    db.commit()
    db.close()
    with open_project(root) as project:
        assert project.swept is None, str(project.swept)
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.tif")) == files


def test_links_fifos_and_other_names_in_an_annotators_folder_are_left_alone(tmp_path):
    """Only regular files named like our masks and no longer referenced are leftovers: a
    symlink (to a file outside the project), a FIFO (opening it would block), a folder and a
    file of another name stay; a real leftover beside them goes."""
    import os

    root, _item, _stored, bob = _two_annotators(tmp_path)
    folder = (root / bob).parent
    outside = tmp_path / "precious.tif"
    outside.write_bytes(b"mine")
    os.symlink(outside, folder / "7-0a1b2c3d.tif")
    os.mkfifo(folder / "8-0a1b2c3d.tif")
    (folder / "9-0a1b2c3d.tif").mkdir()
    (folder / "notes.txt").write_text("keep")
    (folder / "..5-0a1b2c3d.tif").write_bytes(b"x")  # a dot-dot name, not one of ours
    (folder / "6-0a1b2c3d.tif").write_bytes(b"left by a killed save")
    kept = {"7-0a1b2c3d.tif", "8-0a1b2c3d.tif", "9-0a1b2c3d.tif", "notes.txt", "..5-0a1b2c3d.tif"}
    with open_project(root) as project:
        assert [p.name for p in project.swept.paths] == ["6-0a1b2c3d.tif"]
    assert kept <= {p.name for p in folder.iterdir()}
    assert outside.read_bytes() == b"mine"


def test_a_version_5_catalog_in_a_read_only_folder_is_refused_and_left_as_it_was(tmp_path):
    """Its migration cannot be written: the open says so, and the old catalog's bytes stay
    (root writes anywhere, so the open runs as an unprivileged user)."""
    import hashlib
    import os
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="qbi-ro5-"))  # in /tmp, reachable by any user
    try:
        base.chmod(0o755)
        folder = base / "p"
        shutil.copytree(V5, folder)
        for p in [folder, *folder.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        digest = hashlib.sha256((folder / "catalog.sqlite").read_bytes()).hexdigest()
        code = (
            "import sys\nfrom qbi_desktop.core.catalog import open_project, ProjectReadOnlyError\n"
            "try:\n    open_project(sys.argv[1])\n"
            "except ProjectReadOnlyError as e:\n    print('REFUSED', e)\n"
        )
        prefix = [] if os.geteuid() != 0 else ["setpriv", "--reuid=65534", "--regid=65534"]
        try:
            run = subprocess.run(
                [
                    *prefix,
                    *(["--clear-groups"] if prefix else []),
                    sys.executable,
                    "-c",
                    code,
                    str(folder),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
        except FileNotFoundError:
            pytest.skip("setpriv not available to drop root")
        if "REFUSED" not in run.stdout and "Permission denied" in run.stderr:
            pytest.skip(f"unprivileged user cannot run the venv: {run.stderr[-200:]}")
        assert "REFUSED" in run.stdout and str(folder) in run.stdout, run.stderr[-2000:]
        assert "Traceback" not in run.stderr
        assert hashlib.sha256((folder / "catalog.sqlite").read_bytes()).hexdigest() == digest
        assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in V5.iterdir())
    finally:
        for p in [base, *base.rglob("*")]:
            if p.is_dir():
                p.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)
