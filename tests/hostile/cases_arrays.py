"""Hostile MNIST IDX (+ .gz) and NPZ files."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests.hostile.blobs import (
    _raw_deflate,
    good_image,
    gzip_bomb,
)
from tests.hostile.registry import (
    case,
)

# ---------------------------------------------------------------------------------------------
# MNIST IDX (+ .gz)


def idx_bytes(dims: list[int], data: bytes | None = None, code: int = 0x08) -> bytes:
    head = struct.pack(">BBBB", 0, 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    n = int(np.prod(dims, dtype=np.int64))
    return head + (bytes(n) if data is None else data)


def mnist_case(
    name,
    cls,
    images: bytes | Callable[[], bytes],
    labels: bytes | None = None,
    *,
    gz=False,
    expect="refuse",
    entries=("import", "cli-import", "cli-baseline"),
    **kw,
):
    suffix = ".gz" if gz else ""

    @case(
        name,
        cls,
        "mnist",
        entries,
        expect=expect,
        source="mnist",
        import_kind="mnist",
        names=(f"train-images-idx3-ubyte{suffix}", "train-labels-idx1-ubyte" + suffix, "mnist"),
        **kw,
    )
    def build(d: Path, corpus: Path) -> None:
        folder = d / "mnist"
        folder.mkdir(parents=True)
        img = images() if callable(images) else images
        lab = labels if labels is not None else idx_bytes([4], bytes([1, 2, 3, 4]))
        # a good test set beside it (baselines want both); the training files are the case
        (folder / "t10k-images-idx3-ubyte").write_bytes(_GOOD_IDX)
        (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes([4], bytes([1, 2, 3, 4])))
        if gz:
            (folder / "train-images-idx3-ubyte.gz").write_bytes(
                img if img[:2] == b"\x1f\x8b" else gzip.compress(img, mtime=0)
            )
            (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(lab, mtime=0))
        else:
            (folder / "train-images-idx3-ubyte").write_bytes(img)
            (folder / "train-labels-idx1-ubyte").write_bytes(lab)

    return build


_GOOD_IDX = idx_bytes([4, 8, 8], bytes(np.arange(256, dtype=np.uint8)))
mnist_case("mnist-good", 0, _GOOD_IDX, expect="accept")
mnist_case("mnist-good-gz", 0, _GOOD_IDX, gz=True, expect="accept")
mnist_case("mnist-truncated", 11, _GOOD_IDX[:100])
mnist_case("mnist-truncated-gz", 11, lambda: gzip.compress(_GOOD_IDX, mtime=0)[:60], gz=True)
mnist_case(
    "mnist-gz-bomb",
    3,
    lambda: gzip_bomb(struct.pack(">BBBBIII", 0, 0, 8, 3, 1_000_000, 64, 64), 256 << 20),
    gz=True,
    labels=idx_bytes([1_000_000]),
    note="header claims 1e6 x 64 x 64 (4 GB); the .gz expands to 256 MB",
)
mnist_case(
    "mnist-claims-huge", 3, struct.pack(">BBBBIII", 0, 0, 8, 3, 2**31, 2**16, 2**16) + bytes(64)
)
mnist_case("mnist-zero-height", 12, idx_bytes([4, 0, 28]))
mnist_case("mnist-bad-magic", 12, b"\x01\x02\x08\x03" + _GOOD_IDX[4:])
mnist_case("mnist-bad-dtype", 12, idx_bytes([4, 8, 8], code=0x42))
mnist_case("mnist-label-count-mismatch", 12, _GOOD_IDX, labels=idx_bytes([3], bytes([1, 2, 3])))
mnist_case("mnist-not-gzip", 12, b"\x1f\x8b" + bytes(100), gz=True)


# ---------------------------------------------------------------------------------------------
# NPZ


def npz_case(
    name,
    cls,
    write: Callable[[Path], None],
    *,
    expect="refuse",
    entries=("import", "cli-import", "cli-baseline", "cli-augment"),
    **kw,
):
    @case(name, cls, "npz", entries, expect=expect, source="data.npz", import_kind="npz", **kw)
    def build(d: Path, corpus: Path) -> None:
        write(d / "data.npz")

    return build


def _npz(**arrays: Any) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        path.write_bytes(buf.getvalue())

    return write


_X = np.stack([good_image(i, (16, 16)) for i in range(6)])
_Y = np.array([0, 1, 0, 1, 0, 1])
npz_case("npz-good", 0, _npz(x=_X, y=_Y), expect="accept")
npz_case("npz-empty", 12, _npz())
npz_case("npz-only-class-names", 12, _npz(class_names=np.array(["a", "b"])))
npz_case(
    "npz-zero-items",
    12,
    _npz(x=np.zeros((0, 16, 16), np.uint8), y=np.zeros(0, int)),
    expect="either",
)
npz_case("npz-1d-images", 6, _npz(x=np.arange(10), y=np.arange(10)))
npz_case("npz-label-mismatch", 12, _npz(x=_X, y=_Y[:3]), expect_by_entry={"cli-augment": "either"})
npz_case(
    "npz-nan-images",
    6,
    _npz(x=np.full((4, 8, 8), np.nan, np.float32), y=np.arange(4)),
    expect="either",
)


def _npz_object(path: Path) -> None:
    buf = io.BytesIO()
    np.savez(buf, x=np.array([{"a": 1}, None], dtype=object), y=np.arange(2))
    path.write_bytes(buf.getvalue())


npz_case("npz-pickled-object", 11, _npz_object, note="an object array: loading it would unpickle")


def _npz_claims_huge(path: Path) -> None:
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (200000, 1000, 1000), }"
    header = header + " " * (118 - len(header)) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(1024)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("x.npy", (2020, 1, 1, 0, 0, 0)), npy)
        buf = io.BytesIO()
        np.save(buf, np.arange(200000))
        z.writestr(zipfile.ZipInfo("y.npy", (2020, 1, 1, 0, 0, 0)), buf.getvalue())


npz_case("npz-claims-huge", 3, _npz_claims_huge, note="x.npy header claims 200 GB, holds 1 KB")


def _npz_deflate_bomb(path: Path) -> None:
    n = 1 << 30
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (1024, 1024, 1024), }"
    header = header + " " * (118 - len(header)) + "\n"
    prefix = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    comp = _raw_deflate(prefix, n)
    info = zipfile.ZipInfo("x.npy", (2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    # zipfile cannot take pre-compressed data: write the local header and data by hand
    crc = 0
    size = len(prefix) + n
    name = b"x.npy"
    local = (
        struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(comp), size, len(name), 0
        )
        + name
    )
    central = (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            8,
            0,
            0x21,
            crc,
            len(comp),
            size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            0,
        )
        + name
    )
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(comp), 0)
    path.write_bytes(local + comp + central + end)


npz_case("npz-deflate-bomb", 3, _npz_deflate_bomb, note="1 GB of zeros deflated to 1 MB")
