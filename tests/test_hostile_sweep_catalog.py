"""Hostile catalogs, second sweep: code hidden in the catalog file. SQLite runs a trigger on
every edit the app makes, so a catalog holding a trigger we did not write could delete the work
an edit should keep, or loop without end; one of our triggers rewritten does the same under our
name. A catalog with foreign triggers or views is refused untouched, naming them; our own
triggers are made again from our SQL when their text differs or they are missing."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.errors import CatalogCorruptError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

try:
    from tests.cli_helpers import run_cli as _cli
except ImportError:  # pragma: no cover
    from cli_helpers import run_cli as _cli

ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A project of 4 images, item 1 with a box, items 1-2 labelled."""
    root = tmp_path_factory.mktemp("made")
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / "src" / cls).mkdir(parents=True)
        for i in range(2):
            image = rng.integers(0, 1000, (16, 16)).astype(np.uint16)
            tifffile.imwrite(root / "src" / cls / f"{cls}{i}.tif", image)
    project = open_project(root / "p", create=True)
    run_job(import_job(project, "imagefolder", [root / "src"]))
    project.close()
    assert _cli("boxes", "--project", str(root / "p"), "--item", "1", "--add", "a,1,1,4,4",
                "--annotator", "ann").returncode == 0  # fmt: skip
    return root / "p"


def _tampered(made, tmp_path, *sql):
    project = tmp_path / "p"
    shutil.copytree(made, project)
    db = sqlite3.connect(project / "catalog.sqlite", isolation_level=None)
    for statement in sql:
        db.execute(statement)
    db.close()
    return project


@pytest.mark.parametrize(
    "code, name",
    [
        ("CREATE TRIGGER wipe AFTER UPDATE ON items BEGIN DELETE FROM boxes; END", "wipe"),
        (f"CREATE TRIGGER endless AFTER UPDATE ON items BEGIN SELECT ({ENDLESS}); END", "endless"),
        (f"CREATE VIEW endless_view AS {ENDLESS}", "endless_view"),
    ],
)
def test_a_catalog_holding_code_we_did_not_write_is_refused_untouched(made, tmp_path, code, name):
    """Before: labelling item 2 silently deleted every box of the project ('wipe'), or the
    label command never returned ('endless')."""
    project = _tampered(made, tmp_path, code)
    catalog = project / "catalog.sqlite"
    before = catalog.read_bytes()
    with pytest.raises(CatalogCorruptError) as info:
        open_project(project)
    assert str(catalog) in str(info.value) and repr(name) in str(info.value)
    cli = _cli("label", "--project", str(project), "--ids", "2", "--class", "c")
    assert cli.returncode == 2, cli.stderr[-2000:]
    assert repr(name) in cli.stderr and "Traceback" not in cli.stderr
    assert catalog.read_bytes() == before  # not even switched to WAL


def test_one_of_our_triggers_rewritten_is_made_again_from_our_sql(made, tmp_path):
    """box_counts_insert rewritten to delete every label: before, adding a box wiped the
    project's labels under our own trigger's name. Now the trigger is ours again on open and
    the counts it keeps are right."""
    project = _tampered(
        made,
        tmp_path,
        "DROP TRIGGER box_counts_insert",
        "CREATE TRIGGER box_counts_insert AFTER INSERT ON boxes BEGIN "
        "UPDATE items SET label = NULL; UPDATE items SET n_boxes = 1000; END",
    )
    cli = _cli("label", "--project", str(project), "--ids", "1-2", "--class", "keep")
    assert cli.returncode == 0, cli.stderr[-2000:]
    cli = _cli("boxes", "--project", str(project), "--item", "3", "--add", "a,1,1,3,3")
    assert cli.returncode == 0, cli.stderr[-2000:]
    db = sqlite3.connect(project / "catalog.sqlite")
    try:
        labels = dict(db.execute("SELECT id, label FROM items WHERE id <= 2"))
        boxes = dict(db.execute("SELECT id, n_boxes FROM items"))
    finally:
        db.close()
    assert labels == {1: "keep", 2: "keep"}
    assert boxes == {1: 1, 2: 0, 3: 1, 4: 0}


def test_our_triggers_dropped_by_hand_are_made_again_and_what_they_keep_recounted(made, tmp_path):
    """The mask flags' and the box counts' insert triggers dropped with an SQLite tool, and a
    mask and a box added while they were gone: before, the flags and counts drifted from then
    on (the Browser's sorts by mask and by box count went wrong). Now the open makes the
    triggers again and counts anew."""
    project = _tampered(
        made,
        tmp_path,
        "DROP TRIGGER mask_counts_insert",
        "DROP TRIGGER box_counts_insert",
        "INSERT INTO masks(item_id, path, updated) VALUES (4, 'masks/4.tif', '2026-12-06')",
        "INSERT INTO boxes(item_id, label, x, y, w, h) VALUES (4, 'a', 1, 1, 2, 2)",
    )
    with open_project(project) as p:
        names = {r[0] for r in p.db.execute("SELECT name FROM sqlite_master")}
        assert {"mask_counts_insert", "box_counts_insert"} <= names
        flags = dict(p.db.execute("SELECT id, has_mask FROM items"))
        boxes = dict(p.db.execute("SELECT id, n_boxes FROM items"))
        assert flags == {1: 0, 2: 0, 3: 0, 4: 1}
        assert boxes == {1: 1, 2: 0, 3: 0, 4: 1}
        assert p.page_ids({}, "-has_mask", 0, 2).tolist() == [4, 1]
        p.set_mask(2, np.ones((16, 16), np.uint8))  # the trigger works again
        assert dict(p.db.execute("SELECT id, has_mask FROM items"))[2] == 1


@pytest.mark.parametrize(
    "sql, words",
    [
        (["DROP TABLE opinions"], "missing its tables ['opinions']"),
        (
            [
                "DROP INDEX items_n_boxes",
                "DROP INDEX items_n_boxes_desc",
                # schema v9's (filter column, box count) pairs
                *(f"DROP INDEX items_{c}_n_boxes" for c in ("label", "split", "review", "prov")),
                "DROP INDEX items_dups_n_boxes",  # schema v12's duplicates by box count
                *(f"DROP TRIGGER box_counts_{w}" for w in ("insert", "delete", "update")),
                "ALTER TABLE items DROP COLUMN n_boxes",  # schema version still says 8
            ],
            "items lacks the columns ['n_boxes']",
        ),
        (["UPDATE meta SET value = 'not json' WHERE key = 'annotators'"], "['annotators']"),
        (
            # schema v9 indexes the opinions' JSON, so SQLite refuses the bad value while they
            # stand: the file is one written before them (v8), whose migration meets it
            [
                "DROP INDEX opinions_by_value",
                "DROP INDEX opinions_by_box_count",
                "UPDATE opinions SET value = x'00ff' WHERE item_id = 1",
                "PRAGMA user_version = 8",
            ],
            "item 1: an annotator's",
        ),
        (["UPDATE items SET metadata = '{{' WHERE id = 2"], "item 2: its metadata"),
        (["UPDATE items SET width = 'abc' WHERE id = 3"], "item 3: its width or height"),
    ],
    ids=["table", "column", "settings JSON", "opinion JSON", "metadata JSON", "width"],
)
def test_a_catalog_missing_what_its_version_has_is_refused_at_open(made, tmp_path, sql, words):
    """Before: the project opened and a later command failed mid-way with SQLite's "no such
    table: opinions" or "malformed JSON", or a JSONDecodeError traceback."""
    project = _tampered(made, tmp_path, *sql)
    with pytest.raises(CatalogCorruptError) as info:
        open_project(project)
    assert str(project / "catalog.sqlite") in str(info.value) and words in str(info.value)
    cli = _cli("agreement", "--project", str(project), "--out", str(tmp_path / "out"), "--quiet")
    assert cli.returncode == 2, cli.stderr[-2000:]
    assert words in cli.stderr and "Traceback" not in cli.stderr


def test_an_item_file_that_became_a_fifo_is_named_not_waited_for(made, tmp_path):
    """An item's path in the catalog naming a FIFO: the audit read it and waited for a writer
    for ever. Now the item is left out, named, and the audit finishes."""
    import json
    import os

    fifo = tmp_path / "fifo.tif"
    os.mkfifo(fifo)
    project = _tampered(made, tmp_path, f"UPDATE items SET path = '{fifo}' WHERE id = 1")
    out = tmp_path / "audit"
    cli = _cli("audit", "--project", str(project), "--out", str(out), "--quiet")
    assert cli.returncode == 0, cli.stderr[-2000:]
    left_out = json.loads((out / "summary.json").read_text())["left_out"]
    assert any(str(fifo) in row["why"] and "FIFO" in row["why"] for row in left_out), left_out
