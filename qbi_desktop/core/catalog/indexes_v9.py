"""Schema v9: indexes that let every Browser sort and filter, in normal and in blind mode, read
its first page by walking an index at a million items instead of sorting the matches.

Each list holds ``CREATE INDEX IF NOT EXISTS`` statements; :func:`migrate_v9` runs them inside
the migration's transaction, so a catalog either has all of them or none.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

#: The filter columns of the Browser's panel (label, split, review, origin) and the sort keys
#: that are columns of items with many values (name, box count). An index on (filter column,
#: sort key), whose entries end with the id, holds one filter value's items in the sort's
#: order with the id tie-break: a filter on one value and that sort are one range of it,
#: wherever the matches lie in the whole order (pages.py). A descending sort walks it from the
#: end (by box count, which ties often: value by value, each value's items in id order). Sorts
#: by id or by another filter column read the column's own index (v1). Width has no pairs: in
#: the large catalogs (array imports) every item has the same width, and that sort is then the
#: id order; catalogs of image files of many sizes are small enough to walk. Each pair index
#: costs ~20 MB at a million items and ~45 ms of an MNIST import's CPU (bulk.py builds them
#: once at the end).
PAIR_FILTERS = {"label": "label", "split": "split", "review": "review", "provenance_kind": "prov"}
PAIR_KEYS = ("name", "n_boxes")


def pair_index(column: str, key: str) -> str:
    """The name of the (filter column, sort key) index."""
    return f"items_{PAIR_FILTERS[column]}_{key}"


#: The items of each combination of the item_counts columns, one range each (then by id): a
#: filter on two of them (a split and a review state) whose matches are few reads just those,
#: from the combinations item_counts lists (~38 MB at a million items).
FACETS_INDEX = "items_facets"

#: Indexes behind the normal Browser's filter-and-sort pairs.
BROWSER_INDEXES: list[str] = [
    f"CREATE INDEX IF NOT EXISTS {pair_index(column, key)} ON items({column}, {key})"
    for column in PAIR_FILTERS
    for key in PAIR_KEYS
] + [
    f"CREATE INDEX IF NOT EXISTS {FACETS_INDEX} "
    "ON items(label, split, review, provenance_kind, label_by)"
]

#: The opinions each of the two indexes below holds. A query uses a partial index only when
#: its WHERE holds this term as written (own_walks adds it). Written as IN, not as OR of
#: equalities: SQLite matches an OR's "kind = 'label'" against a query's "kind = ?" by the
#: parameter's value and then prepares that query again at every execution (opinions.record,
#: texts, ... took 10 us instead of 2.5 us per statement).
VALUE_KINDS = "kind IN ('label', 'target', 'review')"
COUNT_KINDS = "kind IN ('boxes', 'mask')"

#: Indexes behind blind mode's sorts by the user's own opinions (core.catalog.own_walks): the
#: person's labels, reviews and targets ordered by value as SQL compares it, covering (the value
#: is kept, so counting or skipping rows reads no table row; masks and box lists, sorted by
#: presence or length only, are left out), and their box lists by length (masks: 0).
OWN_INDEXES: list[str] = [
    "CREATE INDEX IF NOT EXISTS opinions_by_value ON opinions(annotator, kind, name, "
    f"json_extract(value, '$'), item_id, value) WHERE {VALUE_KINDS}",
    "CREATE INDEX IF NOT EXISTS opinions_by_box_count ON opinions(annotator, kind, name, "
    f"json_array_length(value), item_id) WHERE {COUNT_KINDS}",
]


def migrate_v9(db: sqlite3.Connection) -> None:
    for step in v9_steps():
        step(db)


def v9_steps() -> list[Callable[[sqlite3.Connection], None]]:
    """The migration in steps of one index (the opinion indexes together), so that a first
    open of an older catalog can say how far it has got (schema.migrate_job)."""
    return [*(index_step(statement) for statement in BROWSER_INDEXES), _own_indexes]


def index_step(statement: str) -> Callable[[sqlite3.Connection], None]:
    """A migration step that runs one ``CREATE INDEX`` statement, then gives the new index the
    statistics the catalog's other indexes have (:func:`analyze_new_index`)."""

    def step(db: sqlite3.Connection) -> None:
        db.execute(statement).close()
        analyze_new_index(db, statement.split(" ON ", 1)[0].split()[-1])

    return step


def has_column(db: sqlite3.Connection, table: str, column: str) -> bool:
    """Whether ``table`` has ``column`` yet (a catalog passing through older migrations)."""
    return column in {r[1] for r in db.execute(f'PRAGMA table_info("{table}")')}


def derived_column_steps(
    table: str,
    column: str,
    triggers: dict[str, str],
    fill: Callable[[sqlite3.Connection], None],
    indexes: list[str],
) -> list[Callable[[sqlite3.Connection], None]]:
    """A migration that adds a column kept by ``triggers`` (``column``: its name and type),
    in steps: the column, the triggers and ``fill`` (its values from what it derives from),
    then one index each, so that a first open of an older catalog can say how far it has got;
    each step may run again over its result (schemas v11-v14)."""
    name = column.split()[0]

    def add(db: sqlite3.Connection) -> None:
        if not has_column(db, table, name):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
        for trigger, body in triggers.items():
            db.execute(f"CREATE TRIGGER IF NOT EXISTS {trigger} {body}")
        fill(db)

    return [add, *(index_step(statement) for statement in indexes)]


def analyze_new_index(db: sqlite3.Connection, index: str) -> None:
    """Statistics for a new ``index`` when the catalog has them for its others
    (``sqlite_stat1``, written by ANALYZE or the project's ``PRAGMA optimize``): without
    them SQLite takes the new index for a very selective one. A (name, facets, value) index on
    the targets then won over (name, value) for a sort by target, and the page sorted every
    target first (0.1-0.8 s at a million items). The whole index is read (~0.3 s at a million
    entries): a sampled one (``analysis_limit``) counted a million targets of one name as a
    thousand, the same trap."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone() is None:
        return  # no statistics at all: SQLite weighs every index alike
    db.execute(f"ANALYZE {index}")


def _own_indexes(db: sqlite3.Connection) -> None:
    try:
        for statement in OWN_INDEXES:
            db.execute(statement)
    except sqlite3.OperationalError as exc:
        # the opinion indexes read every value's JSON: a damaged one stops the migration
        # with SQLite's bare "malformed JSON", so the record is named
        if "JSON" not in str(exc):
            raise
        row = db.execute(
            "SELECT item_id, annotator, kind FROM opinions WHERE NOT json_valid(value) LIMIT 1"
        ).fetchone()
        if row is None:
            raise
        raise sqlite3.OperationalError(
            f"item {row[0]}: an annotator's value is not valid JSON ({row[1]!r}'s {row[2]}); "
            "a damaged or altered catalog, left at its old version"
        ) from exc
