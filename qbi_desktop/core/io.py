"""Reading images lazily: what is on disk stays on disk until a region of it is asked for.

An :class:`ImageSource` is an opened file: its shape, dtype, axes, metadata and a :class:`Plane`
per slice (both in :mod:`qbi_desktop.core.planes`, importable from here). A plane answers
region reads at any stride, so the viewer asks only for what is visible at the resolution the
screen needs:

* uncompressed, untiled data (TIFF strips, ImageJ hyperstacks, raw stacks of several GB) is
  memory-mapped read-only (``mode='r'``: we never write to a file the user only opened);
* compressed or tiled TIFF is decoded tile by tile by :func:`decode_plane_job`, a job that fills
  a plane progressively (into a file-backed scratch array when it is large), so the first tiles
  show at once and the rest fill in;
* PNG, JPEG and BMP are small enough to decode whole with Pillow.

Every failure is an :class:`~qbi_desktop.core.errors.ImageReadError` naming the file and the
problem.
"""

from __future__ import annotations

import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.errors import ImageReadError
from qbi_desktop.core.imageheader import (  # noqa: F401 - SUPPORTED_KINDS: a public name
    SUPPORTED_KINDS,
    check_pillow,
    check_tiff_page,
    check_tiff_series,
    open_tiff,
)
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.planes import (  # noqa: F401 - the public names of reading images
    BLOCK_READ_BYTES,
    ImageSource,
    Plane,
    _ArrayLoader,
    _check_dtype,
    source_from_array,
)

TIFF_SUFFIXES = {".tif", ".tiff", ".btf", ".tf8", ".ome.tif"}
PILLOW_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
SUPPORTED_SUFFIXES = TIFF_SUFFIXES | PILLOW_SUFFIXES

# Decoded planes larger than this go to a file-backed scratch array instead of RAM.
SCRATCH_THRESHOLD_BYTES = 256 * 1024**2
# Scratch files are named decoded-<pid>-*.raw in the user cache (see core.leftovers).
SCRATCH_PREFIX = "decoded-"


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 1024**3


def open_image(path: str | Path) -> ImageSource:
    """Open ``path`` lazily. Raises ImageReadError naming the file and the problem."""
    path = Path(path)
    _check_file(path)
    suffix = "".join(path.suffixes[-2:]).lower() if path.name.lower().endswith(".ome.tif") else ""
    suffix = suffix or path.suffix.lower()
    with path.open("rb") as stream:
        head = stream.read(8)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _open_tiff(path)
    from qbi_desktop.core.radiography.nexus import is_hdf5, open_nexus

    if is_hdf5(path):  # NeXus/HDF5, its signature at 0 or after a user block: slice by slice
        return open_nexus(path)
    if suffix in TIFF_SUFFIXES:
        raise ImageReadError(path, "not a TIFF file (the file header is not a TIFF header)")
    return _open_pillow(path)


def read_image(path: str | Path, index: int = 0) -> np.ndarray:
    """Read one slice fully into memory (for small images and batch jobs): within the size
    limits, since a memory-mapped plane of any size opens but is copied here."""
    from qbi_desktop.core.limits import check_image_size

    source = open_image(path)
    try:
        check_image_size(source.path, source.slice_shape, source.dtype.itemsize)
        plane = source.plane(index)
        if not plane.complete:
            from qbi_desktop.core.jobs import run_job

            run_job(decode_plane_job(source, index))
        array = plane.array
        if isinstance(array, np.memmap) or not (array.flags.c_contiguous and array.flags.writeable):
            return np.array(array)  # from the file (or a channel's view): copied out
        return array  # decoded into memory for this call only: no second copy (2x the peak)
    finally:
        source.close()


def _check_file(path: Path) -> None:
    try:
        if not path.exists():
            if path.is_symlink():
                raise ImageReadError(
                    path, "is a symbolic link to nothing (its target is missing, or it loops)"
                )
            raise ImageReadError(path, "file not found")
        if path.is_dir():
            raise ImageReadError(path, "is a folder, not an image file")
        info = path.stat()
        size = info.st_size
    except PermissionError as exc:
        raise ImageReadError(
            path, "permission denied (the file or its folder is not readable)"
        ) from exc
    except OSError as exc:
        raise ImageReadError(path, f"cannot access the file ({exc.strerror})") from exc
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block the reader, a device never end
        from qbi_desktop.core.safefile import kind_of

        raise ImageReadError(path, f"is {kind_of(info.st_mode)}, not an image file: not read")
    if not os.access(path, os.R_OK):
        raise ImageReadError(path, "permission denied (the file is not readable)")
    if size == 0:
        raise ImageReadError(path, "the file is empty (0 bytes)")


# ---------------------------------------------------------------------------------------------
# TIFF


class _ChannelPlane(Plane):
    """One channel of a multi-channel plane: a view of the full (H, W, C) plane, which is what
    gets memory-mapped or decoded; every channel of it is complete when the full plane is."""

    def __init__(self, full: Plane, channel: int):
        super().__init__(full.array[..., channel])
        self.full = full

    @property
    def complete(self) -> bool:
        return self.full.complete

    @complete.setter
    def complete(self, value: bool) -> None:
        if hasattr(self, "full"):
            self.full.complete = value


class _TiffLoader:
    """Gives planes of one TIFF series: memory-mapped when possible, else to be decoded.

    ``channels`` > 0: the series' last axis holds that many channels (2, 5, ... — 3 and 4 are
    colour) and each channel is a slice; the full (H, W, C) plane is what is mapped or decoded.
    """

    def __init__(self, path: Path, tif: Any, series: Any, slice_ndim: int, channels: int = 0):
        self.path = path
        self.tif = tif
        self.series = series
        self.slice_ndim = slice_ndim
        self.channels = channels
        full_ndim = slice_ndim + (1 if channels else 0)
        self.full_shape = tuple(int(n) for n in series.shape[-full_ndim:])
        self.slice_shape = self.full_shape[:2] if channels else self.full_shape
        self.dtype = np.dtype(series.dtype)
        self.n_outer = int(np.prod(series.shape[:-full_ndim], dtype=np.int64))
        self.n_slices = self.n_outer * max(1, channels)
        byteorder = tif.byteorder  # '<' or '>'
        self.file_dtype = (
            self.dtype.newbyteorder(byteorder) if self.dtype.itemsize > 1 else self.dtype
        )
        self.contiguous_offset = series.dataoffset  # whole series contiguous and uncompressed
        keyframe = series.keyframe
        # Pages that are not whole planes (a (H, W, 2) array tifffile wrote as H pages of W x 2,
        # planar samples): the series is read whole, once, after a size check.
        self.whole = self.contiguous_offset is None and (
            tuple(int(n) for n in keyframe.shape) != self.full_shape
            or len(series.pages) < self.n_outer
        )
        self.compressed = (
            self.contiguous_offset is None
            and not self.whole
            and (keyframe.compression != 1 or keyframe.is_tiled or not keyframe.is_contiguous)
        )
        self._stack: np.memmap | np.ndarray | None = None
        self._full: dict[int, Plane] = {}
        self._scratch: list[Path] = []
        self._fd: int | None = None

    def _pages(self) -> list[Any]:
        return self.series.pages

    def page_index(self, index: int) -> int:
        """The page (full plane) that slice ``index`` comes from."""
        return index // self.channels if self.channels else index

    def _file_info(self, offset: int) -> tuple[int, int, np.dtype] | None:
        if not hasattr(os, "preadv"):
            return None
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        return self._fd, offset, self.file_dtype

    def plane(self, index: int) -> Plane:
        if not self.channels:
            return self._full_plane(index)
        outer, channel = divmod(index, self.channels)
        full = self._full.get(outer)
        if full is None:
            full = self._full_plane(outer)
            self._full = {outer: full}  # the channels of one plane share it
        return _ChannelPlane(full, channel)

    def _full_plane(self, index: int) -> Plane:
        plane_bytes = int(np.prod(self.full_shape, dtype=np.int64)) * self.dtype.itemsize
        if self.whole:
            if self._stack is None:
                data = np.asarray(self.series.asarray())
                self._stack = data.reshape(self.n_outer, *self.full_shape)
            return Plane(self._stack[index])
        if self.contiguous_offset is not None:
            if self._stack is None:
                self._stack = np.memmap(
                    self.path,
                    dtype=self.file_dtype,
                    mode="r",
                    offset=self.contiguous_offset,
                    shape=(self.n_outer, *self.full_shape),
                )
            offset = self.contiguous_offset + index * plane_bytes
            # channel views are strided: read through the map, not by whole rows from the file
            file = None if self.channels else self._file_info(offset)
            return Plane(self._stack[index], file=file)
        page = self._pages()[index]
        if page is None:
            raise ImageReadError(self.path, f"slice {index} is missing from the file")
        page = page.aspage() if hasattr(page, "aspage") else page
        if page.compression == 1 and page.is_contiguous and not page.is_tiled:
            offset, _ = (
                page.is_contiguous
                if isinstance(page.is_contiguous, tuple)
                else (
                    page.dataoffsets[0],
                    None,
                )
            )
            array = np.memmap(
                self.path, dtype=self.file_dtype, mode="r", offset=offset, shape=self.full_shape
            )
            return Plane(array, file=None if self.channels else self._file_info(offset))
        # Compressed or tiled: an empty plane that decode_plane_job fills.
        if plane_bytes > _available_memory() * 0.8 or plane_bytes > SCRATCH_THRESHOLD_BYTES:
            array = self._scratch_array(plane_bytes)
        else:
            array = np.zeros(self.full_shape, self.dtype)
        return Plane(array, complete=False)

    def _scratch_array(self, nbytes: int) -> np.ndarray:
        from qbi_desktop.core.paths import user_dir

        folder = user_dir("cache")
        free = _disk_free(folder)
        if free is not None and nbytes > free * 0.9:
            raise ImageReadError(
                self.path,
                f"too large to decode: a slice needs {nbytes / 1e9:.1f} GB, more than the free "
                f"memory and the free disk space in {folder}",
            )
        handle, name = tempfile.mkstemp(
            prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", suffix=".raw", dir=folder
        )
        os.close(handle)
        try:
            array = np.memmap(name, dtype=self.dtype, mode="w+", shape=self.full_shape)
        except (OSError, ValueError, MemoryError) as exc:
            Path(name).unlink(missing_ok=True)  # a failed open leaves no sparse file behind
            raise ImageReadError(
                self.path, f"cannot make room to decode the image in {folder} ({_reason(exc)})"
            ) from exc
        try:
            # The mapping keeps the data alive; the name goes now, so neither a crash nor a
            # kill -9 can leave a multi-GB file in the cache (POSIX; Windows keeps it until close).
            os.unlink(name)
        except OSError:
            self._scratch.append(Path(name))
        return array

    def close(self) -> None:
        self._stack = None
        self._full.clear()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        try:
            self.tif.close()
        except Exception:  # noqa: BLE001 - closing must never raise
            pass
        for name in self._scratch:
            try:
                name.unlink()
            except OSError:
                pass
        self._scratch.clear()


def _disk_free(folder: Path) -> int | None:
    try:
        stat = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return stat.f_bavail * stat.f_frsize


def _open_tiff(path: Path) -> ImageSource:
    try:
        # the first series, built from what the file holds whatever its metadata claims
        opened = open_tiff(path)
    except ImageReadError:
        raise
    except Exception as exc:  # tifffile raises many kinds for broken files
        raise ImageReadError(path, f"not a readable TIFF ({_reason(exc)})") from exc
    tif = opened.tif
    try:
        if opened.series is None:
            raise ImageReadError(path, "the TIFF contains no images")
        series = opened.series
        axes = series.axes
        dtype = _check_dtype(path, series.dtype)
        shape = tuple(int(n) for n in series.shape)
        if len(shape) < 2:
            raise ImageReadError(path, f"not a 2-D image (shape {shape})")
        # A trailing samples axis of 3 or 4 is colour, of another count channels shown as a
        # slice axis; everything before Y X is flattened into slices.
        channels = _channels_last(tif, axes, shape)
        slice_ndim = 3 if channels in (3, 4) else 2
        channels = 0 if channels in (0, 3, 4) else channels
        stack_shape = shape[: -(slice_ndim + (1 if channels else 0))] + (
            (channels,) if channels else ()
        )
        if channels:
            axes = axes[: len(stack_shape) - 1] + "C" + "YX"
        loader = _TiffLoader(path, tif, series, slice_ndim, channels)
        if loader.whole:
            check_tiff_series(path, series)
        else:
            check_tiff_page(path, series.keyframe, decode=loader.compressed)
        _check_truncated(path, tif, series, loader)
        metadata = _tiff_metadata(tif, series)
        if opened.note:
            metadata["metadata_ignored"] = opened.note
        if opened.other_pages:  # only the first series was built (imageheader.open_tiff)
            metadata["other_series_pages"] = opened.other_pages
        elif len(tif.series) > 1:  # the first is what is read; say that there are others
            metadata["series"] = len(tif.series)
    except ImageReadError:
        tif.close()
        raise
    except Exception as exc:
        tif.close()
        raise ImageReadError(path, f"not a readable TIFF ({_reason(exc)})") from exc
    return ImageSource(
        path=path,
        dtype=dtype,
        slice_shape=loader.slice_shape,
        n_slices=loader.n_slices,
        axes=axes,
        stack_shape=stack_shape or (1,),
        metadata=metadata,
        _loader=loader,
    )


def _channels_last(tif: Any, axes: str, shape: tuple[int, ...]) -> int:
    """How many channels the series' last axis holds, or 0 when it is the image's X axis.

    A TIFF says so with a samples axis (S); a (H, W, C) array saved as-is by tifffile becomes H
    pages of W x C pixels, which no one means as an image: a last axis of at most 8 next to two
    axes at least 4 times longer is taken as channels too.
    """
    if len(shape) < 3:
        return 0
    if axes.endswith("S"):
        return shape[-1]
    if tif.is_shaped and shape[-1] <= 8 and min(shape[-3], shape[-2]) >= 4 * shape[-1]:
        return shape[-1]
    return 0


def _check_truncated(path: Path, tif: Any, series: Any, loader: _TiffLoader) -> None:
    """Refuse files whose pixel data runs past the end of the file."""
    size = path.stat().st_size
    if loader.contiguous_offset is not None:
        needed = (
            loader.contiguous_offset
            + int(np.prod(series.shape, dtype=np.int64)) * loader.dtype.itemsize
        )
        if needed > size:
            raise ImageReadError(
                path,
                f"the file is truncated: the image needs {needed} bytes, the file has {size}",
            )
        return
    page = series.keyframe
    ends = [o + c for o, c in zip(page.dataoffsets, page.databytecounts, strict=False) if c]
    last_page = series.pages[-1] if len(series.pages) else None
    if last_page is not None and hasattr(last_page, "dataoffsets"):
        ends += [
            o + c
            for o, c in zip(last_page.dataoffsets, last_page.databytecounts, strict=False)
            if c
        ]
    if ends and max(ends) > size:
        raise ImageReadError(
            path, f"the file is truncated: pixel data runs to byte {max(ends)}, the file has {size}"
        )


def _tiff_metadata(tif: Any, series: Any) -> dict[str, Any]:
    page = series.keyframe
    meta: dict[str, Any] = {
        "format": "TIFF",
        "axes": series.axes,
        "compression": _compression_name(page.compression),
        "tiled": bool(page.is_tiled),
    }
    if page.is_tiled:
        meta["tile"] = f"{page.tilelength}x{page.tilewidth}"
    tags = page.tags
    for name, key in (("XResolution", "x_resolution"), ("YResolution", "y_resolution")):
        tag = tags.get(name)
        if tag is not None:
            value = tag.value
            if isinstance(value, tuple) and len(value) == 2 and value[1]:
                value = value[0] / value[1]
            meta[key] = value
    unit = tags.get("ResolutionUnit")
    if unit is not None:
        meta["resolution_unit"] = getattr(unit.value, "name", str(unit.value))
    for name in ("Software", "DateTime", "Make", "Model", "ImageDescription"):
        tag = tags.get(name)
        if tag is not None and name != "ImageDescription":
            meta[name.lower()] = str(tag.value)[:200]
    if tif.is_imagej and tif.imagej_metadata:
        ij = {k: v for k, v in tif.imagej_metadata.items() if isinstance(v, str | int | float)}
        meta["imagej"] = ij
    return meta


def _compression_name(code: Any) -> str:
    import tifffile

    try:
        return tifffile.COMPRESSION(int(code)).name
    except (ValueError, TypeError):
        return str(code)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "..."


def decode_plane_job(source: ImageSource, index: int = 0, pyramid: Any = None) -> Job[Plane]:
    """Decode a compressed or tiled TIFF plane tile by tile, yielding after each batch of tiles.

    The plane's array is filled in place, so a viewer showing it sees tiles appear. Each
    Progress carries in ``detail`` the bounding box ``(y0, y1, x0, x1)`` of the tiles decoded
    since the previous one, letting the viewer refresh only that part. A ``pyramid``
    (:class:`~qbi_desktop.core.pyramid.Pyramid` of this plane) is updated here, on the worker,
    so the overview fills in without costing the GUI thread anything.
    """
    plane = source.plane(index)
    if plane.complete:
        return plane
    loader: _TiffLoader = source._loader
    page = loader._pages()[loader.page_index(index)]
    page = page.aspage() if hasattr(page, "aspage") else page
    total = int(np.prod(page.chunked, dtype=np.int64))
    out = plane.full.array if isinstance(plane, _ChannelPlane) else plane.array
    colour = out.ndim == 3
    done = 0
    batch = max(1, total // 64)
    box = [math.inf, -math.inf, math.inf, -math.inf]
    try:
        segments = page.segments(maxworkers=min(4, os.cpu_count() or 1))
        for segment, indices, shape in segments:
            done += 1
            if segment is not None:
                y0, x0 = indices[2], indices[3]
                h = min(shape[1], out.shape[0] - y0)
                w = min(shape[2], out.shape[1] - x0)
                if h > 0 and w > 0:
                    tile = segment[0, :h, :w] if segment.ndim == 4 else segment[:h, :w]
                    out[y0 : y0 + h, x0 : x0 + w] = tile if colour else tile[..., 0]
                    box = [
                        min(box[0], y0),
                        max(box[1], y0 + h),
                        min(box[2], x0),
                        max(box[3], x0 + w),
                    ]
            if done % batch == 0 or done == total:
                region = tuple(int(v) for v in box) if box[0] != math.inf else None
                if region is not None and pyramid is not None:
                    pyramid.update_region(*region)
                yield Progress(done, total, f"decoding {source.path.name}", region)
                box = [math.inf, -math.inf, math.inf, -math.inf]
    except Exception as exc:  # a broken tile: say which file, keep what was decoded
        raise ImageReadError(source.path, f"cannot decode the image data ({_reason(exc)})") from exc
    plane.complete = True
    if pyramid is not None:
        pyramid.complete = True
    return plane


# ---------------------------------------------------------------------------------------------
# PNG / JPEG / BMP


def _open_pillow(path: Path) -> ImageSource:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            check_pillow(path, image)
            image.load()
            array = _pillow_array(image)
    except UnidentifiedImageError as exc:
        raise ImageReadError(path, "not an image file (unrecognised format)") from exc
    except Image.DecompressionBombError as exc:
        raise ImageReadError(path, f"image is too large to decode ({_reason(exc)})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(
            path, f"the image data is broken or truncated ({_reason(exc)})"
        ) from exc
    dtype = _check_dtype(path, array.dtype)
    loader = _ArrayLoader(array[None])
    return ImageSource(
        path=path,
        dtype=dtype,
        slice_shape=array.shape,
        n_slices=1,
        axes="YXS" if array.ndim == 3 else "YX",
        stack_shape=(1,),
        metadata={"format": path.suffix.lstrip(".").upper() or "image"},
        _loader=loader,
    )


def _pillow_array(image: Any) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L"):
        return _rows_of(image, np.uint16)
    if image.mode == "I":
        array = np.asarray(image)
        return array.astype(np.uint16) if array.min() >= 0 and array.max() < 65536 else array
    if image.mode == "F":
        return _rows_of(image, np.float32)
    if image.mode in ("1", "L", "P", "LA", "PA"):
        image = (
            image.convert("L")
            if image.mode != "P" or "transparency" not in image.info
            else image.convert("RGBA")
        )
    elif image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGB")
    return _rows_of(image)


#: rows of a Pillow image copied out at a time (:func:`_rows_of`)
_ROW_BLOCK_BYTES = 8 << 20


def _rows_of(image: Any, dtype: Any = None) -> np.ndarray:
    """``np.asarray(image, dtype)`` without its whole-image intermediates: Pillow's array
    interface first builds the image as bytes (its chunks, then joined), so a 9000 x 9000 RGBA
    PNG peaked at 3x its 324 MB. Blocks of rows are copied into one array instead: the image
    plus the array, and one block."""
    width, height = image.size
    first = np.asarray(image.crop((0, 0, width, min(height, 1))))
    out = np.empty((height, *first.shape[1:]), dtype or first.dtype)
    step = max(1, _ROW_BLOCK_BYTES // max(1, first.nbytes))
    for y in range(0, height, step):
        out[y : y + step] = np.asarray(image.crop((0, y, width, min(height, y + step))))
    return out
