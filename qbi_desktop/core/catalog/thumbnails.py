"""Thumbnails for the browser: percentile-levelled 8-bit PNGs in ``cache/thumbnails.sqlite``.

One cache database rather than 100 000 little files: fast to fill, fast to read a page of, and
easy to throw away. Each thumbnail remembers the content hash it was made from, so a changed
image gets a new one. The job runs on a worker thread with its own connections; the browser
reads a page of thumbnails with :func:`cached_thumbnails` while the job is still filling.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from qbi_desktop.core.jobs import Job, Progress

if TYPE_CHECKING:
    from qbi_desktop.core.catalog.project import Project

CACHE_NAME = "thumbnails.sqlite"
#: Hash prefix of the placeholder stored for an item whose image could not be read.
UNREADABLE = "unreadable:"

log = logging.getLogger(__name__)


def unreadable_thumbnail(size: int = 96) -> bytes:
    """A grey tile crossed out in red: the item's image could not be read."""
    from PIL import Image

    tile = np.full((size, size, 3), 64, np.uint8)
    k = np.arange(size)
    for offset in (-1, 0, 1):
        j = np.clip(k + offset, 0, size - 1)
        tile[k, j] = tile[k, size - 1 - j] = (220, 40, 40)
    out = io.BytesIO()
    Image.fromarray(tile).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _cache(project: Project) -> sqlite3.Connection:
    path = project.cache_dir / CACHE_NAME
    try:
        project.cache_dir.mkdir(exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, timeout=10)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS thumbs (item_id INTEGER NOT NULL, size INTEGER NOT NULL, "
            "hash TEXT NOT NULL, png BLOB NOT NULL, PRIMARY KEY (item_id, size)) WITHOUT ROWID"
        )
    except (OSError, sqlite3.Error) as exc:
        raise _cache_error(path, exc) from exc
    return db


def _cache_error(path, exc: Exception) -> Exception:
    """A full disk or a read-only cache folder, said so (thumbnails are only a cache)."""
    from qbi_desktop.core.atomic import DiskFullError, write_error
    from qbi_desktop.core.catalog.checks import disk_full
    from qbi_desktop.core.errors import UserFacingError

    if isinstance(exc, OSError):
        error = write_error(path, exc)
        if isinstance(error, UserFacingError):
            return error
    elif disk_full(exc, path):
        return DiskFullError(path, what=f"thumbnails to {path}")
    return UserFacingError(f"{path}: cannot write thumbnails there ({exc})")


def render_thumbnail(image: np.ndarray, size: int = 96) -> bytes:
    """An 8-bit PNG at most ``size`` px on its longer side; grey levels from the 0.5 and 99.5
    percentiles (16-bit radiographs and float data stay readable); small images are enlarged
    with nearest neighbour so pixels stay sharp."""
    from PIL import Image

    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] not in (3, 4):
        array = array[0]  # a stack: show its first plane
    rgb = array.ndim == 3 and array.dtype == np.uint8
    if not rgb:
        if array.ndim == 3:
            array = array[..., :3].mean(axis=-1)
        data = array.astype(np.float32)
        finite = data[np.isfinite(data)]
        low, high = np.percentile(finite, (0.5, 99.5)) if finite.size else (0.0, 1.0)
        if high <= low:
            low, high = float(finite.min()) if finite.size else 0.0, low + 1.0
            if high <= low:
                high = low + 1.0
        scaled = np.clip((np.nan_to_num(data, nan=low) - low) * (255.0 / (high - low)), 0, 255)
        array = scaled.astype(np.uint8)
    img = Image.fromarray(array)
    h, w = array.shape[:2]
    scale = size / max(h, w, 1)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    img = img.resize(new, Image.NEAREST if scale >= 1 else Image.BILINEAR)
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def thumbnail_job(
    project: Project, ids: Sequence[int] | None = None, size: int = 96, chunk: int = 64
) -> Job[int]:
    """Render the missing (or outdated) thumbnails of ``ids`` (all items if None); the count
    made. An item whose image cannot be read (deleted, garbled) gets a crossed-out placeholder
    and a log line naming it and the reason, never silently nothing; the next run tries again."""
    db = project.connect()
    cache = _cache(project)
    try:
        have = dict(cache.execute("SELECT item_id, hash FROM thumbs WHERE size = ?", (size,)))
        if ids is None:
            rows = db.execute("SELECT id, hash, path, container_id, idx FROM items ORDER BY id")
        else:
            rows = db.execute(
                "SELECT id, hash, path, container_id, idx FROM items WHERE id IN "
                "(SELECT value FROM json_each(?))",
                (str([int(i) for i in ids]),),
            )
        todo = [r for r in rows.fetchall() if have.get(r[0]) != r[1]]
        made = unreadable = 0
        for start in range(0, len(todo), chunk):
            batch = []
            for item_id, digest, path, container, index in todo[start : start + chunk]:
                try:
                    png = render_thumbnail(project._pixels(db, path, container, index), size)
                except Exception as exc:  # any failure to read is a property of the file
                    log.warning("item %d (%s): no thumbnail, %s", item_id, path or "array", exc)
                    unreadable += 1
                    # stored under another hash, so the next run tries the file again
                    batch.append((item_id, size, UNREADABLE + digest, unreadable_thumbnail(size)))
                    continue
                batch.append((item_id, size, digest, png))
            try:
                cache.execute("BEGIN")
                cache.executemany("INSERT OR REPLACE INTO thumbs VALUES (?,?,?,?)", batch)
                cache.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    cache.execute("ROLLBACK")
                raise _cache_error(project.cache_dir / CACHE_NAME, exc) from exc
            made += len(batch)
            note = f" ({unreadable} unreadable, see the log)" if unreadable else ""
            yield Progress(start + len(batch), len(todo), f"rendering thumbnails{note}")
        return made
    finally:
        with contextlib.suppress(sqlite3.Error):
            cache.close()
        db.close()


def cached_thumbnails(project: Project, ids: Sequence[int], size: int = 96) -> dict[int, bytes]:
    """PNG bytes of the thumbnails already made for ``ids``; cheap enough for every page."""
    path = project.cache_dir / CACHE_NAME
    if not path.exists() or not ids:
        return {}
    cache = _cache(project)
    try:
        return dict(
            cache.execute(
                "SELECT item_id, png FROM thumbs WHERE size = ? AND item_id IN "
                "(SELECT value FROM json_each(?))",
                (size, str([int(i) for i in ids])),
            )
        )
    finally:
        cache.close()
