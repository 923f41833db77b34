"""Reading item pixels: image files and rows/pages of array containers, plus content hashes.

User files are only ever opened for reading: tifffile and Pillow read, ``np.load`` always runs
with ``allow_pickle=False`` so an NPZ can never execute code.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

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
    head = f"{array.dtype.str}{array.shape}".encode()
    return hash_bytes(head + array.tobytes())


def tiff_bytes(array: np.ndarray, compression: str | None = None) -> bytes:
    """An array encoded as a TIFF file in memory (tifffile needs a named file or a buffer)."""
    import io

    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, compression=compression)
    return buffer.getvalue()


def read_image_file(path: str | Path) -> np.ndarray:
    """Read an image file (TIFF through tifffile, everything else through Pillow)."""
    path = Path(path)
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            return np.asarray(tifffile.imread(path, key=0))
        from PIL import Image

        with Image.open(path) as img:
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
    """(width, height) from the file header, without decoding pixels; (None, None) if unknown."""
    path = Path(path)
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            with tifffile.TiffFile(path) as tif:
                shape = tif.pages[0].shape
                return int(shape[1]), int(shape[0])
        from PIL import Image

        with Image.open(path) as img:
            return int(img.size[0]), int(img.size[1])
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
    raise UserFacingError(f"{path}: unknown container kind {kind!r}")


def load_npz_array(path: Path, key: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as npz:
            if key not in npz.files:
                raise UserFacingError(f"{path}: has no array named {key!r} (has {npz.files})")
            return npz[key]
    except UserFacingError:
        raise
    except ValueError as exc:  # object arrays would need pickle: refused
        raise UserFacingError(f"{path}: array {key!r} cannot be read safely ({exc})") from exc
    except Exception as exc:
        raise UserFacingError(f"{path}: cannot read NPZ ({exc})") from exc


class _TiffPages:
    """Pages of a multi-page TIFF, read one at a time (never the whole stack)."""

    def __init__(self, path: Path):
        self.path = path

    def __getitem__(self, index: int) -> np.ndarray:
        import tifffile

        try:
            return np.asarray(tifffile.imread(self.path, key=int(index)))
        except Exception as exc:
            raise ImageReadError(self.path, f"cannot read page {index} ({exc})") from exc


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
