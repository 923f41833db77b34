"""Hand-made TIFF files for hostile-input tests: a few bytes that declare whatever we want.

``raw_tiff`` writes a little-endian classic TIFF with exactly the tags given; the helpers build
the cases real users' files and crafted ones present: a header that claims a huge image, a
tiled "bomb" whose tiles all point at one small compressed tile, zero or tile-0 sizes.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SHORT, LONG = 3, 4

# tag numbers
WIDTH, LENGTH, BITS, COMPRESSION, PHOTOMETRIC = 256, 257, 258, 259, 262
STRIP_OFFSETS, SAMPLES, ROWS_PER_STRIP, STRIP_BYTES = 273, 277, 278, 279
TILE_WIDTH, TILE_LENGTH, TILE_OFFSETS, TILE_BYTES = 322, 323, 324, 325
SAMPLE_FORMAT = 339


def raw_tiff(path: Path, tags: dict[int, tuple[int, list[int]]], data: bytes = b"") -> Path:
    """A TIFF with one IFD holding ``tags`` ({tag: (type, values)}) and ``data`` after it.

    Offsets in the values are relative to the start of ``data`` when given as negative numbers
    (-1 - offset), so callers need not know where the data lands.
    """
    entries = sorted(tags.items())
    ifd_offset = 8
    ifd_size = 2 + 12 * len(entries) + 4
    extra_start = ifd_offset + ifd_size
    extra = b""
    packed_entries = []
    # values too big for the entry go after the IFD; the data follows them
    values_size = sum(
        (4 if t == LONG else 2) * len(v)
        for _, (t, v) in entries
        if (4 if t == LONG else 2) * len(v) > 4
    )
    data_start = extra_start + values_size

    def fix(v: int) -> int:
        return data_start + (-1 - v) if v < 0 else v

    for tag, (typ, values) in entries:
        values = [fix(v) for v in values]
        fmt = f"<{len(values)}{'I' if typ == LONG else 'H'}"
        payload = struct.pack(fmt, *values)
        if len(payload) <= 4:
            packed_entries.append(
                struct.pack("<HHI", tag, typ, len(values)) + payload.ljust(4, b"\0")
            )
        else:
            offset = extra_start + len(extra)
            extra += payload
            packed_entries.append(struct.pack("<HHII", tag, typ, len(values), offset))
    ifd = struct.pack("<H", len(entries)) + b"".join(packed_entries) + struct.pack("<I", 0)
    path.write_bytes(b"II*\x00" + struct.pack("<I", ifd_offset) + ifd + extra + data)
    return path


def header_claiming(path: Path, height: int, width: int, bits: int = 8) -> Path:
    """A ~200-byte TIFF: a header that declares ``height`` x ``width`` and one tiny strip."""
    return raw_tiff(
        path,
        {
            WIDTH: (LONG, [width]),
            LENGTH: (LONG, [height]),
            BITS: (SHORT, [bits]),
            COMPRESSION: (SHORT, [1]),
            PHOTOMETRIC: (SHORT, [1]),
            STRIP_OFFSETS: (LONG, [-1]),
            SAMPLES: (SHORT, [1]),
            ROWS_PER_STRIP: (LONG, [height]),
            STRIP_BYTES: (LONG, [16]),
        },
        bytes(16),
    )


def tile_bomb(path: Path, height: int, width: int, tile: int = 1024, bits: int = 16) -> Path:
    """A deflate-tiled TIFF whose tiles all point at one compressed zero tile (a few KB that
    decode to ``height * width * bits / 8`` bytes)."""
    one = zlib.compress(bytes(tile * tile * bits // 8), 9)
    n = -(-height // tile) * -(-width // tile)
    return raw_tiff(
        path,
        {
            WIDTH: (LONG, [width]),
            LENGTH: (LONG, [height]),
            BITS: (SHORT, [bits]),
            COMPRESSION: (SHORT, [8]),
            PHOTOMETRIC: (SHORT, [1]),
            SAMPLES: (SHORT, [1]),
            TILE_WIDTH: (LONG, [tile]),
            TILE_LENGTH: (LONG, [tile]),
            TILE_OFFSETS: (LONG, [-1] * n),
            TILE_BYTES: (LONG, [len(one)] * n),
        },
        one,
    )


def zero_sized(path: Path, height: int, width: int, tile: int | None = None) -> Path:
    """A TIFF declaring a zero dimension, or tiles of size ``tile`` (0 for the tile-0 case)."""
    tags = {
        WIDTH: (LONG, [width]),
        LENGTH: (LONG, [height]),
        BITS: (SHORT, [8]),
        COMPRESSION: (SHORT, [1]),
        PHOTOMETRIC: (SHORT, [1]),
        SAMPLES: (SHORT, [1]),
    }
    if tile is None:
        tags |= {STRIP_OFFSETS: (LONG, [-1]), ROWS_PER_STRIP: (LONG, [max(height, 1)])}
        tags[STRIP_BYTES] = (LONG, [max(height * width, 1)])
        data = bytes(max(height * width, 1))
    else:
        tags |= {
            TILE_WIDTH: (LONG, [tile]),
            TILE_LENGTH: (LONG, [tile]),
            TILE_OFFSETS: (LONG, [-1]),
            TILE_BYTES: (LONG, [64]),
        }
        data = bytes(64)
    return raw_tiff(path, tags, data)
