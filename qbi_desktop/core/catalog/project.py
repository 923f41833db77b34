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
the GUI read while an import writes. A project opened ``interactive`` (the Browser's) runs no
WAL checkpoint in the commits on ``Project.db``: a thread of its own does (checkpoints.py).

The project is split by job: records.py (NewItem, Box, metadata fields), connection.py (opening
and checking the SQLite file), writer.py (the writes of one transaction), integrity.py (verify,
relocate); this module keeps :class:`Project` and re-exports the rest for its callers.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core import leftovers
from qbi_desktop.core.catalog import (
    checks,
    edits,
    integrity,
    opinions,
    row_checks,
    stored_paths,
)
from qbi_desktop.core.catalog.checkpoints import (
    Checkpointer,
    connect_for_checkpoints,
    turn_off_automatic,
)
from qbi_desktop.core.catalog.connection import (
    CATALOG,
    _translate,
    check_writable,
    connect_catalog,
    connect_reading,
    folder_writable,
)
from qbi_desktop.core.catalog.creation import create_catalog, remove_stale
from qbi_desktop.core.catalog.derived import provenance_sql
from qbi_desktop.core.catalog.edits import Change
from qbi_desktop.core.catalog.errors import (
    CatalogCorruptError,
    NotAProjectError,
    Problem,
    ProjectError,
    ProjectReadOnlyError,
)
from qbi_desktop.core.catalog.images import ContainerCache, read_image_file
from qbi_desktop.core.catalog.records import (  # noqa: F401 (re-exported)
    METADATA_FIELDS,
    Box,
    NewItem,
    _check_choice,
    now,
)
from qbi_desktop.core.catalog.writer import Writer
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, run_job

__all__ = [
    "CATALOG",
    "METADATA_FIELDS",
    "Box",
    "NewItem",
    "Project",
    "Writer",
    "check_writable",
    "now",
    "open_project",
]


def open_project(
    directory: str | Path,
    create: bool = False,
    *,
    sweep_later: bool = False,
    interactive: bool = False,
    read_only: bool = False,
) -> Project:
    """Open the project in ``directory``; with ``create``, make it (and the folder) if needed.
    With ``sweep_later`` the open does not wait for the leftover sweep: when one is due,
    ``project.pending_sweep`` holds the moment to pass to :func:`leftovers.sweep_project_job`.
    With ``interactive`` (a GUI's project) no commit on ``project.db`` ever runs a WAL
    checkpoint: ``project.checkpoints`` runs them on a thread of its own (checkpoints.py).
    With ``read_only`` (commands that only read: info, export, audit, baseline, agreement
    without --consensus, listing boxes or classes, augmenting from a project) a project whose
    folder or catalog cannot be written is still opened, through a connection that cannot
    write (``project.read_only`` is then true and every transaction is refused with a message);
    a writable one opens as usual.

    Raises :class:`NotAProjectError`, :class:`SchemaTooNewError`, :class:`CatalogCorruptError`
    or :class:`ProjectReadOnlyError` with a message that says what to do.
    """
    return Project(
        Path(directory),
        create=create,
        sweep_later=sweep_later,
        interactive=interactive,
        read_only=read_only,
    )


class Project:
    def __init__(
        self,
        root: Path,
        create: bool = False,
        sweep_later: bool = False,
        interactive: bool = False,
        read_only: bool = False,
    ):
        if read_only and create:
            raise ValueError("a project opened read_only is never created")
        #: opened through a connection that cannot write (a read-only folder or catalog)
        self.read_only = False
        self.root = Path(root).absolute()
        self.db_path = self.root / CATALOG
        self.masks_dir = self.root / "masks"
        self.images_dir = self.root / "images"
        self.cache_dir = self.root / "cache"
        self._containers = ContainerCache()
        self._container_rows: dict[int, tuple[Path, str, str]] = {}
        from qbi_desktop.core.outfolder import exists

        try:  # a name too long for the file system, a link loop: named, not a traceback
            found = exists(self.db_path)
        except UserFacingError as exc:
            raise NotAProjectError(str(exc)) from None
        if not found:
            if not create:
                if self.root.is_dir():
                    raise NotAProjectError(f"{self.root}: not a QBI Desktop project (no {CATALOG})")
                if self.root.exists():
                    raise NotAProjectError(
                        f"{self.root}: is a file, not a project folder (a project is the "
                        f"folder that holds {CATALOG})"
                    )
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
        if read_only and not folder_writable(self.root):
            self._open_reading()
            return
        check_writable(self.root)
        #: this open made the catalog (not another process that raced it to the same folder)
        self.created = create and not self.db_path.exists() and create_catalog(self.db_path)
        try:
            self.db = self.connect(initialise=True)
        except ProjectReadOnlyError:
            if not read_only:
                raise
            self._open_reading()  # a catalog file we may not write, in a writable folder
            return
        self._lock_fd: int | None = None
        #: with ``sweep_later``: the moment for :func:`leftovers.sweep_project_job`, if one is due
        self.pending_sweep: int | None = None
        #: what this open removed of a dead run (orphan masks, half-extracted archives), if any
        self.swept = self._claim(sweep_later)
        #: with ``interactive``: the thread that checkpoints the WAL instead of ``db``'s commits
        self.checkpoints: Checkpointer | None = None
        if interactive:
            turn_off_automatic(self.db)
            # the thread holds no reference to the project: one never closed still goes away
            self.checkpoints = Checkpointer(
                functools.partial(connect_for_checkpoints, self.db_path)
            )
            weakref.finalize(self, self.checkpoints.close)

    def _open_reading(self) -> None:
        """Open without writing anything: no lock file, no sweep, no WAL, no migration."""
        self.read_only = True
        self.created = False
        self.db = connect_reading(self.db_path)
        self._lock_fd = None
        self.pending_sweep = None
        self.swept = None
        self.checkpoints = None

    # -- connections and transactions -------------------------------------------------------

    def connect(self, initialise: bool = False) -> sqlite3.Connection:
        """A new connection to the catalog (one per thread), checked and configured."""
        if self.read_only:
            return connect_reading(self.db_path)
        return connect_catalog(self.db_path, initialise)

    def _claim(self, sweep_later: bool = False) -> leftovers.Swept | None:
        """Hold the project lock (shared) while open; when no other process has the project
        open, first remove what a dead run left (files no row references, ``.partial``), or
        with ``sweep_later`` note the moment a worker sweeps for (``pending_sweep``)."""
        self._lock_fd = leftovers.open_lock(self.root / leftovers.PROJECT_LOCK)
        swept = None
        alone = leftovers.try_exclusive(self._lock_fd)
        if alone:
            remove_stale(self.root)  # a catalog a killed creator was making
        if alone and leftovers.has_candidates(self.root):
            if sweep_later:
                self.pending_sweep = leftovers.open_moment(self._lock_fd)
            try:
                if self.pending_sweep is None:
                    referenced, mine = leftovers.catalog_references(self.db_path)
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
        if getattr(self, "checkpoints", None) is not None:
            self.checkpoints.close()  # its last checkpoint, off this thread's commits
        if not self.read_only:  # optimize writes sqlite_stat1
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
        if self.read_only:
            raise ProjectReadOnlyError(
                f"{self.root}: the project folder is read-only (opened for reading only); "
                "nothing was written - copy the project to a writable folder to change it"
            )
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
            if isinstance(exc, sqlite3.IntegrityError) and "items.path" in str(exc):
                # imports skip the files already in the project, as read before they write
                raise ProjectError(
                    f"{self.db_path}: another import added some of these image files while "
                    "this one was reading them; nothing was written - run the import again "
                    "(the files already in the project are skipped)"
                ) from exc
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
            posix = path.relative_to(self.root).as_posix()
        except ValueError:
            posix = path.as_posix()
        return stored_paths.encode(posix, path)  # bytes that are not UTF-8: a file:// URI

    def resolve(self, stored: str) -> Path:
        encoded = stored_paths.decode(stored)
        if encoded is not None:
            return encoded
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
            f"SELECT {provenance_sql()}, metadata, path, container_id, idx FROM items WHERE id = ?",
            (item_id,),
        ).fetchone()
        row["provenance_params"] = row_checks.json_value(
            self.db_path, item_id, "its provenance", extra[0]
        )
        row["metadata"] = row_checks.json_value(self.db_path, item_id, "its metadata", extra[1])
        row["boxes"] = self.boxes(item_id)
        mask = self.db.execute(
            "SELECT path, annotator, updated FROM masks WHERE item_id = ?", (item_id,)
        ).fetchone()
        if mask is not None:
            row_checks.check_mask_path(self.db_path, item_id, mask[0])
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
            row_checks.check_container(self.db_path, container, c)
            self._container_rows[container] = (self.resolve(c[0]), c[1], c[2])
        cpath, kind, key = self._container_rows[container]
        data = self._containers.get(cpath, kind, key)
        return data[index]  # type: ignore[index]

    def mask(self, item_id: int) -> np.ndarray | None:
        row = self.db.execute("SELECT path FROM masks WHERE item_id = ?", (item_id,)).fetchone()
        if row is None:
            return None
        import tifffile

        row_checks.check_mask_path(self.db_path, item_id, row[0])
        path = self.resolve(row[0])
        try:
            return tifffile.imread(path)
        except Exception as exc:
            raise UserFacingError(f"{path}: cannot read mask of item {item_id} ({exc})") from exc

    def boxes(self, item_id: int) -> list[Box]:
        """The item's boxes, each checked (:mod:`row_checks`: a catalog is input too)."""
        rows = self.db.execute(
            "SELECT b.id, b.label, b.x, b.y, b.w, b.h, b.annotator, i.width, i.height "
            "FROM boxes b LEFT JOIN items i ON i.id = b.item_id WHERE b.item_id = ? "
            "ORDER BY b.id",
            (item_id,),
        ).fetchall()
        for r in rows:
            row_checks.check_box(self.db_path, item_id, r[0], r[1:7], r[7], r[8])
        return [Box(*r[1:7]) for r in rows]

    def targets(self, item_id: int) -> dict[str, float]:
        rows = self.db.execute(
            "SELECT name, value FROM targets WHERE item_id = ? ORDER BY name", (item_id,)
        ).fetchall()
        for name, value in rows:
            row_checks.check_target(self.db_path, item_id, name, value)
        return dict(rows)

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

    def count_is_quick(self, filters: Any = None) -> bool:
        """Whether :meth:`count` answers from counts or an index (else it reads every item)."""
        from qbi_desktop.core.catalog.queries import count_is_quick

        return count_is_quick(self.db, filters)

    def ids(self, filters: Any = None, sort: str | Sequence[str] | None = None) -> list[int]:
        from qbi_desktop.core.catalog.queries import ids

        return ids(self.db, filters, sort)

    def id_array(self, filters: Any = None, sort: str | Sequence[str] | None = None) -> np.ndarray:
        """Like :meth:`ids`, as an int64 array (faster for 100 000 items: the Browser's model)."""
        from qbi_desktop.core.catalog.queries import id_array

        return id_array(self.db, filters, sort)

    def page_ids(
        self,
        filters: Any = None,
        sort: str | Sequence[str] | None = None,
        offset: int = 0,
        limit: int = 1000,
    ) -> np.ndarray:
        """The ids of one page in sort order, as an int64 array (the Browser's window)."""
        from qbi_desktop.core.catalog.queries import page_ids

        return page_ids(self.db, filters, sort, offset, limit)

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
        """Replace an item's boxes; the Change's value is the whole box list (undo restores it).
        A box given without an annotator gets ``annotator``, unless the item already had it,
        unchanged and unattributed: who made it stays unknown (editing one box, or adding
        some, does not make the editor the author of the rest)."""
        with self.transaction() as tx:
            change = tx.set_boxes(item_id, boxes, annotator, what)
            if annotator is None or opinions.is_consensus(annotator):
                return change  # a consensus is written as the item's whole annotation
            return edits.keep_unattributed(tx.db, change, boxes)

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

    # -- integrity (integrity.py) --------------------------------------------------------------

    def verify_job(self, rehash: bool = True) -> Job[list[Problem]]:
        """Check that every referenced file exists and still has its content hash.

        ``rehash=False`` compares sizes only (fast); the default rehashes every file.
        """
        return integrity.verify_job(self, rehash)

    def verify(self, rehash: bool = True) -> list[Problem]:
        return run_job(self.verify_job(rehash))

    def relocate(self, folder: str | Path) -> int:
        """Find missing image files under ``folder`` (same name and hash); repoint the items."""
        return integrity.relocate(self, folder)

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
