"""Reading a rectangle of one image plane, decoding no more than the rectangle needs.

A command that measures a 64 x 64 region of a 30 000 x 30 000 tiled, compressed TIFF used to
decode the whole 1.8 GB plane (and copy it: 3.6-4.4 GB peak) for 4096 pixels. Here a compressed
or tiled TIFF plane is decoded tile by tile (strip by strip) for the tiles that meet the
rectangle only; an uncompressed plane is sliced from its memory map; other formats (PNG, JPEG:
one compressed stream) are decoded whole, once, and sliced.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from qbi_desktop.core.errors import ImageReadError
from qbi_desktop.core.limits import check_image_size


def read_region(path: str | Path, index: int, rows: tuple[int, int], cols: tuple[int, int]):
    """Pixels ``rows[0]:rows[1]``, ``cols[0]:cols[1]`` of slice ``index`` of the image at
    ``path`` (clipped to the plane), in memory; ImageReadError names the file."""
    from qbi_desktop.core.io import open_image

    source = open_image(path)
    try:
        return region_of(source, index, rows, cols)
    finally:
        source.close()


def region_of(source, index: int, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """:func:`read_region` of an opened :class:`~qbi_desktop.core.planes.ImageSource` (the
    caller closes it)."""
    from qbi_desktop.core.io import _TiffLoader

    height, width = source.slice_shape[:2]
    y0, y1 = max(0, int(rows[0])), min(height, int(rows[1]))
    x0, x1 = max(0, int(cols[0])), min(width, int(cols[1]))
    y1, x1 = max(y0, y1), max(x0, x1)
    if not 0 <= index < source.n_slices:
        raise ImageReadError(source.path, f"has {source.n_slices} slice(s), not {index}")
    loader = source._loader
    if isinstance(loader, _TiffLoader) and loader.compressed:
        region = _decode_tiles(loader, loader.page_index(index), y0, y1, x0, x1)
        if region is not None:
            return region[..., index % loader.channels] if loader.channels else region
    check_image_size(source.path, source.slice_shape, source.dtype.itemsize)
    plane = source.plane(index)
    if not plane.complete:  # a layout the tile reader does not take: decode it whole
        from qbi_desktop.core.io import decode_plane_job
        from qbi_desktop.core.jobs import run_job

        run_job(decode_plane_job(source, index))
    return np.array(plane.array[y0:y1, x0:x1])


def _decode_tiles(loader, page_index: int, y0: int, y1: int, x0: int, x1: int):
    """The region of a tiled or stripped (compressed) TIFF page from the segments that meet
    it, or None for layouts read whole (planar samples, volumes, irregular segment lists)."""
    page = loader._pages()[page_index]
    if page is None:
        raise ImageReadError(loader.path, f"slice {page_index} is missing from the file")
    page = page.aspage() if hasattr(page, "aspage") else page
    shaped = tuple(int(n) for n in page.shaped)  # (separate samples, depth, h, w, samples)
    if shaped[0] != 1 or shaped[1] != 1 or len(page.chunks) < 2:
        return None
    height, width, samples = shaped[2], shaped[3], shaped[4]
    tile_h, tile_w = int(page.chunks[0]), int(page.chunks[1])
    if tile_h <= 0 or tile_w <= 0:
        return None
    across = math.ceil(width / tile_w)
    if len(page.dataoffsets) != math.ceil(height / tile_h) * across:
        return None
    wanted = [
        ty * across + tx
        for ty in range(y0 // tile_h, math.ceil(y1 / tile_h))
        for tx in range(x0 // tile_w, math.ceil(x1 / tile_w))
    ]
    shape = (y1 - y0, x1 - x0) + ((samples,) if samples > 1 else ())
    out = np.zeros(shape, loader.dtype)
    if not wanted or out.size == 0:
        return out
    decode = page.decode
    kwargs = {"_fullsize": bool(page.is_tiled)}
    if page.compression in (6, 7, 34892, 33007):  # JPEG
        kwargs.update(jpegtables=page.jpegtables, jpegheader=page.jpegheader)
    handle = page.parent.filehandle
    try:
        offsets = [page.dataoffsets[i] for i in wanted]
        counts = [page.databytecounts[i] for i in wanted]
        for data, index in handle.read_segments(
            offsets, counts, indices=wanted, sort=True, flat=True
        ):
            segment, where, _shape = decode(data, index, **kwargs)
            if segment is None:
                continue  # an empty tile: the fill value, 0
            top, left = int(where[2]), int(where[3])
            block = segment.reshape(segment.shape[-3:])  # (h, w, samples)
            ys, ye = max(y0, top), min(y1, top + block.shape[0])
            xs, xe = max(x0, left), min(x1, left + block.shape[1])
            if ys < ye and xs < xe:
                part = block[ys - top : ye - top, xs - left : xe - left]
                out[ys - y0 : ye - y0, xs - x0 : xe - x0] = part if samples > 1 else part[..., 0]
    except ImageReadError:
        raise
    except Exception as exc:  # a broken tile: name the file
        raise ImageReadError(
            loader.path, f"cannot decode the image data ({type(exc).__name__}: {exc})"
        ) from exc
    return out
