"""Whether a project's files are still there and unchanged, and finding moved ones again."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.images import hash_file
from qbi_desktop.core.jobs import Job, Progress

if TYPE_CHECKING:
    import sqlite3

    from qbi_desktop.core.catalog.project import Project


def verify_job(project: Project, rehash: bool = True) -> Job[list[Problem]]:
    """Check that every referenced file exists and still has its content hash.

    ``rehash=False`` compares sizes only (fast); the default rehashes every file.
    """
    db = project.connect()
    try:
        problems: list[Problem] = []
        containers = db.execute("SELECT id, path, hash, size FROM containers").fetchall()
        for cid, stored, digest, size in containers:
            for p in _check_file(project.resolve(stored), digest, size, rehash, None):
                n = _n_items(db, cid)
                problems.append(Problem(p.file, f"{p.reason}; {n} items are rows/pages of it"))
        rows = db.execute(
            "SELECT id, path, hash, size FROM items WHERE path IS NOT NULL ORDER BY id"
        ).fetchall()
        masks = db.execute("SELECT item_id, path FROM masks").fetchall()
        total = len(rows) + len(masks)
        for n, (item_id, stored, digest, size) in enumerate(rows):
            problems += _check_file(project.resolve(stored), digest, size, rehash, item_id)
            if n % 256 == 0:
                yield Progress(n, total, "checking image files")
        for n, (item_id, stored) in enumerate(masks):
            if not project.resolve(stored).is_file():
                problems.append(
                    Problem(str(project.resolve(stored)), "mask file missing", item_id=item_id)
                )
            if n % 256 == 0:
                yield Progress(len(rows) + n, total, "checking masks")
        yield Progress(total, total, f"{len(problems)} problem(s)")
        return problems
    finally:
        db.close()


def relocate(project: Project, folder: str | Path) -> int:
    """Find missing image files under ``folder`` (same name and hash); repoint the items."""
    missing: dict[str, list[tuple[int, str]]] = {}
    for item_id, stored, digest in project.db.execute(
        "SELECT id, path, hash FROM items WHERE path IS NOT NULL"
    ).fetchall():
        path = project.resolve(stored)  # the file's own name, also for a file:// stored one
        if not path.exists():
            missing.setdefault(path.name, []).append((item_id, digest))
    if not missing:
        return 0
    found: list[tuple[str, int]] = []
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            for item_id, digest in missing.get(name, []):
                candidate = Path(dirpath) / name
                if hash_file(candidate) == digest:
                    found.append((project.store_path(candidate), item_id))
    with project.transaction() as tx:
        tx.db.executemany("UPDATE items SET path = ? WHERE id = ?", found)
    return len(found)


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
