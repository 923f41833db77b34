"""Bias and balance figures for the browser: plain dicts the GUI turns into charts.

Everything is aggregated in SQL (GROUP BY on indexed columns) except the target histograms,
which need the values (one column of floats, cheap even for 100 000 items).
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.queries import where_clause

UNASSIGNED = "unassigned"
UNLABELLED = "unlabelled"


def class_counts(db: sqlite3.Connection, filters: Any = None) -> dict[str, dict[str, int]]:
    """{split: {class: count}}, plus ``"all"``. Items without split count as ``"unassigned"``,
    items without label as ``"unlabelled"``."""
    where, params = where_clause(filters, db)
    out: dict[str, dict[str, int]] = {"all": {}}
    for split, label, n in db.execute(
        f"SELECT split, label, COUNT(*) FROM items {where} GROUP BY split, label", params
    ):
        split = split or UNASSIGNED
        label = UNLABELLED if label is None else label
        out.setdefault(split, {})[label] = n
        out["all"][label] = out["all"].get(label, 0) + n
    return out


def imbalance(counts: dict[str, int]) -> float | None:
    """max / min class count over labelled classes; ``inf`` if a class has 0, None if < 2."""
    values = [n for label, n in counts.items() if label != UNLABELLED]
    if len(values) < 2:
        return None
    low = min(values)
    return math.inf if low == 0 else max(values) / low


def balance_report(
    db: sqlite3.Connection, min_count: int = 10, filters: Any = None
) -> dict[str, Any]:
    """Counts per split, imbalance ratio per split and overall, and warnings.

    A warning is issued for each class with fewer than ``min_count`` items in a split (0 included:
    a class present in the data but absent from a split), and for unlabelled items.
    """
    counts = class_counts(db, filters)
    classes = sorted(label for label in counts["all"] if label != UNLABELLED)
    warnings: list[dict[str, Any]] = []
    ratios: dict[str, float | None] = {}
    # with one split only, "all" holds the same counts: its warnings would say everything twice
    warn_all = sum(1 for split in counts if split != "all") > 1
    for split, per_class in counts.items():
        full = {c: per_class.get(c, 0) for c in classes}
        if split != "all":
            # A split must show the classes it lacks: they are the worst imbalance.
            if UNLABELLED in per_class:
                full[UNLABELLED] = per_class[UNLABELLED]
            counts[split] = full
        ratios[split] = imbalance(full)
        for label in classes if split != "all" or warn_all else ():
            n = full.get(label, 0)
            if n < min_count:
                warnings.append(
                    {
                        "split": split,
                        "class": label,
                        "count": n,
                        "message": f"class {label!r} has only {n} item(s) in {split} "
                        f"(fewer than {min_count})",
                    }
                )
    n_unlabelled = counts["all"].get(UNLABELLED, 0)
    if n_unlabelled:
        warnings.append(
            {
                "split": "all",
                "class": None,
                "count": n_unlabelled,
                "message": f"{n_unlabelled} item(s) have no class label",
            }
        )
    warnings += _duplicate_warnings(db)
    return {"classes": classes, "counts": counts, "imbalance": ratios, "warnings": warnings}


def _duplicate_warnings(db: Any) -> list[dict[str, Any]]:
    """Items with the same pixels as another item (an export imported back, a file copied), and
    those whose copies sit in two splits (a test score measured on training images). Read from
    the kept ``is_dup`` flags: the cost follows the duplicates, not the project."""
    from qbi_desktop.core.catalog.duplicate_flags import has_flags

    if not has_flags(db):
        return []
    dups = int(db.execute("SELECT COUNT(*) FROM items WHERE is_dup = 1").fetchone()[0])
    if not dups:
        return []
    out = [
        {
            "split": "all",
            "class": None,
            "count": dups,
            "message": f"{dups} item(s) have the same pixels as another item (the Browser's "
            "Duplicates filter lists them)",
        }
    ]
    leaking = int(
        db.execute(
            "SELECT COUNT(*) FROM (SELECT hash FROM items WHERE is_dup = 1 GROUP BY hash "
            "HAVING COUNT(DISTINCT COALESCE(split, '')) > 1)"
        ).fetchone()[0]
    )
    if leaking:
        out.append(
            {
                "split": "all",
                "class": None,
                "count": leaking,
                "message": f"{leaking} image(s) occur in more than one split: a score on test "
                "or val would be measured partly on training images",
            }
        )
    return out


def target_histograms(
    db: sqlite3.Connection, bins: int = 20, by_split: bool = False, filters: Any = None
) -> dict[str, Any]:
    """{target name: {"counts", "edges", "n", "mean", "std", "min", "max"}}.

    With ``by_split`` each target holds ``"splits": {split: counts}`` on the same edges, so the
    distributions of train and test can be drawn on top of each other.
    """
    where, params = where_clause(filters, db)
    out: dict[str, Any] = {}
    names = [r[0] for r in db.execute("SELECT DISTINCT name FROM targets ORDER BY name")]
    for name in names:
        rows = db.execute(
            "SELECT t.value, items.split FROM targets t JOIN items ON items.id = t.item_id "
            + (where + " AND " if where else "WHERE ")
            + "t.name = ?",
            [*params, name],
        ).fetchall()
        if not rows:
            continue
        values = np.asarray([r[0] for r in rows], dtype=np.float64)
        counts, edges = np.histogram(values, bins=bins)
        entry: dict[str, Any] = {
            "counts": counts.tolist(),
            "edges": edges.tolist(),
            "n": int(values.size),
            "mean": float(values.mean()),
            "std": float(values.std()),
            "min": float(values.min()),
            "max": float(values.max()),
        }
        if by_split:
            splits = np.asarray([r[1] or UNASSIGNED for r in rows])
            entry["splits"] = {
                s: np.histogram(values[splits == s], bins=edges)[0].tolist()
                for s in sorted(set(splits.tolist()))
            }
        out[name] = entry
    return out


def duplicates(db: sqlite3.Connection, limit: int | None = None) -> list[dict[str, Any]]:
    """Groups of items with the same content hash: [{"hash", "ids", "names", "labels"}],
    largest groups first. Differing labels within a group are a labelling error worth a look."""
    groups = db.execute(  # kept by triggers (derived.py): no grouping of every item
        "SELECT hash, n FROM duplicate_hashes ORDER BY n DESC, hash LIMIT ?",
        (-1 if limit is None else limit,),
    ).fetchall()
    out = []
    for digest, _n in groups:
        rows = db.execute(
            "SELECT id, name, label, split FROM items WHERE hash = ? ORDER BY id", (digest,)
        ).fetchall()
        out.append(
            {
                "hash": digest,
                "ids": [r[0] for r in rows],
                "names": [r[1] for r in rows],
                "labels": [r[2] for r in rows],
                "splits": [r[3] for r in rows],
                "conflicting_labels": len({r[2] for r in rows}) > 1,
                "across_splits": len({r[3] for r in rows if r[3]}) > 1,
            }
        )
    return out


def summary(
    db: sqlite3.Connection, min_count: int = 10, bins: int = 20, filters: Any = None
) -> dict[str, Any]:
    """Everything the bias view shows, in one dict."""
    report = balance_report(db, min_count, filters)
    dups = duplicates(db)
    report["targets"] = target_histograms(db, bins, by_split=True, filters=filters)
    report["duplicates"] = dups
    report["n_items"] = int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
    return report  # (the duplicates' warnings come with the balance report)


def project_info(root: str | Path, min_count: int = 10) -> dict[str, Any]:
    """What ``qbi-desktop info`` prints: ``count``, ``metadata`` and the :func:`balance_report`
    of the project in ``root``, read without changing it.

    On a full disk the ordinary open fails (it writes SQLite's shared-memory and journal
    files); when no change is pending in the catalog's WAL the file on disk is the whole
    catalog, so it is read as it is (SQLite's ``immutable``: no file is made or grown). A
    full disk with changes pending, or a catalog of another version, says so instead."""
    from qbi_desktop.core.atomic import DiskFullError
    from qbi_desktop.core.catalog.project import CATALOG, open_project
    from qbi_desktop.core.catalog.schema import SCHEMA_VERSION

    try:
        with open_project(root, read_only=True) as project:
            return {
                "count": len(project),
                "metadata": project.metadata(),
                "report": balance_report(project.db, min_count),
            }
    except DiskFullError as exc:
        db_path = Path(root).absolute() / CATALOG
        wal = db_path.with_name(db_path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise DiskFullError(
                db_path, what=f"{db_path} (reading it needs space for its pending changes)"
            ) from exc
        try:
            db = sqlite3.connect(f"{db_path.as_uri()}?mode=ro&immutable=1", uri=True)
        except sqlite3.Error:
            raise exc from None
        try:
            if int(db.execute("PRAGMA user_version").fetchone()[0]) != SCHEMA_VERSION:
                raise exc
            rows = db.execute("SELECT key, value FROM meta").fetchall()
            return {
                "count": int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0]),
                "metadata": {key: json.loads(value) for key, value in rows},
                "report": balance_report(db, min_count),
            }
        except (sqlite3.Error, ValueError):
            raise exc from None
        finally:
            db.close()
