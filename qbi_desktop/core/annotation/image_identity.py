"""What a journal (or a mask) belongs to: an image's path, shape, dtype and content hash (and,
for a plane of a NeXus/HDF5 file, the dataset it is of: recorded so a journal left by a killed
run can say which of the file's stacks its strokes belong to; not part of "the same pixels").

The content hash is blake2b with a 128-bit digest over the image's shape, dtype and all its
bytes (C order). Hashing every byte costs ~15 ms for 2048^2 uint16 and ~130 ms for 8192^2 here;
we pay it once per opened image rather than risk a sampled hash calling two images of the same
series equal.

That full hash is not waited for before painting starts (0.9 s at 16384^2): a session first
gets a *provisional* identity from a bounded sample of rows (:meth:`ImageIdentity.quick`, a
few ms at any size, content hash prefixed ``sample-``), journals its first strokes under it,
and moves the journal to the full identity once the background hash is done
(:meth:`~qbi_desktop.core.annotation.journal.Journal.moved_to`). A provisional hash never
equals a full one, so it can only ever match a journal written under the same provisional
identity: this plane's own journal from before the full hash was known.
"""

from __future__ import annotations

import hashlib
import mmap
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

#: Prefix of a provisional content hash (:meth:`ImageIdentity.quick`).
SAMPLE_PREFIX = "sample-blake2b-128:"
#: Bytes of rows a provisional hash reads at most (evenly spaced rows, first and last included).
SAMPLE_BYTES = 1024**2


@dataclass(frozen=True)
class ImageIdentity:
    """What a journal (or a mask) belongs to: path, shape, dtype and a content hash."""

    path: str | None
    shape: tuple[int, ...]
    dtype: str
    content_hash: str
    dataset: str | None = None  # the HDF5 dataset of the plane (None: any other file)

    def in_dataset(self, dataset: str | None) -> ImageIdentity:
        """This identity of a plane of the HDF5 dataset ``dataset`` (``""``/None: no dataset)."""
        return replace(self, dataset=dataset or None)

    @classmethod
    def of(cls, image: np.ndarray, path: str | Path | None = None) -> ImageIdentity:
        """Identify ``image``: blake2b-128 over shape, dtype and every byte (see module doc)."""
        arr = np.asarray(image)
        h = hashlib.blake2b(digest_size=16)
        h.update(repr((arr.shape, arr.dtype.str)).encode())
        # Block by block: a memory-mapped image is hashed without keeping the whole file in
        # our resident memory (its pages are dropped from the mapping after each block).
        mapping = getattr(image, "_mmap", None)
        row_bytes = max(1, arr[:1].nbytes)
        rows = max(1, (16 * 1024**2) // row_bytes)
        for y in range(0, max(1, arr.shape[0]), rows):
            h.update(memoryview(np.ascontiguousarray(arr[y : y + rows])).cast("B"))
            if mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
                try:
                    mapping.madvise(mmap.MADV_DONTNEED)
                except (OSError, ValueError):
                    pass
        return cls(
            None if path is None else str(Path(path).resolve()),
            tuple(int(s) for s in arr.shape),
            arr.dtype.name,
            "blake2b-128:" + h.hexdigest(),
        )

    @classmethod
    def quick(cls, image: np.ndarray, path: str | Path | None = None) -> ImageIdentity:
        """A provisional identity: blake2b-128 over shape, dtype and evenly spaced whole rows
        (at most :data:`SAMPLE_BYTES`), so its cost does not grow with the image."""
        arr = np.asarray(image)
        h = hashlib.blake2b(digest_size=16)
        h.update(repr((arr.shape, arr.dtype.str, "rows")).encode())
        if arr.ndim and arr.shape[0]:
            row_bytes = max(1, arr[:1].nbytes)
            k = int(min(arr.shape[0], max(2, SAMPLE_BYTES // row_bytes)))
            for y in np.unique(np.linspace(0, arr.shape[0] - 1, k).round().astype(np.int64)):
                h.update(memoryview(np.ascontiguousarray(arr[y : y + 1])).cast("B"))
        return cls(
            None if path is None else str(Path(path).resolve()),
            tuple(int(s) for s in arr.shape),
            arr.dtype.name,
            SAMPLE_PREFIX + h.hexdigest(),
        )

    @property
    def provisional(self) -> bool:
        """Made by :meth:`quick` (a sample), not by :meth:`of` (every byte)."""
        return self.content_hash.startswith(SAMPLE_PREFIX)

    def same_image(self, other: ImageIdentity) -> bool:
        """Same pixels (shape, dtype, hash); the path may differ (a moved or copied file)."""
        return (
            tuple(self.shape) == tuple(other.shape)
            and self.dtype == other.dtype
            and self.content_hash == other.content_hash
        )

    def describe(self) -> str:
        shape = "x".join(str(s) for s in self.shape)
        where = self.path or "an unsaved image"
        if self.dataset:
            where += f" {self.dataset}"
        return f"{where} ({shape} {self.dtype}, content {self.content_hash.split(':')[-1][:12]})"

    def to_dict(self) -> dict[str, Any]:
        out = {
            "path": self.path,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "content_hash": self.content_hash,
        }
        if self.dataset:  # written only when there is one: older readers see what they knew
            out["dataset"] = self.dataset
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageIdentity:
        dataset = d.get("dataset")
        return cls(
            d.get("path"),
            tuple(int(s) for s in d["shape"]),
            d["dtype"],
            d["content_hash"],
            dataset if isinstance(dataset, str) and dataset else None,
        )
