"""Planes and image sources: what the viewer and the jobs read from, whatever the file format.

A :class:`Plane` is one 2-D image (optionally with colour samples as a last axis) that answers
region reads at any stride; an :class:`ImageSource` is an opened file (or an in-memory array):
its shape, dtype, axes, metadata and a plane per slice. :mod:`qbi_desktop.core.io` opens files
into these.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.imageheader import check_pixel_type

# Region reads up to this many bytes of whole rows are done as one read, then strided in memory.
BLOCK_READ_BYTES = 16 * 1024**2


_AXIS_NAMES = {"C": "channel", "S": "channel"}


class Plane:
    """One 2-D image (optionally with colour samples as a last axis) that can be read by region.

    Planes stored uncompressed in a file keep a read-only memory map (for single values and
    whole-plane access) and also read regions with ``os.preadv`` straight into new arrays: a
    strided overview read then costs only the rows it needs and adds nothing to the process's
    resident memory, where touching a memory map would pull the neighbouring pages in too.
    """

    def __init__(
        self,
        array: np.ndarray,
        *,
        complete: bool = True,
        file: tuple[int, int, np.dtype] | None = None,
    ):
        # ``array`` may be a read-only memmap, an in-memory array, or a scratch memmap being filled.
        self.array = array
        self.complete = complete
        # (file descriptor, byte offset of the plane, dtype as stored in the file)
        self._file = file

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    @property
    def height(self) -> int:
        return self.array.shape[0]

    @property
    def width(self) -> int:
        return self.array.shape[1]

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.array.shape, dtype=np.int64)) * self.array.dtype.itemsize

    def read(
        self, y0: int, y1: int, x0: int, x1: int, step: int = 1, mapped: bool = False
    ) -> np.ndarray:
        """Rows y0:y1 and columns x0:x1 every ``step`` pixels, as a new C-contiguous array.

        ``mapped``: read through the memory map even where the plane could read the file
        (a one-off read of a small plane: a map read needs no fresh buffer, which costs more
        than the copy; the pages it touches stay resident until :meth:`release_pages`)."""
        y0, y1 = max(0, y0), min(self.height, y1)
        x0, x1 = max(0, x0), min(self.width, x1)
        if self._file is not None and y1 > y0 and x1 > x0 and not mapped:
            return self._pread(y0, y1, x0, x1, step)
        region = np.ascontiguousarray(self.array[y0:y1:step, x0:x1:step])
        return region.astype(region.dtype.newbyteorder("="), copy=False)

    def _pread(self, y0: int, y1: int, x0: int, x1: int, step: int) -> np.ndarray:
        fd, offset, file_dtype = self._file
        samples = int(np.prod(self.shape[2:], dtype=np.int64))
        item = file_dtype.itemsize * samples
        row_bytes = self.width * item
        rows = range(y0, y1, step)
        block_bytes = (y1 - y0) * row_bytes
        if (step == 1 and x0 == 0 and x1 == self.width) or block_bytes <= BLOCK_READ_BYTES:
            # One read of the whole row block beats many small ones when it is small enough.
            block = np.empty((y1 - y0, self.width, *self.shape[2:]), file_dtype)
            _pread_into(fd, block, offset + y0 * row_bytes)
            if step > 1 or x0 > 0 or x1 < self.width:
                block = np.ascontiguousarray(block[::step, x0:x1:step])
            return block.astype(file_dtype.newbyteorder("="), copy=False)
        span = np.empty((x1 - x0, *self.shape[2:]), file_dtype)
        out = np.empty((len(rows), len(range(x0, x1, step)), *self.shape[2:]), file_dtype)
        for i, y in enumerate(rows):
            _pread_into(fd, span, offset + y * row_bytes + x0 * item)
            out[i] = span[::step]
        return out.astype(file_dtype.newbyteorder("="), copy=False)

    def release_pages(self) -> bool:
        """Drop the pages of a read-only memory map from this process (see
        :func:`release_mapped_pages`); True when the plane is such a map."""
        return release_mapped_pages(self.array)

    def value_at(self, y: int, x: int) -> Any:
        """The raw value (a scalar, or a tuple for colour) at integer pixel (y, x); None outside."""
        if not (0 <= y < self.height and 0 <= x < self.width):
            return None
        value = self.array[y, x]
        return tuple(value.tolist()) if np.ndim(value) else value.item()


def _pread_into(fd: int, array: np.ndarray, offset: int) -> None:
    view = memoryview(array).cast("B")
    done = 0
    while done < len(view):
        n = os.preadv(fd, [view[done:]], offset + done)
        if n <= 0:
            raise OSError(f"unexpected end of file at byte {offset + done}")
        done += n


def release_mapped_pages(array: np.ndarray) -> bool:
    """Tell the kernel this process no longer needs the pages of a read-only file map.

    Whole-image work through a plane's memory map (hashing, statistics, previews) leaves every
    page it touched resident in the process: a 16384^2 uint16 plane adds 512 MB of file pages.
    ``MADV_DONTNEED`` on a read-only shared map only unmaps them (they stay in the page cache, so
    the next access is a cheap minor fault) and never changes what the array reads. Writable
    maps (decoded scratch planes) are left alone."""
    mapping = getattr(array, "_mmap", None)
    if mapping is None or getattr(array, "mode", None) != "r":
        return False
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None or not hasattr(mapping, "madvise"):
        return False  # not on this platform
    try:
        mapping.madvise(advice)
    except (OSError, ValueError):  # a closed map
        return False
    return True


@dataclass
class ImageSource:
    """An opened image file: ``n_slices`` planes of ``height`` x ``width`` [x ``channels``]."""

    path: Path
    dtype: np.dtype
    slice_shape: tuple[int, ...]
    n_slices: int
    axes: str
    stack_shape: tuple[int, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    _planes: dict[int, Plane] = field(default_factory=dict, repr=False)
    _loader: Any = field(default=None, repr=False)

    @property
    def height(self) -> int:
        return self.slice_shape[0]

    @property
    def width(self) -> int:
        return self.slice_shape[1]

    @property
    def channels(self) -> int:
        return self.slice_shape[2] if len(self.slice_shape) == 3 else 1

    @property
    def needs_decoding(self) -> bool:
        """True for compressed/tiled data whose planes are filled by :func:`decode_plane_job`."""
        return self._loader is not None and self._loader.compressed

    def plane(self, index: int = 0) -> Plane:
        """The plane of slice ``index``: memory-mapped, decoded, or an empty one being filled."""
        if not 0 <= index < self.n_slices:
            raise IndexError(f"{self.path}: slice {index} out of range 0..{self.n_slices - 1}")
        plane = self._planes.get(index)
        if plane is None:
            plane = self._loader.plane(index)
            # Keep a few decoded planes; memory-mapped ones are free to keep.
            if len(self._planes) > 8:
                self._planes.pop(next(iter(self._planes)))
            self._planes[index] = plane
        return plane

    def release_pages(self) -> int:
        """Drop the memory-mapped pages of the open planes from this process (they stay in the
        page cache); how many planes were memory maps."""
        released = sum(plane.release_pages() for plane in list(self._planes.values()))
        # a contiguous stack is one map: planes evicted from the cache above share it
        stack = getattr(self._loader, "_stack", None)
        if stack is not None:
            release_mapped_pages(stack)
        return released

    def slice_label(self, index: int) -> str:
        """E.g. ``"t=2 z=14"`` for the flattened slice ``index`` of a hyperstack."""
        if self.n_slices == 1:
            return ""
        outer = self.axes[: len(self.stack_shape)]
        coords = np.unravel_index(index, self.stack_shape)
        return " ".join(
            f"{_AXIS_NAMES.get(a, a.lower())}={int(c)}" for a, c in zip(outer, coords, strict=True)
        )

    def close(self) -> None:
        self._planes.clear()
        if self._loader is not None:
            self._loader.close()


def _check_dtype(path: Path, dtype: np.dtype) -> np.dtype:
    return check_pixel_type(path, dtype)


class _ArrayLoader:
    """Planes of an in-memory (N, H, W[, C]) stack."""

    compressed = False

    def __init__(self, stack: np.ndarray):
        self.stack = stack

    def plane(self, index: int) -> Plane:
        return Plane(self.stack[index])

    def close(self) -> None:
        pass


def source_from_array(
    array: np.ndarray, name: str = "array", metadata: dict | None = None
) -> ImageSource:
    """Wrap an in-memory (N, H, W[, C]) or (H, W[, C]) array, e.g. simulated demo images."""
    array = np.asarray(array)
    stack = (
        array
        if array.ndim >= 3 and not (array.ndim == 3 and array.shape[-1] in (3, 4))
        else array[None]
    )
    _check_dtype(Path(name), stack.dtype)

    return ImageSource(
        path=Path(name),
        dtype=stack.dtype,
        slice_shape=stack.shape[1:],
        n_slices=stack.shape[0],
        axes="I" + ("YXS" if stack.ndim == 4 else "YX"),
        stack_shape=(stack.shape[0],),
        metadata={"format": "in memory", **(metadata or {})},
        _loader=_ArrayLoader(stack),
    )
