"""Per-item feature vectors for label quality: pixels at a common size, intensity per modality.

Every item becomes a float32 row: its (grey) image resized to one common size, with the
intensity handled by what the pixels are - 8-bit divided by 255, deeper integers scaled by
their own robust 1st/99.5th percentiles (a 16-bit radiograph's counts have no fixed range),
float kept as it is (it usually has a physical meaning). Rows are cached in the project's
``cache/features.sqlite`` keyed by the item's content hash and the feature recipe, so a second
audit, or the suggestions after a restart, read them instead of decoding every image again.
What was resized, turned grey or left out (and why) is recorded for the report.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from qbi_desktop.core import limits
from qbi_desktop.core.catalog.images import hash_array
from qbi_desktop.core.errors import UserFacingError, human_size
from qbi_desktop.core.jobs import Job, Progress

if TYPE_CHECKING:
    from qbi_desktop.core.catalog.project import Project

CACHE_NAME = "features.sqlite"
#: Longest side of the common size: enough for digits and spots, small enough for exact kNN.
MAX_SIDE = 32
#: Bumped whenever the recipe changes, so old cached rows are never mixed with new ones.
RECIPE = "v1"


@dataclass
class FeatureSet:
    """Feature rows of the items that could be read (``rows`` = their dataset positions)."""

    X: np.ndarray
    rows: np.ndarray
    names: list[str]
    pixel_hashes: list[str]
    size: tuple[int, int]
    resized: list[tuple[str, str]] = field(default_factory=list)  # (item name, why)
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (item name, why)
    cached: int = 0


def common_size(shapes: list[tuple[int, ...]]) -> tuple[int, int]:
    """The most common (H, W), scaled down so its longer side is at most :data:`MAX_SIDE`."""
    if not shapes:
        return (MAX_SIDE, MAX_SIDE)
    (h, w), _ = Counter((s[0], s[1]) for s in shapes).most_common(1)[0]
    scale = min(1.0, MAX_SIDE / max(h, w, 1))
    return (max(1, round(h * scale)), max(1, round(w * scale)))


def intensity(image: np.ndarray) -> tuple[np.ndarray, str]:
    """Grey float32 pixels scaled per modality; returns the array and a note (or "")."""
    a = np.asarray(image)
    kind = a.dtype
    note = ""
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[..., :3].mean(axis=2)  # float64 in the original dtype's range
        note = "colour averaged to grey"
    if a.ndim != 2:
        raise UserFacingError(f"expected a 2-D image, got shape {np.asarray(image).shape}")
    if kind == np.uint8 or kind == np.bool_:
        out = a.astype(np.float32) / (1.0 if kind == np.bool_ else 255.0)
    elif kind.kind in "iu":
        # Counts: robust per-image range, so one hot pixel does not flatten the rest.
        lo, hi = np.percentile(a, (1.0, 99.5))
        span = float(hi - lo) or 1.0
        out = np.clip((a.astype(np.float32) - np.float32(lo)) / np.float32(span), 0.0, 1.0)
    elif kind.kind == "f":
        out = a.astype(np.float32)
        if not np.isfinite(out).all():
            out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
            note = (note + "; " if note else "") + "NaN/infinite pixels set to 0"
    else:
        raise UserFacingError(f"pixels of type {kind} cannot be used as features")
    return out, note


def item_vector(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    """One item's feature row at ``size`` and a note saying what was changed ("" if nothing)."""
    grey, note = intensity(image)
    if grey.shape != size:
        from skimage.transform import resize

        old = grey.shape
        # anti_aliasing: a 600x600 radiograph shrunk to 32x32 keeps its mean, not a few pixels.
        grey = resize(
            grey, size, order=1, anti_aliasing=grey.shape[0] > size[0], preserve_range=True
        )
        note = (
            note + "; " if note else ""
        ) + f"resized from {old[0]}x{old[1]} to {size[0]}x{size[1]}"
    return np.ascontiguousarray(grey, dtype=np.float32).ravel(), note


class FeatureCache:
    """Feature rows by (content hash, recipe) in ``cache/features.sqlite`` of a project."""

    def __init__(self, project: Project):
        self.path = project.cache_dir / CACHE_NAME
        self.db: sqlite3.Connection | None = None
        try:
            project.cache_dir.mkdir(exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS features (hash TEXT NOT NULL, recipe TEXT NOT NULL, "
                "pixels TEXT NOT NULL, note TEXT NOT NULL, row BLOB NOT NULL, "
                "PRIMARY KEY (hash, recipe)) WITHOUT ROWID"
            )
            self.db = db
        except (OSError, sqlite3.Error):
            # A cache we cannot write only costs time: the features are computed again.
            self.db = None

    def get_many(self, hashes: list[str], recipe: str) -> dict[str, tuple[str, str, bytes]]:
        if self.db is None:
            return {}
        out: dict[str, tuple[str, str, bytes]] = {}
        unique = sorted(set(hashes))
        try:
            for s in range(0, len(unique), 900):
                chunk = unique[s : s + 900]
                rows = self.db.execute(
                    "SELECT hash, pixels, note, row FROM features WHERE recipe = ? AND hash IN "
                    f"({','.join('?' * len(chunk))})",
                    [recipe, *chunk],
                ).fetchall()
                out.update({r[0]: (r[1], r[2], r[3]) for r in rows})
        except sqlite3.Error:
            return {}
        return out

    def put_many(self, rows: list[tuple[str, str, str, str, bytes]]) -> None:
        if self.db is None or not rows:
            return
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?)", rows)
            self.db.execute("COMMIT")

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def features_job(
    images: Any,
    names: list[str],
    hashes: list[str] | None = None,
    cache: FeatureCache | None = None,
    size: tuple[int, int] | None = None,
    shapes: list[tuple[int, ...]] | None = None,
) -> Job[FeatureSet]:
    """Feature rows of ``images[i]`` (any indexable of arrays, read lazily one by one).

    ``hashes`` (content hashes, one per item) key the cache; ``shapes`` (known without reading,
    e.g. from the catalog) choose the common size, else the first image's shape does.
    """
    n = len(names)
    if size is None:
        if shapes is None:
            shapes = [np.asarray(images[0]).shape] if n else []
        size = common_size(shapes)
    recipe = f"{RECIPE}:{size[0]}x{size[1]}"
    d = size[0] * size[1]
    need = n * d * 4
    limit = limits.current().decoded_bytes
    if need > limit:  # checked before allocating the feature matrix
        raise UserFacingError(
            f"features of {n} items at {size[0]}x{size[1]} need {human_size(need)}, above the "
            f"limit of {human_size(limit)} (decoded_bytes); "
            f"{limits.how_to_raise('decoded_bytes')}"
        )
    known = cache.get_many(hashes, recipe) if cache is not None and hashes is not None else {}
    X = np.empty((n, d), dtype=np.float32)
    keep = np.zeros(n, dtype=bool)
    pixel_hashes = [""] * n
    resized: list[tuple[str, str]] = []
    left_out: list[tuple[str, str]] = []
    fresh: list[tuple[str, str, str, str, bytes]] = []
    cached = 0
    step = max(1, min(2000, n // 50 or 1))
    for i in range(n):
        if i % step == 0:
            yield Progress(i, n, f"features of {n:,} items")
        hit = known.get(hashes[i]) if hashes is not None else None
        if hit is not None and len(hit[2]) == 4 * d:
            pixel_hashes[i], note = hit[0], hit[1]
            X[i] = np.frombuffer(hit[2], dtype=np.float32)
            cached += 1
        else:
            try:
                image = np.asarray(images[i])
                row, note = item_vector(image, size)
                pixel_hashes[i] = hash_array(image)
            except (UserFacingError, OSError, ValueError) as exc:
                left_out.append((names[i], f"could not be read or used: {exc}"))
                continue
            X[i] = row
            if hashes is not None:
                fresh.append((hashes[i], recipe, pixel_hashes[i], note, row.tobytes()))
        keep[i] = True
        if note:
            resized.append((names[i], note))
        if len(fresh) >= 5000 and cache is not None:
            cache.put_many(fresh)
            fresh = []
    if cache is not None:
        cache.put_many(fresh)
    rows = np.flatnonzero(keep)
    return FeatureSet(
        X=X[rows] if len(rows) < n else X,
        rows=rows,
        names=[names[r] for r in rows],
        pixel_hashes=[pixel_hashes[r] for r in rows],
        size=size,
        resized=resized,
        left_out=left_out,
        cached=cached,
    )


@dataclass
class LabelledItems:
    """A project's items for label quality: features plus label, split, name per feature row."""

    features: FeatureSet
    item_ids: np.ndarray  # catalog ids per feature row
    labels: np.ndarray  # class index per feature row, -1 = unlabelled
    class_names: list[str]
    splits: np.ndarray  # "train" / "val" / "test" / "" per feature row

    @property
    def names(self) -> list[str]:
        return self.features.names


def reading_message(n: int) -> str:
    """What an audit or a suggestion model says while it reads the project's items."""
    return f"Reading {n:,} items…"


def project_items_job(project: Project, use_cache: bool = True) -> Job[LabelledItems]:
    """All items of a project as :class:`LabelledItems` (the catalog is only read)."""
    # said before the catalog's rows and the cached features are read (~1-5 s at 70 000
    # items), and again between the two, where a cancel is heard
    reading = reading_message(len(project))
    yield Progress(0, 0, reading)
    dataset = project.as_dataset(target="label")
    ids = dataset.ids
    yield Progress(0, 0, reading)
    by_id = {
        r[0]: r[1:]
        for r in project.db.execute("SELECT id, name, hash, height, width FROM items").fetchall()
    }
    names = [by_id[i][0] for i in ids]
    hashes = [by_id[i][1] for i in ids]
    shapes = [(by_id[i][2], by_id[i][3]) for i in ids if by_id[i][2] and by_id[i][3]]
    cache = FeatureCache(project) if use_cache else None

    class _Images:
        def __getitem__(self, i: int) -> np.ndarray:
            return project.image(ids[i])

        def __len__(self) -> int:
            return len(ids)

    try:
        fs = yield from features_job(_Images(), names, hashes, cache, shapes=shapes or None)
    finally:
        if cache is not None:
            cache.close()
    targets = dataset.targets()
    labels = (
        np.full(len(ids), -1, dtype=np.int64) if targets is None else np.asarray(targets, np.int64)
    )
    splits = dataset.splits()
    return LabelledItems(
        features=fs,
        item_ids=np.asarray(ids, dtype=np.int64)[fs.rows],
        labels=labels[fs.rows],
        class_names=list(dataset.class_names or []),
        splits=np.asarray(splits if splits is not None else [""] * len(ids), dtype=str)[fs.rows],
    )
