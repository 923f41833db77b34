"""What an image file declares, checked before a single pixel is decoded.

A file's header is a claim, not a fact: 138 bytes can declare a 100 000 x 100 000 image, and a
27 KB tiled TIFF whose tiles all point at one compressed tile decodes to 6 GB. Every reader
calls these checks after parsing the header and before allocating:

* the declared plane size against :mod:`qbi_desktop.core.limits` (pixels and decoded bytes);
* zero sizes and zero tile sizes (no reader can show them, some divide by them);
* the pixel type (:func:`check_pixel_type`), one policy for the viewer and the catalog;
* the pixel data against the file: it must end inside the file, uncompressed data must be as
  long as the image, and compressed data cannot expand more than its codec can (deflate at most
  1032:1, so a 2 KB tile shared by 3 000 tile slots is refused as a decompression bomb).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core import limits as _limits
from qbi_desktop.core.errors import ImageReadError, human_size

# Largest expansion each TIFF codec can produce (deflate's theoretical maximum is 1032:1,
# LZW with 12-bit codes ~1400:1, PackBits 64:1); a little headroom for headers.
_MAX_RATIO = {5: 1500, 8: 1100, 32946: 1100, 32773: 70}
# PNG pixel data is one deflate stream.
_PNG_MAX_RATIO = 1100


# Integer and float kinds we can display and compute on; bool, complex, object are refused.
SUPPORTED_KINDS = {"u", "i", "f"}


def check_pixel_type(path: Path | str, dtype: Any) -> np.dtype:
    """The pixel type of an image, or ImageReadError naming the file: integers and floats of
    up to 8 bytes. The viewer and the catalog's imports ask this one function, so a file the
    viewer refuses never enters a project (and the other way round)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in SUPPORTED_KINDS or dtype.itemsize > 8:
        raise ImageReadError(path, f"unsupported pixel type {dtype} (supported: integers, float)")
    return dtype


def _nbytes(shape: tuple[int, ...], itemsize: int) -> int:
    total = int(itemsize)
    for n in shape:
        total *= int(n)
    return total


def check_tiff_page(path: Path, page: Any, *, what: str = "the image", decode: bool = True) -> None:
    """Refuse a TIFF page whose declared size or data layout cannot be real.

    ``decode`` False (a plane that will be memory-mapped, not decoded) skips the size limit:
    mapping allocates nothing, and the data is checked to be in the file.
    """
    page = page.keyframe if getattr(page, "keyframe", None) is not None else page
    shape = tuple(int(n) for n in page.shape)
    height, width = int(page.imagelength), int(page.imagewidth)
    if height <= 0 or width <= 0:
        raise ImageReadError(path, f"{what} declares an empty size ({height} x {width} pixels)")
    tile = [page.tags.get(name) for name in ("TileLength", "TileWidth")]
    if any(t is not None for t in tile):
        tile_length, tile_width = (int(t.value) if t is not None else 0 for t in tile)
        if tile_length <= 0 or tile_width <= 0:
            raise ImageReadError(
                path, f"{what} declares tiles of {tile_length} x {tile_width} pixels"
            )
    elif int(getattr(page, "rowsperstrip", 1) or 0) <= 0:
        raise ImageReadError(path, f"{what} declares strips of {page.rowsperstrip} rows")
    itemsize = np.dtype(page.dtype).itemsize if page.dtype is not None else 1
    declared = _nbytes(shape, itemsize)
    if decode:
        _limits.check_image_size(path, _plane_shape(shape, height, width), itemsize, what=what)
    size = path.stat().st_size
    spans = [
        (int(o), int(c))
        for o, c in zip(page.dataoffsets, page.databytecounts, strict=False)
        if int(c) > 0
    ]
    if not spans:
        raise ImageReadError(path, f"{what} has no pixel data in the file")
    end = max(o + c for o, c in spans)
    if end > size:
        raise ImageReadError(
            path, f"the file is truncated: pixel data runs to byte {end}, the file has {size}"
        )
    stored = sum(dict(spans).values())  # tiles sharing one offset count once
    compression = int(page.compression)
    # what the file's pixel data decodes to, as stored: 1-bit masks and 12-bit data are packed
    samples = max(1, _nbytes(shape, 1) // max(1, height * width))
    bits = int(getattr(page, "bitspersample", 0) or itemsize * 8)
    packed = height * -(-width * samples * bits // 8)
    if compression == 1 and stored < packed:
        raise ImageReadError(
            path,
            f"the file is truncated: {what} declares {width} x {height} pixels "
            f"({human_size(declared)}) but holds {human_size(stored)} of pixel data",
        )
    ratio = _MAX_RATIO.get(compression)
    if ratio is not None and packed > stored * ratio:
        raise ImageReadError(
            path,
            f"{what} declares {width} x {height} pixels ({human_size(declared)} decoded) from "
            f"{human_size(stored)} of compressed data, more than the compression can expand "
            "(a decompression bomb or a damaged file)",
        )


def _plane_shape(shape: tuple[int, ...], height: int, width: int) -> tuple[int, ...]:
    # page.shape is (h, w), (h, w, s), or (s, h, w) for planar samples: samples as last axis
    samples = max(1, _nbytes(shape, 1) // max(1, height * width))
    return (height, width, samples) if samples > 1 else (height, width)


def check_tiff_series(path: Path, series: Any, *, what: str = "the image") -> None:
    """For readers that decode a whole series (all pages) into one array: pages x plane."""
    check_tiff_page(path, series.keyframe, what=what)
    itemsize = np.dtype(series.dtype).itemsize
    total = _nbytes(tuple(series.shape), itemsize)
    current = _limits.current()
    if total > current.decoded_bytes:
        shape = " x ".join(str(int(n)) for n in series.shape)
        raise ImageReadError(
            path,
            f"{what} declares {shape} values, {human_size(total)} decoded, more than the limit of "
            f"{human_size(current.decoded_bytes)} ({_limits.how_to_raise('decoded_bytes')})",
        )


def check_pillow(path: Path, image: Any, *, what: str = "the image") -> None:
    """Check a Pillow image opened lazily (``Image.open``), before ``load()``."""
    width, height = (int(n) for n in image.size)
    bands = len(image.getbands())
    itemsize = 2 if image.mode.startswith("I;16") else 4 if image.mode in ("I", "F") else 1
    shape = (height, width, bands) if bands > 1 else (height, width)
    _limits.check_image_size(path, shape, itemsize, what=what)
    if getattr(image, "format", None) == "PNG":
        size = path.stat().st_size
        # at least one bit per pixel plus a filter byte per row went into the deflate stream
        raw = height * (1 + -(-width // 8))
        if raw > size * _PNG_MAX_RATIO:
            raise ImageReadError(
                path,
                f"{what} declares {width} x {height} pixels in a {human_size(size)} PNG file, "
                "more than its compression can expand (a decompression bomb or a damaged file)",
            )


def read_tiff_checked(path: Path, *, key: int | None = 0, what: str = "the image") -> np.ndarray:
    """Decode page ``key`` (or with ``key=None`` the whole first series) after the checks."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.pages:
            raise ImageReadError(path, "the TIFF contains no images")
        if key is None:
            if not tif.series:
                raise ImageReadError(path, "the TIFF contains no images")
            check_tiff_series(path, tif.series[0], what=what)
            return tif.series[0].asarray()
        page = tif.pages[key]
        check_tiff_page(path, page, what=what)
        return page.asarray()
