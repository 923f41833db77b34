"""Hostile images: TIFF edge cases and bombs, broken PNG/JPEG, FIFOs, a mask bomb."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np

from tests.hostile.blobs import (
    _raw_deflate,
    good_image,
    gray8,
    png_bytes,
    strip_tiff,
    tiff_bytes,
    write_png,
    write_tiff,
)
from tests.hostile.registry import (
    IMAGE_ENTRIES,
    case,
)

# ---------------------------------------------------------------------------------------------
# images: viewer, window, import (imagefolder), thumbnails, detect-spots, augment


def image_case(name, cls, expect="refuse", entries=IMAGE_ENTRIES, suffix=".tif", **kw):
    return case(
        name,
        cls,
        "image",
        entries,
        expect=expect,
        source=f"images/class_a/{name}{suffix}",
        import_kind="imagefolder",
        **kw,
    )


def _put(d: Path, name: str, data: bytes) -> None:
    p = d / "images/class_a" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


@image_case("tiff-good", 0, expect="accept")
def _(d, c):
    write_tiff(d / "images/class_a/tiff-good.tif", good_image())


@image_case("png-good", 0, expect="accept", suffix=".png")
def _(d, c):
    write_png(d / "images/class_a/png-good.png", gray8())


@image_case("tiff-truncated", 11)
def _(d, c):
    buf = io.BytesIO()
    import tifffile

    tifffile.imwrite(buf, good_image(1, (256, 256)))
    _put(d, "tiff-truncated.tif", buf.getvalue()[: 256 * 256])


@image_case("tiff-header-only", 11)
def _(d, c):
    _put(d, "tiff-header-only.tif", strip_tiff(64, 64)[:10])


@image_case("tiff-zero-width", 6)
def _(d, c):
    _put(d, "tiff-zero-width.tif", strip_tiff(0, 64, data=b"\0" * 16))


@image_case("tiff-zero-height", 6)
def _(d, c):
    _put(d, "tiff-zero-height.tif", strip_tiff(64, 0, data=b"\0" * 16))


@image_case("tiff-huge-dims", 6, note="claims 100000x100000 uint16 (20 GB) with 16 bytes of data")
def _(d, c):
    _put(d, "tiff-huge-dims.tif", strip_tiff(100000, 100000, data=b"\0" * 16))


@image_case("tiff-tile-zero", 6)
def _(d, c):
    data = bytes(512)
    _put(
        d,
        "tiff-tile-zero.tif",
        tiff_bytes(
            [
                (256, 4, [64]),
                (257, 4, [64]),
                (258, 3, [16]),
                (259, 3, [1]),
                (262, 3, [1]),
                (277, 3, [1]),
                (322, 4, [0]),
                (323, 4, [0]),
                (324, 4, [8]),
                (325, 4, [512]),
            ],
            data,
        ),
    )


@image_case(
    "tiff-tile-bomb",
    3,
    note="40000x40000 uint16 deflate tiles (3.2 GB decoded), all tiles share one 150-byte blob",
)
def _(d, c):
    tile = zlib.compress(bytes(256 * 256 * 2), 9)
    n = -((-40000 // 256) ** 2)
    n = (-(-40000 // 256)) ** 2
    _put(
        d,
        "tiff-tile-bomb.tif",
        tiff_bytes(
            [
                (256, 4, [40000]),
                (257, 4, [40000]),
                (258, 3, [16]),
                (259, 3, [8]),
                (262, 3, [1]),
                (277, 3, [1]),
                (322, 4, [256]),
                (323, 4, [256]),
                (324, 4, [8] * n),
                (325, 4, [len(tile)] * n),
            ],
            tile,
        ),
    )


@image_case(
    "tiff-strip-bomb",
    3,
    note="48000x48000 uint8 (2.3 GB) in one deflate strip that holds 256 MB of zeros",
)
def _(d, c):
    n = 256 << 20
    strip = b"\x78\xda" + _raw_deflate(b"", n) + struct.pack(">I", ((n % 65521) << 16) | 1)
    _put(d, "tiff-strip-bomb.tif", strip_tiff(48000, 48000, bps=8, data=strip, compression=8))


@image_case(
    "tiff-ifd-loop",
    8,
    expect="either",
    note="the IFD names itself as the next IFD: an endless page chain",
)
def _(d, c):
    _put(d, "tiff-ifd-loop.tif", strip_tiff(32, 32, loop=True))


@image_case("tiff-ifd-beyond-eof", 11)
def _(d, c):
    _put(d, "tiff-ifd-beyond-eof.tif", b"II*\0" + struct.pack("<I", 10_000_000) + bytes(64))


@image_case("tiff-strip-beyond-eof", 11)
def _(d, c):
    data = tiff_bytes(
        [
            (256, 4, [64]),
            (257, 4, [64]),
            (258, 3, [16]),
            (259, 3, [1]),
            (262, 3, [1]),
            (273, 4, [50_000_000]),
            (277, 3, [1]),
            (278, 4, [64]),
            (279, 4, [8192]),
        ]
    )
    _put(d, "tiff-strip-beyond-eof.tif", data)


@image_case("tiff-garbage-deflate", 11)
def _(d, c):
    _put(
        d, "tiff-garbage-deflate.tif", strip_tiff(64, 64, data=bytes(range(256)) * 8, compression=8)
    )


@image_case("tiff-bad-bitdepth", 6, expect="either")
def _(d, c):
    _put(d, "tiff-bad-bitdepth.tif", strip_tiff(16, 16, bps=13, data=bytes(16 * 16 * 2)))


@image_case(
    "tiff-constant-uint64",
    6,
    expect="accept",
    expect_by_entry={"cli-detect-spots": "either", "cli-augment": "either"},
)
def _(d, c):
    write_tiff(d / "images/class_a/tiff-constant-uint64.tif", np.full((64, 64), 7, np.uint64))


@image_case(
    "tiff-1xN", 6, expect="either", expect_by_entry={"viewer": "accept", "window": "accept"}
)
def _(d, c):
    write_tiff(d / "images/class_a/tiff-1xN.tif", good_image(2, (1, 500)))


@image_case(
    "tiff-Nx1", 6, expect="either", expect_by_entry={"viewer": "accept", "window": "accept"}
)
def _(d, c):
    write_tiff(d / "images/class_a/tiff-Nx1.tif", good_image(3, (500, 1)))


@image_case("tiff-float-nan", 6, expect="accept", expect_by_entry={"cli-detect-spots": "either"})
def _(d, c):
    a = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    a[::7, ::5] = np.nan
    a[3, 3] = np.inf
    write_tiff(d / "images/class_a/tiff-float-nan.tif", a)


@image_case("tiff-float-all-nan", 6, expect="either", expect_by_entry={"viewer": "accept"})
def _(d, c):
    write_tiff(d / "images/class_a/tiff-float-all-nan.tif", np.full((32, 32), np.nan, np.float32))


@image_case(
    "tiff-2-channel",
    6,
    expect="accept",
    check={"shape": [48, 64]},
    expect_by_entry={"cli-detect-spots": "either"},
)
def _(d, c):
    write_tiff(
        d / "images/class_a/tiff-2-channel.tif",
        np.stack([good_image(4, (48, 64))] * 2, axis=-1),
        photometric="minisblack",
        planarconfig="contig",
    )


@image_case(
    "tiff-5-channel",
    6,
    expect="accept",
    check={"shape": [48, 64]},
    expect_by_entry={"cli-detect-spots": "either"},
)
def _(d, c):
    write_tiff(
        d / "images/class_a/tiff-5-channel.tif",
        np.stack([good_image(5, (48, 64))] * 5, axis=-1),
        photometric="minisblack",
        planarconfig="contig",
    )


@image_case("png-truncated", 11, suffix=".png")
def _(d, c):
    data = io.BytesIO()
    from PIL import Image

    Image.fromarray(gray8(6, (128, 128))).save(data, format="PNG")
    _put(d, "png-truncated.png", data.getvalue()[: len(data.getvalue()) // 2])


@image_case("png-garbage", 11, suffix=".png")
def _(d, c):
    _put(d, "png-garbage.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)


@image_case("png-bomb", 3, suffix=".png", note="30000x30000 grey PNG (900 MB) in a 900 KB file")
def _(d, c):
    _put(d, "png-bomb.png", png_bytes(30000, 30000, zeros=True))


@image_case("png-claims-huge", 3, suffix=".png", note="IHDR says 2^31-1 squared; IDAT tiny")
def _(d, c):
    _put(d, "png-claims-huge.png", png_bytes(2**31 - 1, 2**31 - 1, raw=b"\0" * 64))


@image_case("jpeg-truncated", 11, suffix=".jpg")
def _(d, c):
    from PIL import Image

    data = io.BytesIO()
    Image.fromarray(gray8(7, (128, 128))).save(data, format="JPEG")
    _put(d, "jpeg-truncated.jpg", data.getvalue()[:300])


@image_case("jpeg-garbage", 11, suffix=".jpg")
def _(d, c):
    _put(d, "jpeg-garbage.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 2)


@image_case("image-empty", 12, suffix=".png")
def _(d, c):
    _put(d, "image-empty.png", b"")


@image_case("image-text-as-tiff", 12)
def _(d, c):
    _put(d, "image-text-as-tiff.tif", b"this is not an image\n" * 10)


@image_case(
    "image-fifo",
    8,
    entries=("viewer", "window", "cli-import", "cli-detect-spots"),
    fifo=True,
    names=("image-fifo.tif", "images"),
)
def _(d, c):
    (d / "images/class_a").mkdir(parents=True, exist_ok=True)  # the FIFO is made at run time


@case(
    "mask-bomb-beside-image",
    3,
    "image",
    ("window",),
    expect="accept",
    source="images/radiograph.tif",
    names=("radiograph.mask.tif",),
    check={"warn_names": ["radiograph.mask.tif"]},
    note="a 40000x40000 deflate-tile mask bomb beside a good image: the window must open the "
    "image and refuse the mask with a message",
)
def _(d, c):
    write_tiff(d / "images/radiograph.tif", good_image(8, (64, 64)))
    tile = zlib.compress(bytes(256 * 256), 9)
    n = (-(-40000 // 256)) ** 2
    (d / "images/radiograph.mask.tif").write_bytes(
        tiff_bytes(
            [
                (256, 4, [40000]),
                (257, 4, [40000]),
                (258, 3, [8]),
                (259, 3, [8]),
                (262, 3, [1]),
                (277, 3, [1]),
                (322, 4, [256]),
                (323, 4, [256]),
                (324, 4, [8] * n),
                (325, 4, [len(tile)] * n),
            ],
            tile,
        )
    )
