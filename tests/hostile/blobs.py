"""Byte-level builders for the hostile corpus: TIFFs by hand, zero bombs, PNG, XLSX, JSON."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------------------------
# byte-level helpers


def tiff_bytes(
    entries: list[tuple[int, int, list[int]]], data: bytes = b"", loop: bool = False
) -> bytes:
    """A classic little-endian TIFF: ``data`` at offset 8, then one IFD of ``entries``
    ``(tag, type 3=SHORT/4=LONG, values)``; ``loop`` makes the IFD its own successor."""
    pad = b"\0" if len(data) % 2 else b""
    ifd = 8 + len(data) + len(pad)
    entries = sorted(entries)
    extra_at = ifd + 2 + 12 * len(entries) + 4
    extra = b""
    body = b""
    for tag, typ, values in entries:
        raw = struct.pack(f"<{len(values)}{'H' if typ == 3 else 'I'}", *values)
        if len(raw) <= 4:
            fieldv = raw.ljust(4, b"\0")
        else:
            fieldv = struct.pack("<I", extra_at + len(extra))
            extra += raw
        body += struct.pack("<HHI", tag, typ, len(values)) + fieldv
    nxt = ifd if loop else 0
    return (
        b"II*\0"
        + struct.pack("<I", ifd)
        + data
        + pad
        + struct.pack("<H", len(entries))
        + body
        + struct.pack("<I", nxt)
        + extra
    )


def strip_tiff(
    width, height, bps=16, data=None, compression=1, spp=1, fmt=1, loop=False, counts=None
):
    data = bytes(width * height * bps // 8 * spp) if data is None else data
    return tiff_bytes(
        [
            (256, 4, [width]),
            (257, 4, [height]),
            (258, 3, [bps] * spp),
            (259, 3, [compression]),
            (262, 3, [1]),
            (273, 4, [8]),
            (277, 3, [spp]),
            (278, 4, [max(height, 1)]),
            (279, 4, [len(data) if counts is None else counts]),
            (339, 3, [fmt] * spp),
        ],
        data,
        loop,
    )


def _zero_pieces(n: int, chunk: int = 1 << 20) -> list[bytes]:
    """Raw deflate of ``n`` zero bytes as independent, fully flushed segments (fast: the
    segment of one chunk is computed once and repeated)."""

    def seg(size: int) -> bytes:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(bytes(size)) + c.flush(zlib.Z_FULL_FLUSH)

    full, rest = divmod(n, chunk)
    pieces = [seg(chunk)] * full
    if rest:
        pieces.append(seg(rest))
    return pieces


def _raw_deflate(prefix: bytes, zeros: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    return head + b"".join(_zero_pieces(zeros)) + b"\x03\x00"  # empty final block


def gzip_bomb(prefix: bytes, zeros: int) -> bytes:
    """A gzip stream of ``prefix`` followed by ``zeros`` zero bytes (CRC left 0: a reader must
    give up long before it gets to check it)."""
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03"
    size = (len(prefix) + zeros) & 0xFFFFFFFF
    return header + _raw_deflate(prefix, zeros) + struct.pack("<II", 0, size)


def png_bytes(width: int, height: int, raw: bytes | None = None, zeros: bool = False) -> bytes:
    """An 8-bit grey PNG; ``zeros`` makes its IDAT a bomb of ``height*(width+1)`` zero bytes."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload))
        )

    if zeros:
        n = height * (width + 1)
        adler = ((n % 65521) << 16) | 1  # adler32 of n zero bytes
        idat = b"\x78\xda" + _raw_deflate(b"", n) + struct.pack(">I", adler)
    else:
        idat = zlib.compress(raw)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def good_image(seed: int = 0, shape=(32, 32)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(900, 1100, size=shape).astype(np.uint16)
    img[8:12, 8:12] = 30000  # a bright spot, so detectors find something
    return img


def write_tiff(path: Path, array: np.ndarray, **kw: Any) -> None:
    import tifffile

    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, array, **kw)


def write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def gray8(seed: int = 0, shape=(32, 32)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, size=shape).astype(np.uint8)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def nested(depth: int, leaf: str = "0") -> str:
    return "[" * depth + leaf + "]" * depth


def dict_nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _xlsx(sheet_xml: str) -> bytes:
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
            '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
            '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
            'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target='
            '"xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.'
            'org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/>'
            "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
            'schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target='
            '"worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": sheet_xml,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), text)
    return buf.getvalue()
