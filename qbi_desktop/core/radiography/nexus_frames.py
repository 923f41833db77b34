"""Reading the frames of one HDF5/NeXus dataset fast: one slice at a time, the next one ahead.

Beamline files usually store a frame per chunk, gzip-compressed after HDF5's byte shuffle. For
those, a slice is read as its raw chunk (``read_direct_chunk``) and decoded here: the zlib
stream by libdeflate (imagecodecs; about half the CPU time of HDF5's zlib filter) and the byte
shuffle undone by numpy, both without holding the GIL. Any other layout (contiguous, tiles,
several frames per chunk, other filters) is read by h5py, with a chunk cache that holds a whole
chunk when one is not larger than :data:`CHUNK_CACHE_BYTES` (HDF5's default of 1 MB would
decompress a chunk of several frames once per frame).

Stepping through the slices (slice i + 1 or i - 1 after slice i) starts reading the next slice
in the same direction on a background thread, so that it is decoded while the viewer draws the
current one; a jump reads only what is asked for. A slice that cannot be read is named with its
file and index when it is asked for, never when it was only read ahead.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.errors import ImageReadError
from qbi_desktop.core.planes import Plane

#: HDF5 filter ids (H5Z_FILTER_DEFLATE, H5Z_FILTER_SHUFFLE) decoded here
DEFLATE, SHUFFLE = 1, 2
#: filter pipelines (in HDF5's write order) whose chunks are decoded here
OWN_PIPELINES = ((), (DEFLATE,), (SHUFFLE,), (SHUFFLE, DEFLATE))
#: a chunk up to this size is kept in HDF5's chunk cache (several frames per chunk)
CHUNK_CACHE_BYTES = 128 * 1024**2
#: slices larger than this are not read ahead (one extra slice held in memory)
READ_AHEAD_MAX_BYTES = 256 * 1024**2


def with_chunk_cache(dataset: Any) -> Any:
    """``dataset`` reopened with a chunk cache that holds one whole chunk (when a chunk is not
    larger than :data:`CHUNK_CACHE_BYTES`), else ``dataset`` itself."""
    import h5py

    chunks = dataset.chunks
    if chunks is None:
        return dataset
    chunk_bytes = int(np.prod(chunks, dtype=np.int64)) * dataset.dtype.itemsize
    if chunk_bytes <= 1024**2 or chunk_bytes > CHUNK_CACHE_BYTES:
        return dataset  # the default cache holds it, or holding it costs too much memory
    try:
        access = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
        # 521 hash slots (HDF5's default); 1.0: a chunk read in full is evicted first
        access.set_chunk_cache(521, chunk_bytes + 1024, 1.0)
        return h5py.Dataset(h5py.h5d.open(dataset.file.id, dataset.name.encode(), dapl=access))
    except Exception:  # noqa: BLE001 - the cache is a speed-up: without it the reads still work
        return dataset


def own_pipeline(dataset: Any) -> tuple[int, ...] | None:
    """The dataset's filters (write order) when every chunk is one whole frame and those
    filters are decoded here; None when h5py must read it."""
    chunks, shape = dataset.chunks, dataset.shape
    if chunks is None or len(shape) < 2 or tuple(chunks[-2:]) != tuple(shape[-2:]):
        return None
    if any(c != 1 for c in chunks[:-2]):
        return None
    try:
        create = dataset.id.get_create_plist()
        filters = tuple(create.get_filter(i)[0] for i in range(create.get_nfilters()))
    except Exception:  # noqa: BLE001 - an unreadable pipeline: let h5py deal with it
        return None
    return filters if filters in OWN_PIPELINES else None


def _inflate(raw: bytes, size: int) -> bytes:
    """A zlib stream of at most ``size`` bytes, decoded (libdeflate: ~2x HDF5's zlib)."""
    try:
        import imagecodecs

        if imagecodecs.DEFLATE.available:
            return imagecodecs.deflate_decode(raw, out=size)
        return imagecodecs.zlib_decode(raw, out=size)
    except ImportError:
        import zlib

        out = zlib.decompressobj()
        data = out.decompress(raw, size)
        if out.unconsumed_tail:
            raise ValueError(f"the chunk decompresses to more than {size} bytes") from None
        return data


def _unshuffle(data: bytes, itemsize: int) -> np.ndarray:
    """HDF5's shuffle undone: the chunk holds byte 0 of every value, then byte 1, ..."""
    planes = np.frombuffer(data, np.uint8)
    if itemsize == 1:
        return planes
    count = len(planes) // itemsize
    out = np.empty((count, itemsize), np.uint8)
    for byte in range(itemsize):
        out[:, byte] = planes[byte * count : (byte + 1) * count]
    return out.reshape(-1)


class FrameReader:
    """The planes of one dataset, a slice at a time (the ``ImageSource`` loader of a NeXus
    file): ``plane(i)`` returns slice ``i`` as a read-only array in native byte order."""

    compressed = False

    def __init__(self, path: Path, f: Any, dataset: Any, linked: list | None = None):
        self.path = path
        self.file = f
        self.linked = linked or []  # files reached through external links
        self.dataset = with_chunk_cache(dataset)
        self.name = str(dataset.name)  # for messages: a closed file's dataset has no name
        self.outer = tuple(int(n) for n in dataset.shape[:-2])
        self.count = int(np.prod(self.outer, dtype=np.int64)) if self.outer else 1
        self.frame_shape = tuple(int(n) for n in dataset.shape[-2:])
        self.file_dtype = np.dtype(dataset.dtype)
        self.frame_bytes = int(np.prod(self.frame_shape, dtype=np.int64)) * self.file_dtype.itemsize
        self.pipeline = own_pipeline(dataset)
        self._lock = threading.Lock()
        self._ahead: dict[int, Future] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._last: int | None = None
        self._closed = False

    # -- reading one slice -----------------------------------------------------------------
    def _where(self, index: int) -> tuple[int, ...]:
        return tuple(int(i) for i in np.unravel_index(index, self.outer)) if self.outer else ()

    def _decode_chunk(self, index: int) -> np.ndarray | None:
        """Slice ``index`` from its raw chunk; None when the chunk is not stored (h5py then
        gives the fill value)."""
        where = self._where(index)
        try:
            mask, raw = self.dataset.id.read_direct_chunk((*where, 0, 0))
        except Exception:  # noqa: BLE001 - never written (h5py raises RuntimeError, OSError or
            # MemoryError for that), or unreadable: h5py reads it (the fill value) or names why
            return None
        data = raw
        for position in reversed(range(len(self.pipeline))):
            if mask & (1 << position):
                continue  # HDF5 skipped this (optional) filter for this chunk
            if self.pipeline[position] == DEFLATE:
                data = _inflate(data, self.frame_bytes)
            else:
                data = _unshuffle(data, self.file_dtype.itemsize)
        if len(data) != self.frame_bytes:
            raise ValueError(f"its chunk holds {len(data)} bytes, a frame {self.frame_bytes}")
        return np.frombuffer(data, self.file_dtype).reshape(self.frame_shape)

    def read(self, index: int) -> Plane:
        """Read slice ``index`` now (any thread); a broken slice is named."""
        if self._closed:
            raise ImageReadError(self.path, f"{self.name}: slice {index}: the file was closed")
        try:
            array = self._decode_chunk(index) if self.pipeline is not None else None
            if array is None:
                array = np.asarray(self.dataset[self._where(index)])
        except MemoryError:
            raise ImageReadError(
                self.path, f"{self.name}: not enough memory to read slice {index}"
            ) from None
        except Exception as exc:  # noqa: BLE001 - a broken chunk names the file and slice
            why = str(exc) or type(exc).__name__  # some h5py errors carry no text
            raise ImageReadError(
                self.path, f"{self.name}: cannot read slice {index} ({why})"
            ) from None
        array = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("="), copy=False))
        array.flags.writeable = False  # one plane is shared by every caller of this slice
        return Plane(array)

    # -- the ImageSource loader ------------------------------------------------------------
    def plane(self, index: int) -> Plane:
        index = int(index)
        with self._lock:
            ahead = self._ahead.pop(index, None)
            # anything else read ahead is off the user's path now
            for stale in self._ahead.values():
                stale.cancel()
            self._ahead.clear()
            last, self._last = self._last, index
        plane = None
        if ahead is not None:
            try:
                plane = ahead.result()
            except Exception:  # noqa: BLE001 - read again below: its error is named then
                plane = None
        if plane is None:
            plane = self.read(index)
        if last is not None and abs(index - last) == 1:  # stepping through: the next one
            self._read_ahead(index + (index - last))
        return plane

    def _read_ahead(self, index: int) -> None:
        if not 0 <= index < self.count or self.frame_bytes > READ_AHEAD_MAX_BYTES:
            return
        with self._lock:
            if self._closed or index in self._ahead:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="nexus-read-ahead")
            self._ahead[index] = self._pool.submit(self.read, index)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for future in self._ahead.values():
                future.cancel()
            self._ahead.clear()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)  # a read under way ends before its file is closed
        close_all([*self.linked, self.file])


def close_all(files: list) -> None:
    for other in files:
        try:
            other.close()
        except Exception:  # noqa: BLE001 - closing twice or after an error is harmless
            pass
