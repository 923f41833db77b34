"""The IDX array format of MNIST (LeCun et al.), gzipped or plain.

Format: two zero bytes, a type code, the number of dimensions, then one big-endian uint32 per
dimension, then the data in C order (big-endian for multi-byte types).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from qbi_desktop.core import limits
from qbi_desktop.core.errors import UserFacingError, human_size

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) into a native-endian numpy array.

    The header's shape is checked against the size limits (and, uncompressed, the file length)
    before anything is allocated, and exactly that many bytes are read: a ``.gz`` whose stream
    expands far beyond what its header declares costs no more than the declared size.
    """
    path = Path(path)
    try:
        if not path.is_file():
            raise UserFacingError(f"{path}: not a regular file")
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as stream:
            magic = stream.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES:
                raise UserFacingError(f"{path}: not an IDX file (bad magic number)")
            dtype = _IDX_TYPES[magic[2]]
            ndim = magic[3]
            dims = stream.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise UserFacingError(f"{path}: IDX header is truncated")
            shape = tuple(int(n) for n in np.frombuffer(dims, ">u4", ndim))
            count = int(np.prod(shape, dtype=object)) if shape else 1
            nbytes = count * dtype.itemsize
            _check_declared(path, shape, dtype, nbytes, None if gzipped else 4 + 4 * ndim)
            data = stream.read(nbytes)
            if len(data) == nbytes:
                _check_nothing_after(path, stream, shape, gzipped)
    except (OSError, EOFError, zlib.error) as exc:
        raise UserFacingError(f"{path}: cannot read IDX file ({exc})") from exc
    if len(data) < nbytes:
        raise UserFacingError(
            f"{path}: IDX data is truncated (header says {shape}, "
            f"{len(data) // dtype.itemsize} of {count} values present)"
        )
    array = np.frombuffer(data, dtype, count).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False) if dtype.itemsize > 1 else array


def _check_nothing_after(path: Path, stream, shape: tuple[int, ...], gzipped: bool) -> None:
    """Refuse data after the array the header declares (junk appended, a second gzip member,
    more labels than the header counts): ignored, it would hide a wrong header or a file
    written over another. Reads at most 64 KiB more (and, gzipped, the member's end, so its
    CRC is checked too)."""
    text = " x ".join(str(n) for n in shape)
    try:
        extra = stream.read(1 << 16)
    except (OSError, EOFError, zlib.error) as exc:
        raise UserFacingError(
            f"{path}: after the {text} values the IDX header declares, the file "
            f"{'has a damaged or cut-off gzip stream' if gzipped else 'cannot be read'} ({exc})"
        ) from None
    if extra:
        size = f"{len(extra)} byte(s)" if len(extra) < 1 << 16 else "more than 64 KiB"
        raise UserFacingError(
            f"{path}: {size} of data after the {text} values the IDX header declares "
            f"({'decompressed, e.g. a second gzip member' if gzipped else 'appended'}); the "
            "header or the file is wrong, so it is not imported"
        )


def _check_declared(
    path: Path, shape: tuple[int, ...], dtype: np.dtype, nbytes: int, header: int | None
) -> None:
    limit = limits.current().decoded_bytes
    text = " x ".join(str(n) for n in shape)
    if nbytes > limit:
        raise UserFacingError(
            f"{path}: the IDX header declares {text} values of {dtype.name} "
            f"({human_size(nbytes)}), more than the limit of {human_size(limit)} "
            f"({limits.how_to_raise('decoded_bytes')})"
        )
    if header is not None:
        size = path.stat().st_size
        if header + nbytes > size:
            raise UserFacingError(
                f"{path}: IDX data is truncated (header says {text}: {human_size(nbytes)} "
                f"of data, the file holds {human_size(max(0, size - header))})"
            )


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write an array as IDX (gzipped when the name ends in .gz); atomic."""
    from qbi_desktop.core.atomic import atomic_write_bytes

    code = {v.newbyteorder("=") if v.itemsize > 1 else v: k for k, v in _IDX_TYPES.items()}
    native = np.dtype(array.dtype).newbyteorder("=")
    if native not in code:
        raise UserFacingError(f"{path}: IDX cannot store dtype {array.dtype}")
    big = array.astype(_IDX_TYPES[code[native]], copy=False)
    payload = (
        bytes([0, 0, code[native], array.ndim])
        + np.asarray(array.shape, ">u4").tobytes()
        + np.ascontiguousarray(big).tobytes()
    )
    if str(path).endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=6)
    atomic_write_bytes(path, payload)
