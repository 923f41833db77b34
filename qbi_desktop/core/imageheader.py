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

import math
from dataclasses import dataclass
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
        guard_png_rows(path, image, what=what)


# ---------------------------------------------------------------------------------------------
# PNG rows: a deflate stream that ends cleanly before the declared rows is not an error to
# Pillow (its zip decoder stops at the stream's end and leaves the missing rows zero), so the
# bytes the stream really inflates to are counted while Pillow reads them and compared with
# what the header declares.

_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2))
_ADAM7 += ((0, 1, 1, 2),)
_INFLATE_STEP = 1 << 20


def png_layout(header: bytes) -> tuple[int, int, int] | None:
    """(bytes of filtered data the IHDR declares, bytes per row or 0 when interlaced, rows)
    from a PNG's first 33 bytes; None if they are not a PNG header we understand."""
    if len(header) < 33 or header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    depth, colour, interlace = header[24], header[25], header[28]
    channels = _PNG_CHANNELS.get(colour)
    if channels is None or not 1 <= depth <= 16 or interlace not in (0, 1):
        return None
    bits = depth * channels
    if not interlace:
        row = 1 + -(-width * bits // 8)
        return height * row, row, height
    total = 0
    for x0, y0, dx, dy in _ADAM7:
        columns, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns > 0 and rows > 0:
            total += rows * (1 + -(-columns * bits // 8))
    return total, 0, height


def guard_png_rows(path: Path | str, image: Any, *, what: str = "the image") -> None:
    """Make ``image.load()`` (a lazily opened Pillow PNG) raise :class:`ImageReadError` when
    its pixel data ends before the rows its header declares: "the image data ends after 10 of
    64 rows (truncated)". Costs one more inflate of the data, run as Pillow reads it."""
    if getattr(image, "format", None) != "PNG" or not hasattr(image, "load_read"):
        return
    fp = getattr(image, "fp", None)
    if fp is None or "load_read" in vars(image):
        return
    try:
        here = fp.tell()
        fp.seek(0)
        header = fp.read(33)
        fp.seek(here)
    except (OSError, ValueError):
        return
    layout = png_layout(header)
    if layout is None:
        return
    _PngRowGuard(Path(path), image, what, *layout)


class _PngRowGuard:
    """Counts what the PNG's deflate stream inflates to while Pillow reads it (instance
    attributes shadow the image's ``load_read``/``load_end`` for this one load)."""

    def __init__(self, path: Path, image: Any, what: str, expected: int, row: int, rows: int):
        import zlib

        self.path, self.image, self.what = path, image, what
        self.expected, self.row, self.rows = expected, row, rows
        self.inflater = zlib.decompressobj()
        self.error = zlib.error
        self.out = 0
        self.unknown = False
        self.read, self.end = image.load_read, image.load_end
        image.load_read, image.load_end = self._load_read, self._load_end

    def _load_read(self, read_bytes: int) -> bytes:
        data = self.read(read_bytes)
        rest = data
        try:
            while rest and not self.unknown and self.out < self.expected and not self.inflater.eof:
                self.out += len(self.inflater.decompress(rest, _INFLATE_STEP))
                rest = self.inflater.unconsumed_tail
        except self.error:
            self.unknown = True  # a damaged stream: Pillow's own decoder says so
        return data

    def _load_end(self) -> None:
        image = self.image
        del image.load_read, image.load_end
        self.end()
        if self.unknown or self.out >= self.expected:
            return
        if self.row:
            done = f"{self.out // self.row} of {self.rows} rows"
        else:
            done = f"{self.out} of the {self.expected} bytes its {self.rows} interlaced rows need"
        raise ImageReadError(self.path, f"{self.what} data ends after {done} (truncated)")


def read_tiff_checked(path: Path, *, key: int | None = 0, what: str = "the image") -> np.ndarray:
    """Decode page ``key`` (or with ``key=None`` the whole first series) after the checks."""
    import tifffile

    path = Path(path)
    if key is None:
        opened = open_tiff(path)
        with opened.tif:
            if opened.series is None:
                raise ImageReadError(path, "the TIFF contains no images")
            check_tiff_series(path, opened.series, what=what)
            return opened.series.asarray()
    with tifffile.TiffFile(path) as tif:
        if not tif.pages:
            raise ImageReadError(path, "the TIFF contains no images")
        page = tif.pages[key]
        check_tiff_page(path, page, what=what)
        return page.asarray()


# ---------------------------------------------------------------------------------------------
# What a TIFF's metadata claims about its series, against the pages the file really has.
#
# tifffile builds a file's series from the metadata inside it (OME-XML, an ImageJ description,
# tifffile's own shaped JSON, FluoView, ScanImage, Micro-Manager...) and some of these build a
# list with one entry per *claimed* plane: a 992-byte file whose OME-XML says SizeT=4e8 costs
# 9 GB before a pixel is read. So, before tifffile sees a claim, the claims that allocate are
# checked against what the file holds (its pages: counting them reads only the IFD chain, ~5 ms
# for 3 000 pages), and after it built a series, the series against its real pages. A claim
# that disagrees is ignored (the file is reopened with that kind of metadata turned off) and the
# file opens as its real pages, with a note saying what was ignored.

#: series kinds never used: they size lists by a claimed index map and read sibling files
#: (Micro-Manager's other ``*_MMStack*.tif``, NDTiff's ``NDTiff.index``)
_UNTRUSTED_KINDS = ("mmstack", "ndtiff")
#: series kinds built from the file's pages alone: nothing to turn off
_PAGE_KINDS = ("generic",)


@dataclass
class OpenedTiff:
    """A TIFF opened by :func:`open_tiff`: ``series`` is its first series (None: no image),
    ``note`` says which metadata was ignored because it disagrees with the file."""

    tif: Any
    series: Any
    n_pages: int  # -1: not counted (see open_tiff)
    note: str = ""
    #: pages after ``series`` that belong to further series, when only the first was built
    #: (:func:`_first_shaped_series`); 0 otherwise (``tif.series`` says how many there are)
    other_pages: int = 0


def open_tiff(path: Path) -> OpenedTiff:
    """Open ``path`` with tifffile and build its first series at a cost in proportion to the
    file, whatever its metadata claims (see above). The caller closes ``.tif``. tifffile's
    exceptions for broken files pass through."""
    import tifffile

    path = Path(path)
    flags = {f"is_{kind}": False for kind in _UNTRUSTED_KINDS}
    notes: list[str] = []
    for _ in range(8):  # each round turns one kind of metadata off
        tif = tifffile.TiffFile(path, **flags)
        try:
            try:
                tif.pages[0]  # reads the first page only
            except IndexError:
                return OpenedTiff(tif, None, 0, "; ".join(notes))
            # all pages are counted only where a claim is checked against them: a contiguous
            # stack (ImageJ's) is checked by its bytes, and counting 16 000 pages costs ~20 ms
            kind, problem = "ome", (_ome_problem(tif, len(tif.pages)) if tif.is_ome else None)
            if problem is None:
                first = _first_shaped_series(tif) if tif.is_shaped else None
                if first is not None:
                    series, other = first
                else:  # tifffile builds every series (fine unless there are thousands)
                    series, other = (tif.series[0] if tif.series else None), 0
                if series is None:
                    return OpenedTiff(tif, None, len(tif.pages), "; ".join(notes))
                size = int(tif.filehandle.size)
                kind, problem = series.kind, _series_problem(series, tif.pages, size)
                if problem is None or kind in _PAGE_KINDS or f"is_{kind}" in flags:
                    return OpenedTiff(tif, series, -1, "; ".join(notes), other)
        except BaseException:
            tif.close()
            raise
        tif.close()
        label = _KIND_LABELS.get(kind, f"{kind} metadata")
        notes.append(f"{label} ignored ({problem}); read as the file's pages")
        flags[f"is_{kind}"] = False
    raise ImageReadError(path, "its metadata disagrees with its pages: " + "; ".join(notes))


#: pages up to which tifffile builds every series of a shaped file (~30 ms at 256 pages)
_FEW_PAGES = 256


def _first_shaped_series(tif: Any) -> tuple[Any, int] | None:
    """The first series of a tifffile "shaped" file and the count of pages after it, built
    from its own pages, when the file holds further series; None to let tifffile build them.

    A TIFF written page by page (``TiffWriter.write`` per frame) holds one shaped series per
    page, and tifffile's ``series`` builds them all and pairs them up as a pyramid: O(n^2),
    1.8 s at 2 000 pages and 100 s at 20 000, to read page 0. The first series is what is
    read, and its description says how many pages it has: those pages alone are read here
    (as tifffile does: same shape, type and storage as its first page, else tifffile's way).
    """
    import tifffile.tifffile as tt

    keyframe = tif.pages.first
    description = getattr(keyframe, "shaped_description", None)
    if description is None:
        return None
    try:
        metadata = tt.shaped_description_metadata(description)
        reshape = tuple(int(n) for n in metadata["shape"])
    except (ValueError, KeyError, TypeError):
        return None
    if metadata.get("truncated") or keyframe.subifds:
        return None  # one page stands for the series / SubIFD levels: tifffile's own way
    per_page, size = math.prod(keyframe.shape), math.prod(reshape)
    if per_page <= 0 or size <= 0 or size % per_page:
        return None
    n_pages, n_series_pages = len(tif.pages), size // per_page  # counting reads IFDs only
    if n_pages <= max(n_series_pages, _FEW_PAGES):
        # the only series (tifffile builds it from these pages alone), or few pages: tifffile
        # builds every series in a few ms and messages can say how many there are
        return None
    pages = [keyframe]
    for index in range(1, n_series_pages):
        page = tif.pages[index]
        if getattr(page, "hash", None) != keyframe.hash:
            return None
        pages.append(page)
    axes = metadata.get("axes")
    if not (isinstance(axes, str) and len(axes) == len(reshape)):
        shape = tuple(keyframe.shape)
        axes = keyframe.axes
        if n_series_pages > 1:
            shape, axes = (n_series_pages, *shape), "Q" + axes
        try:
            axes = tt.reshape_axes(axes, shape, reshape)
        except ValueError:
            return None
    series = tt.TiffPageSeries(
        pages,
        reshape,
        keyframe.dtype,
        axes,
        name=str(metadata.get("name", "")),
        kind="shaped",
        truncated=False,
        squeeze=False,
    )
    return series, n_pages - n_series_pages


_KIND_LABELS = {
    "ome": "OME-XML",
    "imagej": "ImageJ metadata",
    "shaped": "the shape in its description",
    "fluoview": "FluoView metadata",
    "scanimage": "ScanImage metadata",
    "lsm": "LSM metadata",
    "stk": "MetaMorph metadata",
}


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'s' if n != 1 else ''}"


def _planes(n: int) -> str:
    return _count(n, "plane")


def _series_problem(series: Any, file_pages: Any, file_size: int) -> str | None:
    """Why a series built from metadata claims more than its pages hold, or None.

    A series stored contiguously (ImageJ hyperstacks, shaped and MetaMorph stacks) is one block
    of bytes that the readers check against the file length; any other series is its pages,
    and may not claim more values than those pages hold."""
    pages = series.pages
    keyframe = series.keyframe
    if keyframe is None:
        return "it names no page"
    offset = series.dataoffset
    if offset is None and len(pages) > len(file_pages):  # pages a claim added (zero-filled)
        has = _count(len(file_pages), "page")
        return f"it claims {_planes(len(pages))}, the file has {has}"
    if offset is not None:  # one block of bytes: it must end inside the file
        needed = _nbytes(tuple(series.shape), np.dtype(series.dtype).itemsize)
        if offset + needed > file_size:
            shape = " x ".join(str(int(n)) for n in series.shape)
            return f"it claims {shape} values, {needed:,} bytes; the file has {file_size:,}"
        return None
    real = sum(1 for page in pages if page is not None)
    per_page = _nbytes(tuple(keyframe.shape), 1)
    claimed = _nbytes(tuple(series.shape), 1)
    if claimed > real * per_page:
        shape = " x ".join(str(int(n)) for n in series.shape)
        return f"it claims {shape} values, the file's {real:,} page(s) hold {real * per_page:,}"
    return None


def _ome_problem(tif: Any, n_pages: int) -> str | None:
    """Why the OME-XML of ``tif`` would make tifffile allocate more than the file holds, or
    None. Checked, as tifffile reads them: planes per image (SizeZ x SizeT x SizeC / samples),
    TiffData (IFD, PlaneCount, First*; pages in other files), SizeX/SizeY against the page
    they start at, and modulo annotations (Start/End/Step: tifffile makes that many labels)."""
    from xml.etree import ElementTree

    xml = tif.ome_metadata
    if not xml:
        return None
    if "<!DOCTYPE" in xml or "<!ENTITY" in xml:
        return "it declares a document type or entities"
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return None  # tifffile does not use it either
    try:
        return _ome_claims(tif, root, n_pages)
    except (ValueError, KeyError, TypeError, OverflowError, ZeroDivisionError) as exc:
        return f"unreadable values ({exc})"


def _ome_claims(tif: Any, root: Any, n_pages: int) -> str | None:
    root_uuid = root.attrib.get("UUID")
    name = tif.filename.lower()
    planes_total = 0
    listed = 0
    for element in root.iter():
        tag = element.tag
        if tag[:-1].endswith("Along") and "Start" in element.attrib:
            start, end = float(element.attrib["Start"]), float(element.attrib["End"])
            step = float(element.attrib.get("Step", 1))
            labels = (end + step - start) / step
            if not math.isfinite(labels) or labels > max(n_pages, 1) * 64:
                return f"a modulo annotation of {labels:.3g} steps"
        if not tag.endswith("Pixels"):
            continue
        sizes = {ax: int(element.attrib[f"Size{ax}"]) for ax in "XYZCT"}
        if min(sizes.values()) < 1:
            return f"an image of size {sizes}"
        spp = 1
        for channel in element:
            if channel.tag.endswith("Channel"):
                spp = max(1, int(channel.attrib.get("SamplesPerPixel", 1)))
                break
        planes = sizes["Z"] * sizes["T"] * -(-sizes["C"] // spp)
        tiffdata = [d for d in element if d.tag.endswith("TiffData")]
        if not tiffdata:
            continue
        planes_total += planes
        if planes_total > n_pages:
            return f"it claims {_planes(planes_total)}, the file has {_count(n_pages, 'page')}"
        for data in tiffdata:
            attrib = data.attrib
            ifd = int(attrib.get("IFD", 0))
            num = int(
                attrib.get("PlaneCount", attrib.get("NumPlanes", 1 if "IFD" in attrib else 0))
            )
            if ifd < 0 or num < 0 or ifd + num > n_pages:
                has = _count(n_pages, "page")
                return f"TiffData of {_planes(num)} from page {ifd:,}, the file has {has}"
            listed += num or n_pages
            if listed > n_pages:
                return (
                    f"its TiffData list {_planes(listed)}, the file has {_count(n_pages, 'page')}"
                )
            for ax, size in sizes.items():
                first = int(attrib.get(f"First{ax}", 0))
                if ax not in "XY" and not 0 <= first < size:
                    return f"TiffData at First{ax}={first}, outside Size{ax}={size}"
            for uuid in data:
                if uuid.tag.endswith("UUID"):
                    other = uuid.attrib.get("FileName", "").lower()
                    if uuid.text != root_uuid and other and other != name:
                        return f"its planes are in other files ({uuid.attrib['FileName']})"
        page = tif.pages[int(tiffdata[0].attrib.get("IFD", 0))]
        page = page.keyframe if getattr(page, "keyframe", None) is not None else page
        if (int(page.imagewidth), int(page.imagelength)) != (sizes["X"], sizes["Y"]):
            return (
                f"an image of {sizes['X']} x {sizes['Y']} pixels where the file's page is "
                f"{page.imagewidth} x {page.imagelength}"
            )
    return None
