"""The catalog's SQLite schema, its version number and the migrations that reach it.

``PRAGMA user_version`` holds the schema version. Opening a catalog applies every migration above
its version in one transaction; a catalog written by a newer QBI Desktop (a version above
:data:`SCHEMA_VERSION`) is refused instead of guessed at, so an old app never damages new data.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from qbi_desktop.core.catalog.derived import migrate_v7, migrate_v8
from qbi_desktop.core.catalog.duplicate_flags import migrate_v12, v12_steps
from qbi_desktop.core.catalog.indexes_v9 import migrate_v9, v9_steps
from qbi_desktop.core.catalog.mask_flags import migrate_v11, v11_steps
from qbi_desktop.core.catalog.short_names import migrate_v10
from qbi_desktop.core.catalog.target_dups import migrate_v14, v14_steps
from qbi_desktop.core.catalog.target_facets import migrate_v13, v13_steps
from qbi_desktop.core.jobs import Job, Progress, run_job

SPLITS = ("train", "val", "test")
REVIEW_STATES = ("unreviewed", "accepted", "rejected", "needs_edit")
PROVENANCE_KINDS = ("acquired", "simulated", "augmented")
CONTAINER_KINDS = ("idx", "npz", "tiff")  # v6 adds "nexus" (see _V6)

_V1 = f"""
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL                      -- JSON
);
CREATE TABLE containers (
    id    INTEGER PRIMARY KEY,
    path  TEXT NOT NULL,                     -- relative to the project when inside it
    kind  TEXT NOT NULL CHECK (kind IN {CONTAINER_KINDS}),
    key   TEXT NOT NULL DEFAULT '',          -- array name inside an NPZ
    hash  TEXT NOT NULL,                     -- blake2b of the whole file
    size  INTEGER NOT NULL,
    count INTEGER NOT NULL,
    UNIQUE (path, key)
);
CREATE TABLE items (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    path            TEXT,                    -- an image file ...
    container_id    INTEGER REFERENCES containers(id) ON DELETE RESTRICT,
    idx             INTEGER,                 -- ... or row/page idx of a container
    hash            TEXT NOT NULL,           -- blake2b of the file, or of the item's pixels
    size            INTEGER,                 -- file size in bytes (quick change check)
    width           INTEGER,
    height          INTEGER,
    label           TEXT,
    label_by        TEXT,
    split           TEXT CHECK (split IN {SPLITS}),
    review          TEXT NOT NULL DEFAULT 'unreviewed' CHECK (review IN {REVIEW_STATES}),
    reviewed_by     TEXT,
    notes           TEXT NOT NULL DEFAULT '',
    provenance_kind TEXT NOT NULL DEFAULT 'acquired' CHECK (provenance_kind IN {PROVENANCE_KINDS}),
    provenance      TEXT NOT NULL DEFAULT '{{}}',   -- JSON: parameters, seed, ...
    parent_id       INTEGER REFERENCES items(id) ON DELETE SET NULL,
    metadata        TEXT NOT NULL DEFAULT '{{}}',   -- JSON: specimen, session, ...
    added           TEXT NOT NULL,
    CHECK ((path IS NULL) <> (container_id IS NULL)),
    CHECK (container_id IS NULL OR idx IS NOT NULL)
);
CREATE UNIQUE INDEX items_path ON items(path) WHERE path IS NOT NULL;
CREATE UNIQUE INDEX items_container ON items(container_id, idx) WHERE container_id IS NOT NULL;
CREATE INDEX items_name ON items(name);
CREATE INDEX items_label ON items(label);
CREATE INDEX items_split ON items(split);
CREATE INDEX items_review ON items(review);
CREATE INDEX items_provenance ON items(provenance_kind);
CREATE INDEX items_hash ON items(hash);
CREATE INDEX items_parent ON items(parent_id);
CREATE INDEX items_label_by ON items(label_by);
CREATE TABLE targets (
    item_id   INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    value     REAL NOT NULL,
    annotator TEXT,
    PRIMARY KEY (item_id, name)
) WITHOUT ROWID;
CREATE INDEX targets_name_value ON targets(name, value);
CREATE TABLE masks (
    item_id   INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    path      TEXT NOT NULL,                 -- relative to the project: masks/<file>.tif
    annotator TEXT,
    updated   TEXT NOT NULL
);
CREATE TABLE boxes (
    id        INTEGER PRIMARY KEY,
    item_id   INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    label     TEXT NOT NULL,
    x         REAL NOT NULL,
    y         REAL NOT NULL,
    w         REAL NOT NULL CHECK (w >= 0),
    h         REAL NOT NULL CHECK (h >= 0),
    annotator TEXT
);
CREATE INDEX boxes_item ON boxes(item_id);
CREATE TABLE annotation_log (                -- who set what when: several annotators per item
    id        INTEGER PRIMARY KEY,
    item_id   INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    what      TEXT NOT NULL,                 -- label, target:<name>, mask, boxes, review
    value     TEXT,
    annotator TEXT,
    at        TEXT NOT NULL
);
CREATE INDEX annotation_log_item ON annotation_log(item_id);
"""

# Version 2:
# - Sorting by a regression target walks an index instead of sorting every item. A WITHOUT
#   ROWID table's index ends with its primary key, so targets_name_value is already (name,
#   value, item_id): ascending order with the ascending-id tie-break. Descending needs its own
#   index, because walking that one backwards would also reverse the tie-break.
# - Instance masks get their own metadata field: simulated "objects" projects stored
#   mask_classes {"1..m": ...}, a key that names no label value (exporters failed on it).
#   It becomes mask_instances "object" (each non-zero value one object), as simulated.py
#   writes it now; other keys of mask_classes stay.
_V2 = """
CREATE INDEX targets_name_value_desc ON targets(name, value DESC, item_id);
INSERT INTO meta(key, value)
    SELECT 'mask_instances', '"object"' FROM meta
    WHERE key = 'mask_classes' AND json_type(value, '$."1..m"') IS NOT NULL
    ON CONFLICT(key) DO NOTHING;
UPDATE meta SET value = json_remove(value, '$."1..m"')
    WHERE key = 'mask_classes' AND json_type(value, '$."1..m"') IS NOT NULL;
DELETE FROM meta WHERE key = 'mask_classes' AND value = '{}';
"""

# Version 3: a split is never lost. Before a split is replaced (or restored), the assignment it
# replaces is kept here, so "Restore previous split" can bring it back exactly.
_V3 = """
CREATE TABLE split_snapshots (
    id     INTEGER PRIMARY KEY,
    made   TEXT NOT NULL,
    note   TEXT NOT NULL,                    -- what replaced it: "before stratified split ..."
    splits TEXT NOT NULL                     -- JSON {"train": [ids], ..., "": [unassigned ids]}
);
"""

# Version 4: several annotators. The item's columns, targets, boxes and mask stay "the item's
# annotation" (the latest edit, or a consensus once one is built); each annotator's own version
# of it is kept here, one row per item, person, kind and name (target name, or '' for the
# others). value is JSON: a label string, a target number, a box list [[label, x, y, w, h], ...],
# a mask path relative to the project (annotators/<annotator>/...) or a review state.
_V4 = """
CREATE TABLE opinions (
    item_id   INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    annotator TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('label', 'target', 'boxes', 'mask', 'review')),
    name      TEXT NOT NULL DEFAULT '',
    value     TEXT NOT NULL,                 -- JSON
    at        TEXT NOT NULL,
    PRIMARY KEY (item_id, annotator, kind, name)
) WITHOUT ROWID;
CREATE INDEX opinions_kind ON opinions(kind, name, item_id);
CREATE INDEX opinions_annotator ON opinions(annotator, kind);
"""

# Version 5: the Browser at a million items. Counting the items of a filter on label, split,
# review, origin or annotator reads item_counts (one row per combination of those values, kept
# by triggers) instead of the items; target_counts says how many items have each regression
# target (so a sort by it knows at once whether items without it exist). key is the JSON array
# of the five values, so a NULL and an empty string stay apart in the primary key. Bulk loads
# into an empty catalog (core.catalog.bulk) drop the triggers and recount at the end. Every
# statement may run again over its own result (a catalog whose version number was set back).
_V5 = """
CREATE INDEX IF NOT EXISTS items_width ON items(width);
CREATE INDEX IF NOT EXISTS items_width_desc ON items(width DESC, id);
CREATE TABLE IF NOT EXISTS item_counts (
    key             TEXT PRIMARY KEY,
    label           TEXT,
    split           TEXT,
    review          TEXT,
    provenance_kind TEXT,
    label_by        TEXT,
    n               INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS target_counts (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
) WITHOUT ROWID;
DELETE FROM item_counts;
INSERT INTO item_counts
    SELECT json_array(label, split, review, provenance_kind, label_by),
           label, split, review, provenance_kind, label_by, COUNT(*)
    FROM items GROUP BY label, split, review, provenance_kind, label_by;
DELETE FROM target_counts;
INSERT INTO target_counts SELECT name, COUNT(*) FROM targets GROUP BY name;
CREATE TRIGGER IF NOT EXISTS item_counts_insert AFTER INSERT ON items BEGIN
    INSERT INTO item_counts VALUES (
        json_array(new.label, new.split, new.review, new.provenance_kind, new.label_by),
        new.label, new.split, new.review, new.provenance_kind, new.label_by, 1)
    ON CONFLICT(key) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS item_counts_delete AFTER DELETE ON items BEGIN
    UPDATE item_counts SET n = n - 1
    WHERE key = json_array(old.label, old.split, old.review, old.provenance_kind, old.label_by);
END;
CREATE TRIGGER IF NOT EXISTS item_counts_update
AFTER UPDATE OF label, split, review, provenance_kind, label_by ON items BEGIN
    UPDATE item_counts SET n = n - 1
    WHERE key = json_array(old.label, old.split, old.review, old.provenance_kind, old.label_by);
    INSERT INTO item_counts VALUES (
        json_array(new.label, new.split, new.review, new.provenance_kind, new.label_by),
        new.label, new.split, new.review, new.provenance_kind, new.label_by, 1)
    ON CONFLICT(key) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS target_counts_insert AFTER INSERT ON targets BEGIN
    INSERT INTO target_counts VALUES (new.name, 1) ON CONFLICT(name) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS target_counts_delete AFTER DELETE ON targets BEGIN
    UPDATE target_counts SET n = n - 1 WHERE name = old.name;
END;
CREATE TRIGGER IF NOT EXISTS target_counts_update AFTER UPDATE OF name ON targets BEGIN
    UPDATE target_counts SET n = n - 1 WHERE name = old.name;
    INSERT INTO target_counts VALUES (new.name, 1) ON CONFLICT(name) DO UPDATE SET n = n + 1;
END;
"""

# Version 6: frames of NeXus/HDF5 files are items. An HDF5 dataset is a container ('nexus',
# key = the dataset's path in the file; an item's idx is its frame). SQLite cannot change a
# CHECK constraint in place, so the containers table is rebuilt with the wider list of kinds
# (its ids stay, so the items still point at their containers; :func:`migrate` turns the
# foreign-key checks off around the rebuild and checks every reference before committing).
_V6 = """
CREATE TABLE containers_v6 (
    id    INTEGER PRIMARY KEY,
    path  TEXT NOT NULL,
    kind  TEXT NOT NULL CHECK (kind IN ('idx', 'npz', 'tiff', 'nexus')),
    key   TEXT NOT NULL DEFAULT '',
    hash  TEXT NOT NULL,
    size  INTEGER NOT NULL,
    count INTEGER NOT NULL,
    UNIQUE (path, key)
);
INSERT INTO containers_v6(id, path, kind, key, hash, size, count)
    SELECT id, path, kind, key, hash, size, count FROM containers;
DROP TABLE containers;
ALTER TABLE containers_v6 RENAME TO containers;
"""

#: Our catalogs say who wrote them in the SQLite header (``PRAGMA application_id``, "QBI1"), so
#: an SQLite file from another program is told apart before anything is written to it.
APPLICATION_ID = 0x51424931

# Version 7: every Browser sort and filter reads a page at a million items (box counts kept in
# items, duplicated hashes, container row counts, a trigram index of the names) and an array
# import's provenance is kept once per container: see derived.py (a function, because ALTER
# TABLE ADD COLUMN has no IF NOT EXISTS).

# Version 8: blind mode's own-opinion sorts read one covering index, and boxes are counted per
# class (the class picker): see derived.migrate_v8.

# Version 9: indexes for the filter-and-sort pairs and blind mode's sorts: see indexes_v9.

# Version 10: an index of the names' last two characters, for "name contains" one or two
# characters: see short_names.

# Version 11: whether an item has a mask, kept in items, and its indexes: see mask_flags.

# Version 12: whether an item's hash is duplicated, kept in items, and the duplicates' own
# indexes per sort key: see duplicate_flags.

# Version 13: each target keeps its item's item_counts combination, with an index per
# direction on (name, combination, value): see target_facets.

# Version 14: each target keeps whether its item is a duplicate, with the duplicates' targets
# indexed by value: see target_dups.

#: Migration ``i`` takes a catalog from version ``i`` to ``i + 1``: an SQL script, or a function
#: that runs inside the migration's transaction.
MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [
    _V1, _V2, _V3, _V4, _V5, _V6, migrate_v7, migrate_v8, migrate_v9, migrate_v10,
    migrate_v11, migrate_v12, migrate_v13, migrate_v14,
]  # fmt: skip
SCHEMA_VERSION = len(MIGRATIONS)

#: The migrations that run in several steps (one per index), so that a first open of an older
#: catalog can say how far it has got.
STEPPED: dict[Callable[[sqlite3.Connection], None], Callable[[], list]] = {
    migrate_v9: v9_steps,
    migrate_v11: v11_steps,
    migrate_v12: v12_steps,
    migrate_v13: v13_steps,
    migrate_v14: v14_steps,
}


def schema_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection) -> int:
    """Bring ``db`` to :data:`SCHEMA_VERSION` in one transaction; return the version it had.

    The caller has checked that the version is not newer than ours.
    """
    return run_job(migrate_job(db))


def migrate_job(db: sqlite3.Connection) -> Job[int]:
    """:func:`migrate` as a job: one report before each step ("Updating the catalog's indexes
    (3/12)…"; a step builds one index at most, ~0.5-4 s each at a million items). Closing it
    (a cancel) rolls the whole migration back: the catalog stays at its old version, and a
    killed run leaves it so too (SQLite's transaction)."""
    start = schema_version(db)
    if start >= SCHEMA_VERSION:
        return start
    steps = migration_steps(start)
    # a table a migration rebuilds (v6) is dropped while items still point at it: the
    # references are checked once the new table stands, before anything is committed
    foreign_keys = int(db.execute("PRAGMA foreign_keys").fetchone()[0])
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            for done, step in enumerate(steps):
                yield Progress(
                    done, len(steps), f"Updating the catalog's indexes ({done + 1}/{len(steps)})…"
                )
                step(db)
            broken = db.execute("PRAGMA foreign_key_check").fetchone()
            if broken is not None:
                raise sqlite3.IntegrityError(
                    f"the migration left a broken reference in table {broken[0]} (row {broken[1]})"
                )
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        db.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
    yield Progress(len(steps), len(steps), "Catalog updated")
    return start


def migration_steps(start: int) -> list[Callable[[sqlite3.Connection], None]]:
    """The steps from version ``start`` to ours: one per SQL script or migration function,
    and one per index of schemas v9 and v11-v14 (the slow part of an older catalog's first
    open)."""
    steps: list[Callable[[sqlite3.Connection], None]] = []
    for version in range(start, SCHEMA_VERSION):
        step = MIGRATIONS[version]
        if step in STEPPED:
            steps += STEPPED[step]()
        elif callable(step):
            steps.append(step)
        else:
            steps.append(lambda db, script=step: _run_script(db, script))
    return steps


def _run_script(db: sqlite3.Connection, script: str) -> None:
    for statement in _statements(script):
        db.execute(statement)


def _statements(script: str) -> list[str]:
    # executescript() would commit our transaction, so split the script ourselves.
    out, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    return [s for s in out if s]
