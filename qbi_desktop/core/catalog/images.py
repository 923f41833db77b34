"""Reading item pixels: image files and rows/pages of array containers, plus content hashes.

User files are only ever opened for reading: tifffile and Pillow read, ``np.load`` always runs
with ``allow_pickle=False`` so an NPZ can never execute code.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.errors import ImageReadError, UserFacingError

TIFF_SUFFIXES = {".tif", ".tiff"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm"}


def hash_bytes(data: bytes | memoryview) -> str:
    """The content hash the catalog stores: blake2b, 16-byte digest, hex."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def hash_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def hash_array(array: np.ndarray) -> str:
    """Hash of an item's pixels (dtype and shape included, so 0-filled 28x28 != 0-filled 14x56)."""
    array = np.ascontiguousarray(array)
    digest = hashlib.blake2b(f"{array.dtype.str}{array.shape}".encode(), digest_size=16)
    # the pixels' own buffer, not a copy (a 2 GiB frame would need 4 GiB more)
    digest.update(memoryview(array.reshape(-1)).cast("B"))
    return digest.hexdigest()


def tiff_bytes(array: np.ndarray, compression: str | None = None) -> bytes:
    """An array encoded as a TIFF file in memory (tifffile needs a named file or a buffer)."""
    import io

    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, compression=compression)
    return buffer.getvalue()


def _check_regular(path: Path) -> None:
    """An item's file (a path from the catalog) must be a regular file: a FIFO would block the
    reader for ever, a device never end."""
    from qbi_desktop.core.safefile import not_regular

    reason = not_regular(path)
    if reason is not None:
        raise ImageReadError(path, reason)


def read_image_file(path: str | Path) -> np.ndarray:
    """Read an image file (TIFF through tifffile, everything else through Pillow)."""
    from qbi_desktop.core.imageheader import check_pillow, read_tiff_checked

    path = Path(path)
    _check_regular(path)
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            return np.asarray(read_tiff_checked(path, key=0))
        from PIL import Image

        with Image.open(path) as img:
            check_pillow(path, img)  # the declared size, before decoding
            img.load()
            if img.mode == "I;16B":
                return np.asarray(img).astype(np.uint16)
            array = np.asarray(img)
            if img.mode in ("I", "I;16") and array.size and 0 <= array.min() <= array.max() < 65536:
                array = array.astype(np.uint16)  # 16-bit PNGs come back as int32 'I'
            return array
    except FileNotFoundError as exc:
        raise ImageReadError(path, "file not found") from exc
    except ImageReadError:
        raise
    except Exception as exc:  # any decoder failure is a property of the file
        raise ImageReadError(path, f"cannot read image ({exc})") from exc


def image_size(path: str | Path) -> tuple[int | None, int | None]:
    """(width, height) from the file header, without decoding pixels; (None, None) if unknown.

    A header that declares a size no reader may decode (beyond the limits, data missing from
    the file, a decompression bomb) raises :class:`ImageReadError` saying so: callers size
    masks and thumbnails from this answer, so it must never be a size we cannot allocate.
    """
    from qbi_desktop.core.imageheader import check_pillow, check_tiff_page

    path = Path(path)
    if path.exists():  # a missing file has no size (None, None); a FIFO is refused
        _check_regular(path)
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                check_tiff_page(path, page)
                return int(page.imagewidth), int(page.imagelength)
        from PIL import Image

        with Image.open(path) as img:
            check_pillow(path, img)
            return int(img.size[0]), int(img.size[1])
    except ImageReadError:
        raise
    except Exception:
        return None, None


def load_container(path: Path, kind: str, key: str) -> np.ndarray | object:
    """The whole array of a container (IDX, NPZ member) or a TIFF page reader."""
    if kind == "idx":
        from qbi_desktop.core.idx import read_idx

        return read_idx(path)
    if kind == "npz":
        return load_npz_array(path, key)
    if kind == "tiff":
        return _TiffPages(path)
    if kind == "nexus":
        return _NexusFrames(path, key)
    raise UserFacingError(f"{path}: unknown container kind {kind!r}")


def load_npz_array(path: Path, key: str) -> np.ndarray:
    _check_regular(Path(path))  # np.load would wait on a FIFO for ever
    try:
        with np.load(path, allow_pickle=False) as npz:
            if key not in npz.files:
                raise UserFacingError(f"{path}: has no array named {key!r} (has {npz.files})")
            return read_npz_member(npz, path, key)
    except UserFacingError:
        raise
    except ValueError as exc:  # object arrays would need pickle: refused
        raise UserFacingError(f"{path}: array {key!r} cannot be read safely ({exc})") from exc
    except Exception as exc:
        raise UserFacingError(f"{path}: cannot read NPZ ({exc})") from exc


def read_npz_member(npz: Any, path: str | Path, key: str) -> np.ndarray:
    """``npz[key]`` of an open ``np.load`` result, after checking what the member declares
    (size limit, stored size, codec); damaged compressed data is a message, not a traceback."""
    import zipfile
    import zlib

    _check_npz_member(Path(path), npz.zip, key)
    try:
        return npz[key]
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise UserFacingError(f"{path} [{key}]: the compressed data is damaged ({exc})") from exc


def _check_npz_member(path: Path, archive: Any, key: str) -> None:
    """The member's declared shape against the size limit, its stored size and its codec."""
    import zipfile

    from qbi_desktop.core import limits
    from qbi_desktop.core.archives import Limits
    from qbi_desktop.core.errors import human_size

    info = archive.getinfo(key + ".npy")
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        reader = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = reader(member)
        header = member.tell()
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize if shape else dtype.itemsize
    where = f"{path} [{key}]"
    text = " x ".join(str(n) for n in shape)
    limit = limits.current().decoded_bytes
    if nbytes > limit:
        raise UserFacingError(
            f"{where}: declares {text} values of {dtype} ({human_size(nbytes)}), more than the "
            f"limit of {human_size(limit)} ({limits.how_to_raise('decoded_bytes')})"
        )
    if header + nbytes > info.file_size:
        raise UserFacingError(
            f"{where}: the array is truncated (declares {text}: {human_size(nbytes)}, the file "
            f"holds {human_size(max(0, info.file_size - header))})"
        )
    bomb = Limits()  # the archives' rule: beyond 256 MB, more than 250x is a bomb
    ratio = info.file_size / max(1, info.compress_size)
    if info.file_size > bomb.ratio_floor and ratio > bomb.max_ratio:
        raise UserFacingError(
            f"{where}: declares {text} values of {dtype} ({human_size(nbytes)}) from "
            f"{human_size(info.compress_size)} of compressed data, {ratio:.0f}x (a compression "
            f"bomb? archives are refused beyond {bomb.max_ratio:.0f}x too)"
        )
    if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > 1100 * max(
        1, info.compress_size
    ):
        raise UserFacingError(
            f"{where}: declares {human_size(info.file_size)} from {human_size(info.compress_size)}"
            " of compressed data, more than deflate can expand (a damaged or crafted file)"
        )


class _TiffPages:
    """Pages of a multi-page TIFF, read one at a time (never the whole stack)."""

    def __init__(self, path: Path):
        self.path = path

    def __getitem__(self, index: int) -> np.ndarray:
        from qbi_desktop.core.imageheader import read_tiff_checked

        try:
            return np.asarray(read_tiff_checked(self.path, key=int(index)))
        except ImageReadError:
            raise
        except Exception as exc:
            raise ImageReadError(self.path, f"cannot read page {index} ({exc})") from exc


class _NexusFrames:
    """Frames of an HDF5/NeXus dataset (``key``: its path in the file), read one at a time.

    The file is opened for each frame and closed again: a cached container holds no file
    handle, and a file replaced meanwhile is read as it is now (its hash tells the change)."""

    def __init__(self, path: Path, key: str):
        self.path = path
        self.key = key

    def __getitem__(self, index: int) -> np.ndarray:
        from qbi_desktop.core.radiography.nexus import open_nexus

        source = open_nexus(self.path, self.key)  # ImageReadError names the file and dataset
        try:
            if not 0 <= int(index) < source.n_slices:
                raise ImageReadError(
                    self.path,
                    f"{self.key}: has {source.n_slices} frames, frame {index} is not one of them "
                    "(the file changed since it was imported)",
                )
            return np.asarray(source.plane(int(index)).array)
        finally:
            source.close()


class ContainerCache:
    """A small LRU of decoded containers, so reading item after item of MNIST decodes once."""

    def __init__(self, capacity: int = 4):
        self.capacity = capacity
        self._data: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, kind: str, key: str) -> object:
        cache_key = (str(path), kind, key)
        with self._lock:
            if cache_key in self._data:
                self._data.move_to_end(cache_key)
                return self._data[cache_key]
        if not path.exists():
            raise ImageReadError(path, "container file not found")
        value = load_container(path, kind, key)
        with self._lock:
            self._data[cache_key] = value
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)
        return value
