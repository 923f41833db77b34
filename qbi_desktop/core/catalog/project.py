"""A QBI Desktop project: a folder with ``catalog.sqlite``, the masks as TIFFs and a cache.

Layout::

    project/
      catalog.sqlite     items, labels, targets, boxes, splits, review, provenance, metadata
      masks/             one TIFF per mask, written atomically, never edited in place
      images/            images the app made itself (simulated, augmented)
      cache/             thumbnails (disposable)

Items point at the user's image files (relative paths when inside the project) with a content
hash, or at a row/page of an array container; user files are never written. Every write is one
SQLite transaction; mask files written by a transaction that rolls back are deleted again, and
files a transaction replaces are deleted only after it commits.

Threading: ``Project.db`` is the connection of the thread that uses the project (the GUI thread).
Jobs running on a worker open their own connection with :meth:`Project.connect`; WAL mode lets
the GUI read while an import writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core import leftovers
from qbi_desktop.core.atomic import DiskFullError, flush_batch
from qbi_desktop.core.catalog import checks, edits, opinions, schema
from qbi_desktop.core.catalog.edits import Change
from qbi_desktop.core.catalog.errors import (
    CatalogCorruptError,
    NotAProjectError,
    Problem,
    ProjectError,
    ProjectReadOnlyError,
    SchemaTooNewError,
)
from qbi_desktop.core.catalog.images import (
    ContainerCache,
    hash_file,
    read_image_file,
    tiff_bytes,
)
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress, run_job

CATALOG = "catalog.sqlite"

#: Dataset-level metadata for FAIR reuse, with the type each value must have.
METADATA_FIELDS: dict[str, type | tuple[type, ...]] = {
    "title": str,
    "description": str,
    "creators": list,  # [{"name": ..., "email": ..., "orcid": ...}] or ["Name", ...]
    "license": str,  # SPDX identifier, e.g. "CC-BY-4.0"
    "keywords": list,
    "instrument": str,
    "modality": str,  # e.g. "neutron radiography"
    "pixel_size": (int, float),
    "pixel_unit": str,  # e.g. "um"
    "acquisition_dates": list,  # ISO dates or {"start": ..., "end": ...}
    "version": str,
    "mask_classes": dict,  # {"1": "spot"}: what each mask value means (class masks)
    # "object": masks are instance masks, each non-zero value one object of this class
    "mask_instances": str,
    # the mask value of "ignore" regions (labelme __ignore__, VOC 255): see formats.ignore
    "mask_ignore": int,
}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Box:
    """A labelled rectangle in pixel coordinates: top-left (x, y), width w, height h."""

    label: str
    x: float
    y: float
    w: float
    h: float
    annotator: str | None = None


@dataclass
class NewItem:
    """One item to add. Give ``path`` (an image file) or ``container`` + ``index``."""

    name: str
    hash: str
    path: str | Path | None = None
    container: int | None = None
    index: int | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    label: str | None = None
    split: str | None = None
    annotator: str | None = None
    provenance_kind: str = "acquired"
    provenance: dict[str, Any] = field(default_factory=dict)
    parent_id: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=dict)
    mask: np.ndarray | None = None
    boxes: list[Box] = field(default_factory=list)


def open_project(directory: str | Path, create: bool = False) -> Project:
    """Open the project in ``directory``; with ``create``, make it (and the folder) if needed.

    Raises :class:`NotAProjectError`, :class:`SchemaTooNewError`, :class:`CatalogCorruptError`
    or :class:`ProjectReadOnlyError` with a message that says what to do.
    """
    return Project(Path(directory), create=create)


class Project:
    def __init__(self, root: Path, create: bool = False):
        self.root = Path(root).absolute()
        self.db_path = self.root / CATALOG
        self.masks_dir = self.root / "masks"
        self.images_dir = self.root / "images"
        self.cache_dir = self.root / "cache"
        self._containers = ContainerCache()
        self._container_rows: dict[int, tuple[Path, str, str]] = {}
        if not self.db_path.exists():
            if not create:
                if self.root.is_dir():
                    raise NotAProjectError(f"{self.root}: not a QBI Desktop project (no {CATALOG})")
                raise NotAProjectError(f"{self.root}: folder does not exist")
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ProjectReadOnlyError(
                    f"{self.root}: cannot create the project folder ({exc.strerror})"
                ) from exc
        elif not self.db_path.is_file():
            raise NotAProjectError(f"{self.db_path}: is not a file")
        elif self.db_path.stat().st_size == 0:
            # Never re-created as an empty project: whatever emptied it, the user decides.
            raise CatalogCorruptError(
                f"{self.db_path}: the catalog file is empty (0 bytes); it was left as it is - "
                "restore it from a backup, or move it away to start a new project here"
            )
        check_writable(self.root)
        self.db = self.connect(initialise=True)
        self._lock_fd: int | None = None
        #: what this open removed of a dead run (orphan masks, half-extracted archives), if any
        self.swept = self._claim()

    # -- connections and transactions -------------------------------------------------------

    def connect(self, initialise: bool = False) -> sqlite3.Connection:
        """A new connection to the catalog (one per thread), checked and configured."""
        try:
            db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise CatalogCorruptError(f"{self.db_path}: cannot open catalog ({exc})") from exc
        try:
            version = schema.schema_version(db)
            if initialise:
                checks.refuse_foreign(db, self.db_path, version)  # before anything is written to it
            if version > schema.SCHEMA_VERSION:
                raise SchemaTooNewError(
                    f"{self.db_path}: catalog has schema version {version}, this QBI Desktop "
                    f"reads up to version {schema.SCHEMA_VERSION}; open it with a newer QBI "
                    "Desktop (the catalog was left untouched)"
                )
            db.execute("PRAGMA busy_timeout = 10000")
            db.execute("PRAGMA foreign_keys = ON")
            if initialise:
                # bounded here (the Browser opens on the GUI thread); imports check it all
                checks.check_pages(db, self.db_path, budget=checks.OPEN_CHECK_SECONDS)
                mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise ProjectReadOnlyError(f"{self.db_path}: cannot switch to WAL ({mode})")
                schema.migrate(db)
                _check_tables(db, self.db_path)
                if int(db.execute("PRAGMA application_id").fetchone()[0]) == 0:
                    db.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
            db.execute("PRAGMA synchronous = NORMAL")
        except ProjectError:
            db.close()
            raise
        except sqlite3.OperationalError as exc:
            db.close()
            if "readonly" in str(exc) or "read-only" in str(exc):
                raise ProjectReadOnlyError(
                    f"{self.db_path}: catalog is read-only ({exc}); copy the project to a "
                    "writable folder"
                ) from exc
            if checks.disk_full(exc, self.db_path):
                raise DiskFullError(self.db_path, what=f"the catalog {self.db_path}") from exc
            raise CatalogCorruptError(f"{self.db_path}: cannot use catalog ({exc})") from exc
        except sqlite3.DatabaseError as exc:
            db.close()
            raise CatalogCorruptError(
                f"{self.db_path}: not a readable SQLite catalog ({exc}); restore it from a "
                "backup or export/re-import the data"
            ) from exc
        return db

    def _claim(self) -> leftovers.Swept | None:
        """Hold the project lock (shared) while open; when no other process has the project
        open, first remove what a dead run left (files no row references, ``.partial``)."""
        self._lock_fd = leftovers.open_lock(self.root / leftovers.PROJECT_LOCK)
        swept = None
        if leftovers.try_exclusive(self._lock_fd):
            try:
                referenced = {r[0] for r in self.db.execute("SELECT path FROM masks")}
                referenced |= {
                    r[0] for r in self.db.execute("SELECT path FROM items WHERE path IS NOT NULL")
                }
                mine = opinions.mask_paths(self.db_path)  # on a connection of its own
                swept = leftovers.sweep_project(self.root, referenced, opinion_masks=mine)
            except (OSError, sqlite3.Error):  # cleaning up must never stop an open
                swept = None
        leftovers.share(self._lock_fd)
        return swept or None

    def check_pages(self) -> None:
        """Refuse to go on with a damaged catalog (:class:`CatalogCorruptError`): every page
        is read; imports call this before writing (an open checks only for a short while)."""
        checks.check_pages(self.db, self.db_path)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA optimize")
        self.db.close()
        leftovers.release(getattr(self, "_lock_fd", None))
        self._lock_fd = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self, db: sqlite3.Connection | None = None) -> Iterator[Writer]:
        """All writes inside the block commit together or not at all (files included)."""
        writer = Writer(self, db or self.db)
        try:
            writer.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _translate(exc, self.db_path) from exc
        try:
            yield writer
            writer.db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                writer.db.execute("ROLLBACK")
            for path in writer.created:
                with contextlib.suppress(OSError):
                    path.unlink()
            if isinstance(exc, sqlite3.OperationalError):
                raise _translate(exc, self.db_path) from exc
            if isinstance(exc, sqlite3.IntegrityError):
                raise ProjectError(
                    f"{self.db_path}: change refused, nothing was written ({exc})"
                ) from exc
            if isinstance(exc, sqlite3.DatabaseError):  # "database disk image is malformed"
                raise CatalogCorruptError(
                    f"{self.db_path}: the catalog is damaged ({exc}); the change was rolled back"
                ) from exc
            raise
        for path in writer.obsolete:
            with contextlib.suppress(OSError):
                path.unlink()

    # -- paths -------------------------------------------------------------------------------

    def store_path(self, path: str | Path) -> str:
        """How a file path is stored: relative (POSIX) when inside the project, else absolute."""
        path = Path(path).absolute()
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def resolve(self, stored: str) -> Path:
        path = Path(stored)
        return path if path.is_absolute() else self.root / path

    # -- dataset-level metadata ---------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        rows = self.db.execute("SELECT key, value FROM meta").fetchall()
        return {key: json.loads(value) for key, value in rows}

    def set_metadata(self, **fields: Any) -> None:
        """Set FAIR metadata fields (see :data:`METADATA_FIELDS`); ``None`` removes one."""
        for key, value in fields.items():
            if key not in METADATA_FIELDS:
                raise UserFacingError(
                    f"metadata field {key!r} is unknown; known: {', '.join(METADATA_FIELDS)}"
                )
            if value is not None and not isinstance(value, METADATA_FIELDS[key]):
                raise UserFacingError(f"metadata field {key!r}: {value!r} has the wrong type")
        with self.transaction() as tx:
            tx.set_metadata(**fields)

    # -- reading items ------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def get(self, item_id: int) -> dict[str, Any]:
        """Everything about one item: columns, targets, boxes, mask path, provenance, metadata."""
        from qbi_desktop.core.catalog.queries import query

        rows = query(self.db, {"ids": [item_id]}, limit=1)
        if not rows:
            raise UserFacingError(f"item {item_id} is not in the project")
        row = rows[0]
        extra = self.db.execute(
            "SELECT provenance, metadata, path, container_id, idx FROM items WHERE id = ?",
            (item_id,),
        ).fetchone()
        row["provenance_params"] = json.loads(extra[0])
        row["metadata"] = json.loads(extra[1])
        row["boxes"] = self.boxes(item_id)
        mask = self.db.execute(
            "SELECT path, annotator, updated FROM masks WHERE item_id = ?", (item_id,)
        ).fetchone()
        row["mask"] = None if mask is None else {"path": mask[0], "annotator": mask[1]}
        return row

    def image(self, item_id: int) -> np.ndarray:
        """The item's pixels (read-only view for container items)."""
        row = self.db.execute(
            "SELECT path, container_id, idx FROM items WHERE id = ?", (item_id,)
        ).fetchone()
        if row is None:
            raise UserFacingError(f"item {item_id} is not in the project")
        return self._pixels(self.db, row[0], row[1], row[2])

    def _pixels(
        self, db: sqlite3.Connection, path: str | None, container: int | None, index: int | None
    ) -> np.ndarray:
        if path is not None:
            return read_image_file(self.resolve(path))
        if container not in self._container_rows:
            c = db.execute(
                "SELECT path, kind, key FROM containers WHERE id = ?", (container,)
            ).fetchone()
            self._container_rows[container] = (self.resolve(c[0]), c[1], c[2])
        cpath, kind, key = self._container_rows[container]
        data = self._containers.get(cpath, kind, key)
        return data[index]  # type: ignore[index]

    def mask(self, item_id: int) -> np.ndarray | None:
        row = self.db.execute("SELECT path FROM masks WHERE item_id = ?", (item_id,)).fetchone()
        if row is None:
            return None
        import tifffile

        path = self.resolve(row[0])
        try:
            return tifffile.imread(path)
        except Exception as exc:
            raise UserFacingError(f"{path}: cannot read mask of item {item_id} ({exc})") from exc

    def boxes(self, item_id: int) -> list[Box]:
        rows = self.db.execute(
            "SELECT label, x, y, w, h, annotator FROM boxes WHERE item_id = ? ORDER BY id",
            (item_id,),
        ).fetchall()
        return [Box(*r) for r in rows]

    def targets(self, item_id: int) -> dict[str, float]:
        rows = self.db.execute(
            "SELECT name, value FROM targets WHERE item_id = ? ORDER BY name", (item_id,)
        )
        return dict(rows.fetchall())

    # -- querying (see queries.py) ---------------------------------------------------------

    def query(
        self,
        filters: Any = None,
        sort: str | Sequence[str] | None = None,
        offset: int = 0,
        limit: int | None = 100,
    ) -> list[dict[str, Any]]:
        """One page of item rows (dicts), filtered and sorted in SQL."""
        from qbi_desktop.core.catalog.queries import query

        return query(self.db, filters, sort, offset, limit)

    def count(self, filters: Any = None) -> int:
        from qbi_desktop.core.catalog.queries import count

        return count(self.db, filters)

    def ids(self, filters: Any = None, sort: str | Sequence[str] | None = None) -> list[int]:
        from qbi_desktop.core.catalog.queries import ids

        return ids(self.db, filters, sort)

    def id_array(self, filters: Any = None, sort: str | Sequence[str] | None = None) -> np.ndarray:
        """Like :meth:`ids`, as an int64 array (faster for 100 000 items: the Browser's model)."""
        from qbi_desktop.core.catalog.queries import id_array

        return id_array(self.db, filters, sort)

    def distinct(self, column: str) -> list[Any]:
        """Values present in a column (labels, splits, ...) or ``"targets"`` for target names."""
        from qbi_desktop.core.catalog.queries import distinct

        return distinct(self.db, column)

    # -- edits from the browser (each one transaction) ------------------------------------

    # Each returns the Change it made: Project.revert(change) takes it back (Browser undo).

    def set_label(
        self, ids: Iterable[int], label: str | None, annotator: str | None = None
    ) -> Change:
        """Set (or with ``None`` clear) the class label of items."""
        with self.transaction() as tx:
            return tx.set_label(list(ids), label, annotator)

    def set_split(self, ids: Iterable[int], split: str | None) -> Change:
        with self.transaction() as tx:
            return tx.set_split(list(ids), split)

    def set_review(
        self,
        ids: Iterable[int],
        state: str,
        annotator: str | None = None,
        notes: str | None = None,
    ) -> Change:
        with self.transaction() as tx:
            return tx.set_review(list(ids), state, annotator, notes)

    def set_notes(self, item_id: int, notes: str, annotator: str | None = None) -> Change:
        with self.transaction() as tx:
            return tx.set_notes(item_id, notes, annotator, log=True)

    def revert(self, change: Change, annotator: str | None = None) -> edits.Reverted:
        """Take back an edit (one transaction, logged in each item's history); items edited
        again since are left alone and counted in the result. Revert its ``change`` to redo."""
        with self.transaction() as tx:
            return edits.revert(tx, change, annotator, now())

    def set_targets(
        self, item_id: int, targets: dict[str, float | None], annotator: str | None = None
    ) -> None:
        with self.transaction() as tx:
            tx.set_targets(item_id, targets, annotator)

    def set_mask(self, item_id: int, mask: np.ndarray | None, annotator: str | None = None):
        with self.transaction() as tx:
            tx.set_mask(item_id, mask, annotator)

    def set_boxes(
        self, item_id: int, boxes: Sequence[Box], annotator: str | None = None, what: str = ""
    ) -> Change:
        """Replace an item's boxes; the Change's value is the whole box list (undo restores it)."""
        with self.transaction() as tx:
            return tx.set_boxes(item_id, boxes, annotator, what)

    def set_target(
        self, ids: Iterable[int], name: str, value: float | None, annotator: str | None = None
    ) -> Change:
        """Set (``None``: remove) the regression target ``name`` on items, undoably."""
        with self.transaction() as tx:
            return tx.set_target(list(ids), name, value, annotator)

    def remove_items(self, ids: Iterable[int]) -> int:
        with self.transaction() as tx:
            return tx.remove_items(list(ids))

    def history(self, item_id: int) -> list[dict[str, Any]]:
        """Who set what on an item, oldest first."""
        rows = self.db.execute(
            "SELECT what, value, annotator, at FROM annotation_log WHERE item_id = ? ORDER BY id",
            (item_id,),
        ).fetchall()
        return [dict(zip(("what", "value", "annotator", "at"), r, strict=True)) for r in rows]

    # -- integrity ---------------------------------------------------------------------------

    def verify_job(self, rehash: bool = True) -> Job[list[Problem]]:
        """Check that every referenced file exists and still has its content hash.

        ``rehash=False`` compares sizes only (fast); the default rehashes every file.
        """
        db = self.connect()
        try:
            problems: list[Problem] = []
            containers = db.execute("SELECT id, path, hash, size FROM containers").fetchall()
            for cid, stored, digest, size in containers:
                for p in _check_file(self.resolve(stored), digest, size, rehash, None):
                    n = _n_items(db, cid)
                    problems.append(Problem(p.file, f"{p.reason}; {n} items are rows/pages of it"))
            rows = db.execute(
                "SELECT id, path, hash, size FROM items WHERE path IS NOT NULL ORDER BY id"
            ).fetchall()
            masks = db.execute("SELECT item_id, path FROM masks").fetchall()
            total = len(rows) + len(masks)
            for n, (item_id, stored, digest, size) in enumerate(rows):
                problems += _check_file(self.resolve(stored), digest, size, rehash, item_id)
                if n % 256 == 0:
                    yield Progress(n, total, "checking image files")
            for n, (item_id, stored) in enumerate(masks):
                if not self.resolve(stored).is_file():
                    problems.append(
                        Problem(str(self.resolve(stored)), "mask file missing", item_id=item_id)
                    )
                if n % 256 == 0:
                    yield Progress(len(rows) + n, total, "checking masks")
            yield Progress(total, total, f"{len(problems)} problem(s)")
            return problems
        finally:
            db.close()

    def verify(self, rehash: bool = True) -> list[Problem]:
        return run_job(self.verify_job(rehash))

    def relocate(self, folder: str | Path) -> int:
        """Find missing image files under ``folder`` (same name and hash); repoint the items."""
        missing: dict[str, list[tuple[int, str]]] = {}
        for item_id, stored, digest in self.db.execute(
            "SELECT id, path, hash FROM items WHERE path IS NOT NULL"
        ).fetchall():
            if not self.resolve(stored).exists():
                missing.setdefault(Path(stored).name, []).append((item_id, digest))
        if not missing:
            return 0
        found: list[tuple[str, int]] = []
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                for item_id, digest in missing.get(name, []):
                    candidate = Path(dirpath) / name
                    if hash_file(candidate) == digest:
                        found.append((self.store_path(candidate), item_id))
        with self.transaction() as tx:
            tx.db.executemany("UPDATE items SET path = ? WHERE id = ?", found)
        return len(found)

    # -- views ----------------------------------------------------------------------------------

    def as_dataset(
        self, filters: Any = None, sort: str | Sequence[str] | None = None, target: str = "label"
    ):
        """The items (optionally filtered) through the common dataset interface."""
        from qbi_desktop.core.catalog.dataset import CatalogDataset

        return CatalogDataset(self, self.ids(filters, sort), target)

    def thumbnails(self, ids: Sequence[int], size: int = 96) -> dict[int, bytes]:
        """Cached PNG thumbnails for ``ids`` (missing ones are absent; run thumbnail_job)."""
        from qbi_desktop.core.catalog.thumbnails import cached_thumbnails

        return cached_thumbnails(self, ids, size)


class Writer:
    """The write operations available inside :meth:`Project.transaction`."""

    def __init__(self, project: Project, db: sqlite3.Connection):
        self.project = project
        self.db = db
        self.created: list[Path] = []  # removed again on rollback
        self.obsolete: list[Path] = []  # removed after commit

    def set_metadata(self, **fields: Any) -> None:
        for key, value in fields.items():
            if value is None:
                self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                self.db.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, json.dumps(value)),
                )

    def add_container(self, path: str | Path, kind: str, key: str, count: int) -> int:
        """Register an array container (or find it if already registered); its id."""
        stored = self.project.store_path(path)
        row = self.db.execute(
            "SELECT id FROM containers WHERE path = ? AND key = ?", (stored, key)
        ).fetchone()
        if row is not None:
            return int(row[0])
        cur = self.db.execute(
            "INSERT INTO containers(path, kind, key, hash, size, count) VALUES (?,?,?,?,?,?)",
            (stored, kind, key, hash_file(path), Path(path).stat().st_size, count),
        )
        return int(cur.lastrowid)

    def add_items(self, items: Sequence[NewItem]) -> list[int]:
        """Insert items with their targets, masks and boxes; their new ids, in order."""
        start = int(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM items").fetchone()[0]) + 1
        stamp = now()
        rows = []
        for n, it in enumerate(items):
            _check_choice(it.split, schema.SPLITS, "split")
            _check_choice(it.provenance_kind, schema.PROVENANCE_KINDS, "provenance")
            rows.append(
                (
                    start + n,
                    it.name,
                    None if it.path is None else self.project.store_path(it.path),
                    it.container,
                    it.index,
                    it.hash,
                    it.size,
                    it.width,
                    it.height,
                    it.label,
                    it.annotator if it.label is not None else None,
                    it.split,
                    it.provenance_kind,
                    json.dumps(it.provenance),
                    it.parent_id,
                    json.dumps(it.metadata),
                    stamp,
                )
            )
        self.db.executemany(
            "INSERT INTO items(id, name, path, container_id, idx, hash, size, width, height, "
            "label, label_by, split, provenance_kind, provenance, parent_id, metadata, added) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        ids = [start + n for n in range(len(items))]
        targets = [
            (i, name, float(v), it.annotator)
            for i, it in zip(ids, items, strict=True)
            for name, v in it.targets.items()
        ]
        if targets:
            self.db.executemany(
                "INSERT INTO targets(item_id, name, value, annotator) VALUES (?,?,?,?)", targets
            )
        boxes = [
            (i, b.label, b.x, b.y, b.w, b.h, b.annotator or it.annotator)
            for i, it in zip(ids, items, strict=True)
            for b in it.boxes
        ]
        if boxes:
            self.db.executemany(
                "INSERT INTO boxes(item_id, label, x, y, w, h, annotator) VALUES (?,?,?,?,?,?,?)",
                boxes,
            )
        masked = [(i, it) for i, it in zip(ids, items, strict=True) if it.mask is not None]
        for i, it in masked:
            self.set_mask(i, it.mask, it.annotator, log=False, sync=False)
        if masked:  # one flush for the batch, before the commit that refers to the files
            flush_batch(self.project.masks_dir)
        return ids

    def store_image(self, array: np.ndarray, name: str) -> Path:
        """Write an image the app made (simulated, augmented) into ``images/``; its path."""
        from qbi_desktop.core.atomic import atomic_write_bytes

        self.project.images_dir.mkdir(exist_ok=True)
        stem = _safe_stem(name)
        path = self.project.images_dir / f"{stem}-{secrets.token_hex(4)}.tif"
        atomic_write_bytes(path, tiff_bytes(np.asarray(array)))
        self.created.append(path)
        return path

    def set_label(
        self, ids: list[int], label: str | None, annotator: str | None, what: str = ""
    ) -> Change:
        stamp = now()
        ids, before = edits.capture(self.db, "label", ids)
        self.db.executemany(
            "UPDATE items SET label = ?, label_by = ? WHERE id = ?",
            [(label, annotator, i) for i in ids],
        )
        self._log(list(ids), "label", label, annotator, stamp)
        kept = self._opinion(ids, "label", label, annotator, stamp)
        what = what or ("clear label" if label is None else f"label {label!r}")
        return edits.finish(self.db, "label", what, ids, before, kept)

    def set_split(self, ids: list[int], split: str | None) -> Change:
        _check_choice(split, schema.SPLITS, "split")
        ids, before = edits.capture(self.db, "split", ids)
        self.db.executemany("UPDATE items SET split = ? WHERE id = ?", [(split, i) for i in ids])
        return edits.finish(self.db, "split", f"split {split or 'unassigned'}", ids, before)

    def set_splits(
        self, assignment: Iterable[tuple[int, str | None]], what: str = "split"
    ) -> Change:
        """Many (item id, split) pairs at once."""
        pairs = [(s, i) for i, s in assignment]
        for s in {s for s, _ in pairs}:
            _check_choice(s, schema.SPLITS, "split")
        ids, before = edits.capture(self.db, "split", [i for _, i in pairs])
        self.db.executemany("UPDATE items SET split = ? WHERE id = ?", pairs)
        return edits.finish(self.db, "split", what, ids, before)

    def set_review(
        self, ids: list[int], state: str, annotator: str | None, notes: str | None
    ) -> Change:
        _check_choice(state, schema.REVIEW_STATES, "review state")
        ids, before = edits.capture(self.db, "review", ids)
        if notes is None:
            self.db.executemany(
                "UPDATE items SET review = ?, reviewed_by = ? WHERE id = ?",
                [(state, annotator, i) for i in ids],
            )
        else:
            self.db.executemany(
                "UPDATE items SET review = ?, reviewed_by = ?, notes = ? WHERE id = ?",
                [(state, annotator, notes, i) for i in ids],
            )
        self._log(list(ids), "review", state, annotator, now())
        kept = self._opinion(ids, "review", state, annotator, now())
        return edits.finish(self.db, "review", state.replace("_", " "), ids, before, kept)

    def set_notes(
        self, item_id: int, notes: str, annotator: str | None = None, log: bool = False
    ) -> Change:
        ids, before = edits.capture(self.db, "notes", [item_id])
        self.db.execute("UPDATE items SET notes = ? WHERE id = ?", (notes, item_id))
        if log:  # a person's edit (imports restore notes without a history entry)
            self._log(list(ids), "notes", notes, annotator, now())
        return edits.finish(self.db, "notes", "notes", ids, before)

    def set_targets(
        self, item_id: int, targets: dict[str, float | None], annotator: str | None
    ) -> None:
        stamp = now()
        for name, value in targets.items():
            if value is None:
                self.db.execute(
                    "DELETE FROM targets WHERE item_id = ? AND name = ?", (item_id, name)
                )
            else:
                self.db.execute(
                    "INSERT INTO targets(item_id, name, value, annotator) VALUES (?,?,?,?) "
                    "ON CONFLICT(item_id, name) DO UPDATE SET value = excluded.value, "
                    "annotator = excluded.annotator",
                    (item_id, name, float(value), annotator),
                )
            self._log([item_id], f"target:{name}", value, annotator, stamp)
            self._opinion([item_id], "target", value, annotator, stamp, name)

    def set_mask(
        self,
        item_id: int,
        mask: np.ndarray | None,
        annotator: str | None,
        log: bool = True,
        sync: bool = True,
    ) -> None:
        """Store a label mask as a new TIFF (the old one is deleted after commit); with
        ``sync=False`` the caller flushes (``atomic.flush_batch``) before the commit."""
        old = self.db.execute("SELECT path FROM masks WHERE item_id = ?", (item_id,)).fetchone()
        if old is not None:
            self.obsolete.append(self.project.resolve(old[0]))
        if mask is None:
            self.db.execute("DELETE FROM masks WHERE item_id = ?", (item_id,))
        else:
            path = self._write_mask(item_id, mask, sync)
            self.db.execute(
                "INSERT INTO masks(item_id, path, annotator, updated) VALUES (?,?,?,?) "
                "ON CONFLICT(item_id) DO UPDATE SET path = excluded.path, "
                "annotator = excluded.annotator, updated = excluded.updated",
                (item_id, self.project.store_path(path), annotator, now()),
            )
        if log:
            self._log([item_id], "mask", None if mask is None else "set", annotator, now())
            if annotator and not opinions.is_consensus(annotator):  # this person's own copy
                data = None if mask is None else path.read_bytes()
                opinions.record_mask(self, item_id, annotator, data, now())

    def _write_mask(self, item_id: int, mask: np.ndarray, sync: bool = True) -> Path:
        from qbi_desktop.core.atomic import atomic_write_bytes, write_new_file

        array = np.asarray(mask)
        if array.dtype == bool:
            array = array.astype(np.uint8)
        if not np.issubdtype(array.dtype, np.integer):
            raise UserFacingError(
                f"mask of item {item_id}: must be integer labels, not {array.dtype}"
            )
        if array.size and array.min() >= 0:
            top = int(array.max())
            array = array.astype(np.uint8 if top < 256 else np.uint16 if top < 65536 else np.uint32)
        self.project.masks_dir.mkdir(exist_ok=True)
        path = self.project.masks_dir / f"{item_id}-{secrets.token_hex(4)}.tif"
        data = tiff_bytes(array, compression="zlib")
        if sync:
            atomic_write_bytes(path, data)
        else:  # a new name no row refers to yet: the caller flushes before the commit
            write_new_file(path, data)
        self.created.append(path)
        return path

    def set_boxes(
        self, item_id: int, boxes: Sequence[Box], annotator: str | None, what: str = ""
    ) -> Change:
        """Replace the item's boxes (a box without its own annotator gets ``annotator``)."""
        ids, before = edits.capture(self.db, edits.BOXES, [item_id])
        rows = tuple((b.label, b.x, b.y, b.w, b.h, b.annotator or annotator) for b in boxes)
        edits.write_values(self.db, edits.BOXES, [(i, rows) for i in ids])
        self._log(list(ids), "boxes", str(len(boxes)), annotator, now())
        kept = self._opinion(ids, "boxes", opinions.boxes_value(boxes), annotator, now())
        what = what or f"boxes ({len(boxes)})"
        return edits.finish(self.db, edits.BOXES, what, ids, before, kept)

    def set_target(
        self, ids: list[int], name: str, value: float | None, annotator: str | None, what: str = ""
    ) -> Change:
        """Set (or with ``None`` remove) one regression target on items."""
        field = edits.target_field(name)
        ids, before = edits.capture(self.db, field, ids)
        value = None if value is None else float(value)
        edits.write_values(self.db, field, [(i, (value, annotator)) for i in ids])
        self._log(list(ids), field, value, annotator, now())
        kept = self._opinion(ids, "target", value, annotator, now(), name)
        what = what or (f"clear {name}" if value is None else f"{name} = {value:g}")
        return edits.finish(self.db, field, what, ids, before, kept)

    def remove_items(self, ids: list[int]) -> int:
        for (stored,) in self.db.execute(
            f"SELECT path FROM masks WHERE item_id IN ({','.join('?' * len(ids))})", ids
        ).fetchall():
            self.obsolete.append(self.project.resolve(stored))
        for (stored,) in self.db.execute(
            "SELECT json_extract(value, '$') FROM opinions WHERE kind = 'mask' AND item_id IN "
            f"({','.join('?' * len(ids))})",
            ids,
        ).fetchall():
            self.obsolete.append(self.project.resolve(stored))
        cur = self.db.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in ids])
        self.db.execute(
            "DELETE FROM containers WHERE id NOT IN "
            "(SELECT DISTINCT container_id FROM items WHERE container_id IS NOT NULL)"
        )
        return cur.rowcount

    def _opinion(
        self,
        ids: Iterable[int],
        kind: str,
        value: Any,
        annotator: str | None,
        stamp: str,
        name: str = "",
    ) -> tuple:
        """Keep the annotator's own version (a consensus is the item's annotation only); the
        versions before and after, per item, for undo: (item, annotator, kind, name, before,
        after) texts."""
        if not annotator or opinions.is_consensus(annotator):
            return ()
        ids = list(ids)
        before = opinions.texts(self.db, ids, annotator, kind, name)
        opinions.record(self.db, ids, annotator, kind, value, stamp, name)
        after = opinions.texts(self.db, ids, annotator, kind, name)
        return tuple((i, annotator, kind, name, before[i], after[i]) for i in ids)

    def _log(
        self, ids: list[int], what: str, value: Any, annotator: str | None, stamp: str
    ) -> None:
        text = None if value is None else str(value)
        self.db.executemany(
            "INSERT INTO annotation_log(item_id, what, value, annotator, at) VALUES (?,?,?,?,?)",
            [(i, what, text, annotator, stamp) for i in ids],
        )


def check_writable(folder: Path) -> None:
    """Refuse a project folder we cannot write (read-only disk, no permission) up front."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".qbi-write-test-"):
            pass
    except OSError as exc:
        raise ProjectReadOnlyError(
            f"{folder}: the project folder is not writable ({exc.strerror}); QBI Desktop keeps "
            "its catalog there - copy the project to a writable folder"
        ) from exc


def _check_tables(db: sqlite3.Connection, path: Path) -> None:
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = {"items", "meta", "containers", "targets", "masks", "boxes"} - names
    if missing:
        raise CatalogCorruptError(
            f"{path}: catalog is missing its tables {sorted(missing)} (not a QBI Desktop catalog?)"
        )


def _translate(exc: sqlite3.OperationalError, path: Path) -> UserFacingError:
    text = str(exc)
    if checks.disk_full(exc, path):
        return DiskFullError(path, what=f"the catalog {path}")
    if "readonly" in text or "read-only" in text:
        return ProjectReadOnlyError(f"{path}: catalog is read-only ({text})")
    if "locked" in text or "busy" in text:
        return ProjectError(f"{path}: catalog is busy in another program ({text})")
    return ProjectError(f"{path}: catalog write failed ({text})")


def _check_choice(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    if value is not None and value not in allowed:
        raise UserFacingError(f"{what} {value!r} is not one of {', '.join(allowed)}")


def _check_file(
    path: Path, digest: str, size: int | None, rehash: bool, item_id: int | None
) -> list[Problem]:
    if not path.is_file():
        return [Problem(str(path), "file not found (moved or deleted)", item_id=item_id)]
    if size is not None and path.stat().st_size != size:
        return [Problem(str(path), "file changed since import (size differs)", item_id=item_id)]
    if rehash and hash_file(path) != digest:
        reason = "file changed since import (content hash differs)"
        return [Problem(str(path), reason, item_id=item_id)]
    return []


def _n_items(db: sqlite3.Connection, container_id: int) -> int:
    return int(
        db.execute("SELECT COUNT(*) FROM items WHERE container_id = ?", (container_id,)).fetchone()[
            0
        ]
    )


def _safe_stem(name: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).stem)
    return stem[:80] or "image"
