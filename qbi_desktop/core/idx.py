"""The IDX array format of MNIST (LeCun et al.), gzipped or plain.

Format: two zero bytes, a type code, the number of dimensions, then one big-endian uint32 per
dimension, then the data in C order (big-endian for multi-byte types).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from qbi_desktop.core.errors import UserFacingError

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) into a native-endian numpy array."""
    path = Path(path)
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as stream:
            data = stream.read()
    except (OSError, EOFError) as exc:
        raise UserFacingError(f"{path}: cannot read IDX file ({exc})") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise UserFacingError(f"{path}: not an IDX file (bad magic number)")
    dtype = _IDX_TYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserFacingError(f"{path}: IDX header is truncated")
    shape = tuple(int(n) for n in np.frombuffer(data, ">u4", ndim, 4))
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) - header < count * dtype.itemsize:
        raise UserFacingError(
            f"{path}: IDX data is truncated (header says {shape}, "
            f"{(len(data) - header) // dtype.itemsize} of {count} values present)"
        )
    array = np.frombuffer(data, dtype, count, header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False) if dtype.itemsize > 1 else array


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
