"""The bytes of a mask journal: records with a length and a checksum, and the payloads of its
header, base mask and deltas (the layout is described in :mod:`.journal`).

Decoding checks every size against the mask before touching memory: a record is untrusted.
"""

from __future__ import annotations

import datetime as _dt
import json
import struct
import zlib
from pathlib import Path

import numpy as np

from qbi_desktop.core.annotation.image_identity import ImageIdentity
from qbi_desktop.core.annotation.mask_delta import StrokeDelta
from qbi_desktop.core.labels import LabelTable

MAGIC = b"QBIMJRN1"
FORMAT_VERSION = 1
_REC = struct.Struct("<II")
_DELTA = struct.Struct("<IIIIIBBI")
_BASE = struct.Struct("<BII")
_DTYPES = {1: np.dtype(np.uint8), 2: np.dtype(np.uint16), 4: np.dtype(np.uint32)}
_CODES = {v: k for k, v in _DTYPES.items()}


def record(payload: bytes) -> bytes:
    return _REC.pack(len(payload), zlib.crc32(payload)) + payload


KIND_CODES = {"stroke": b"D", "undo": b"U", "redo": b"R"}
DELTA_KINDS = (b"D", b"U", b"R")


def encode_delta(delta: StrokeDelta) -> bytes:
    idx = delta.indices
    if idx.dtype not in _CODES:
        idx = idx.astype(np.uint32)
    new = np.ascontiguousarray(delta.new)
    if new.dtype not in _CODES:
        new = new.astype(np.uint16)
    y0, y1, x0, x1 = delta.bbox
    head = _DELTA.pack(y0, y1, x0, x1, idx.size, _CODES[idx.dtype], _CODES[new.dtype], new.size)
    return (
        KIND_CODES.get(getattr(delta, "kind", "stroke"), b"D")
        + head
        + idx.astype(idx.dtype.newbyteorder("<"), copy=False).tobytes()
        + (new.astype(new.dtype.newbyteorder("<"), copy=False).tobytes())
    )


def encode_base(mask: np.ndarray) -> bytes:
    m = np.ascontiguousarray(mask)
    return (
        b"B"
        + _BASE.pack(_CODES[m.dtype], m.shape[0], m.shape[1])
        + zlib.compress(m.astype(m.dtype.newbyteorder("<"), copy=False).tobytes(), 1)
    )


def header_payload(
    image_id: ImageIdentity,
    mask_shape: tuple[int, int],
    labels: LabelTable | None,
    mask_path: Path | None,
    has_base: bool,
    base_unsaved: bool = False,
) -> bytes:
    header = {
        "format": "qbi-desktop mask journal",
        "version": FORMAT_VERSION,
        "image": image_id.to_dict(),
        "mask_shape": list(mask_shape),
        "mask_path": None if mask_path is None else str(mask_path),
        "labels": (labels or LabelTable()).to_dict(),
        "base": "snapshot" if has_base else "empty",
        "base_unsaved": bool(has_base and base_unsaved),
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    return b"H" + json.dumps(header).encode("utf-8")


def iter_records(data: bytes, path: Path):
    """Yield (index, offset, payload) for intact records; then (None, offset, problem) if not."""
    pos = len(MAGIC)
    i = 0
    while pos < len(data):
        if len(data) - pos < _REC.size:
            yield (
                None,
                pos,
                (
                    f"{path}: ends with {len(data) - pos} stray byte(s) of a record that was being "
                    "written (a stroke cut off by the crash); it was not applied"
                ),
            )
            return
        length, crc = _REC.unpack_from(data, pos)
        start = pos + _REC.size
        if start + length > len(data):
            yield (
                None,
                pos,
                (
                    f"{path}: record {i} is cut off "
                    f"({len(data) - start} of {length} bytes present) "
                    "— the stroke being written at the crash was lost; everything before it was "
                    "recovered"
                ),
            )
            return
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            yield (
                None,
                pos,
                (
                    f"{path}: record {i} at byte {pos} failed its checksum (damaged); it and the "
                    f"{len(data) - pos} byte(s) after it were not applied"
                ),
            )
            return
        yield i, pos, payload
        pos = start + length
        i += 1


def decode_base(payload: bytes, shape: tuple[int, int]) -> np.ndarray:
    code, h, w = _BASE.unpack_from(payload, 1)
    if (h, w) != shape:
        raise ValueError(f"base mask is {h}x{w}, expected {shape[0]}x{shape[1]}")
    dtype = _DTYPES[code]
    expected = h * w * dtype.itemsize
    # bounded: a crafted base record must not inflate to gigabytes
    raw = zlib.decompressobj().decompress(payload[1 + _BASE.size :], expected + 1)
    if len(raw) != expected:
        raise ValueError("base mask has the wrong number of bytes")
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(h, w)


def apply_delta_record(payload: bytes, mask: np.ndarray) -> np.ndarray:
    y0, y1, x0, x1, n, icode, vcode, nv = _DELTA.unpack_from(payload, 1)
    h, w = mask.shape
    if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
        raise ValueError(f"stroke box ({y0}, {y1}, {x0}, {x1}) lies outside the {h}x{w} mask")
    idt, vdt = _DTYPES[icode], _DTYPES[vcode]
    if nv not in (1, n):
        raise ValueError("value count does not match the pixel count")
    off = 1 + _DELTA.size
    end_i = off + n * idt.itemsize
    end_v = end_i + nv * vdt.itemsize
    if end_v != len(payload):
        raise ValueError("record length does not match its pixel count")
    idx = np.frombuffer(payload, dtype=idt.newbyteorder("<"), count=n, offset=off).astype(idt)
    new = np.frombuffer(payload, dtype=vdt.newbyteorder("<"), count=nv, offset=end_i).astype(vdt)
    if n and int(idx.max()) >= (y1 - y0) * (x1 - x0):
        raise ValueError("pixel index outside the stroke box")
    if new.size and int(new.max()) > 255 and mask.dtype == np.uint8:
        mask = mask.astype(np.uint16)
    StrokeDelta((y0, y1, x0, x1), idx, new, new).apply(mask)
    return mask
