"""Hostile archives (references outside, links, bombs) and crafted journals."""

from __future__ import annotations

import io
import json
import struct
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests.hostile.blobs import (
    _raw_deflate,
    good_image,
    gray8,
    write_tiff,
)
from tests.hostile.cases_annotations import coco_doc, labelme_doc
from tests.hostile.registry import (
    case,
)

# ---------------------------------------------------------------------------------------------
# archives: references outside, zip-slip, links, long names, NFC/NFD collisions, bombs


def _zip(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)


def _png(seed: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(gray8(seed)).save(buf, format="PNG")
    return buf.getvalue()


def archive_case(
    name,
    cls,
    members: Callable[[Path], dict[str, bytes]] | None = None,
    *,
    import_kind="coco",
    suffix=".zip",
    expect="refuse",
    entries=("import", "cli-import", "roundtrip-export"),
    writer=None,
    **kw,
):
    @case(
        name,
        cls,
        "archive",
        entries,
        expect=expect,
        source=f"{name}{suffix}",
        import_kind=import_kind,
        **kw,
    )
    def build(d: Path, corpus: Path) -> None:
        if writer is not None:
            writer(d / f"{name}{suffix}", corpus)
        else:
            _zip(d / f"{name}{suffix}", members(corpus))

    return build


def _coco_with(file_name: str) -> bytes:
    doc = coco_doc()
    doc["images"][0]["file_name"] = file_name
    return json.dumps(doc).encode()


archive_case(
    "zip-coco-good",
    0,
    lambda c: {
        "set/coco.json": json.dumps(coco_doc()).encode(),
        "set/images/a.png": _png(10),
        "set/images/b.png": _png(11),
    },
    expect="accept",
)
archive_case(
    "zip-coco-dotdot",
    10,
    lambda c: {
        "set/coco.json": _coco_with("../../../../host/secret.png"),
        "set/images/b.png": _png(11),
    },
    names=("secret.png", "coco.json"),
)
archive_case(
    "zip-coco-absolute",
    10,
    lambda c: {
        "set/coco.json": _coco_with(str(c / "host/secret.png")),
        "set/images/b.png": _png(11),
    },
    names=("secret.png", "coco.json"),
)
archive_case(
    "zip-labelme-dotdot",
    10,
    lambda c: {
        "set/img.json": json.dumps(labelme_doc(imagePath="../../../../host/secret.png")).encode()
    },
    import_kind="labelme",
    names=("secret.png", "img.json"),
)
archive_case(
    "zip-labelme-absolute",
    10,
    lambda c: {
        "set/img.json": json.dumps(labelme_doc(imagePath=str(c / "host/secret.png"))).encode()
    },
    import_kind="labelme",
    names=("secret.png", "img.json"),
)
archive_case(
    "zip-sheet-dotdot",
    10,
    lambda c: {"set/sheet.csv": b"file,t\n../../../../host/secret.png,1\n", "set/a.png": _png(3)},
    import_kind="sheet",
    names=("secret.png", "sheet.csv"),
)
archive_case(
    "zip-slip-member",
    10,
    lambda c: {"../../evil.png": _png(1), "set/coco.json": b"{}"},
    names=("evil.png", "zip-slip-member.zip"),
)
archive_case(
    "zip-absolute-member",
    10,
    lambda c: {"/tmp/qbi-hostile-evil.png": _png(1)},
    import_kind="imagefolder",
    names=("qbi-hostile-evil.png", "zip-absolute-member.zip"),
)
archive_case(
    "zip-long-folder-name",
    12,
    lambda c: {"set/" + "d" * 300 + "/a.png": _png(2)},
    import_kind="imagefolder",
    names=("zip-long-folder-name.zip",),
)
archive_case(
    "zip-nfc-nfd-collision",
    13,
    lambda c: {
        "set/" + unicodedata.normalize("NFC", "caf\u00e9.png"): _png(4),
        "set/" + unicodedata.normalize("NFD", "caf\u00e9.png"): _png(5),
    },
    import_kind="imagefolder",
    names=("caf",),
)
archive_case(
    "zip-not-a-zip",
    12,
    lambda c: {},
    writer=lambda p, c: p.write_bytes(b"PK\x03\x04" + bytes(60)),
    import_kind="imagefolder",
)


def _zip_bomb(path: Path, corpus: Path) -> None:
    """One member claiming 4 GiB of zeros in a 4 MB zip (deflate by hand)."""
    n = (1 << 32) - 1
    comp = _raw_deflate(b"", n)
    name = b"set/big.png"
    local = (
        struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, 0, len(comp), n, len(name), 0)
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
            0,
            len(comp),
            n,
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


archive_case("zip-bomb", 3, writer=_zip_bomb, import_kind="imagefolder")


def _tar(path: Path, build: Callable[[tarfile.TarFile], None]) -> None:
    with tarfile.open(path, "w") as t:
        build(t)


def _tar_member(t: tarfile.TarFile, name: str, data: bytes = b"", **kw: Any) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    for k, v in kw.items():
        setattr(info, k, v)
    t.addfile(info, io.BytesIO(data) if data else None)


archive_case(
    "tar-symlink-out",
    10,
    suffix=".tar",
    import_kind="imagefolder",
    writer=lambda p, c: _tar(
        p,
        lambda t: (
            _tar_member(t, "set/a.png", _png(1)),
            _tar_member(t, "set/b.png", type=tarfile.SYMTYPE, linkname=str(c / "host/secret.png")),
        ),
    ),
    names=("b.png", "tar-symlink-out.tar"),
)
archive_case(
    "tar-hardlink-out",
    10,
    suffix=".tar",
    import_kind="imagefolder",
    writer=lambda p, c: _tar(
        p,
        lambda t: (
            _tar_member(t, "set/a.png", _png(1)),
            _tar_member(t, "set/b.png", type=tarfile.LNKTYPE, linkname="../../host/secret.png"),
        ),
    ),
    names=("b.png", "tar-hardlink-out.tar"),
)
archive_case(
    "tar-fifo-member",
    8,
    suffix=".tar",
    import_kind="imagefolder",
    writer=lambda p, c: _tar(
        p,
        lambda t: (
            _tar_member(t, "set/a.png", _png(1)),
            _tar_member(t, "set/pipe.png", type=tarfile.FIFOTYPE),
        ),
    ),
    names=("pipe.png", "tar-fifo-member.tar"),
)
archive_case(
    "tar-dotdot-member",
    10,
    suffix=".tar",
    import_kind="imagefolder",
    writer=lambda p, c: _tar(
        p,
        lambda t: (_tar_member(t, "set/a.png", _png(1)), _tar_member(t, "../../evil.png", _png(2))),
    ),
    names=("evil.png", "tar-dotdot-member.tar"),
)


# ---------------------------------------------------------------------------------------------
# journals beside an image (class 1)


def _journal(image: np.ndarray, image_path: Path, mask_path: str) -> bytes:
    """A stroke journal in the documented layout (core/journal.py) whose header names
    ``mask_path``, holding one completed stroke."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    h.update(repr((image.shape, image.dtype.str)).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    header = {
        "format": "qbi-desktop mask journal",
        "version": 1,
        "image": {
            "path": str(image_path),
            "shape": list(image.shape),
            "dtype": image.dtype.name,
            "content_hash": "blake2b-128:" + h.hexdigest(),
        },
        "mask_shape": list(image.shape[:2]),
        "mask_path": mask_path,
        "labels": {},
        "base": "empty",
        "created": "2026-01-01T00:00:00+00:00",
    }

    def rec(payload: bytes) -> bytes:
        return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload

    idx = np.arange(4, dtype=np.uint8)  # pixels (0,0)..(0,3) of a 1x4 box
    delta = b"D" + struct.pack("<IIIIIBBI", 0, 1, 0, 4, 4, 1, 1, 1) + idx.tobytes() + b"\x01"
    try:
        labels_ok = json.loads(json.dumps(header))
    except ValueError:  # pragma: no cover
        labels_ok = header
    return b"QBIMJRN1" + rec(b"H" + json.dumps(labels_ok).encode()) + rec(delta)


def journal_case(name: str, target: Callable[[Path, Path], str], names=("journal",)):
    @case(
        name,
        1,
        "journal",
        ("journal", "window"),
        expect="either",
        source="images/radiograph.tif",
        names=names,
        note="a crafted journal beside the image names where its mask goes",
    )
    def build(d: Path, corpus: Path) -> None:
        img = good_image(20, (32, 32))
        image_path = d / "images/radiograph.tif"
        write_tiff(image_path, img)
        # a folder the header may point into exists, so a write there would succeed (and show)
        (d / "elsewhere").mkdir()
        (d / "elsewhere/.keep").write_text("")
        (d / "images/radiograph.mask.tif.journal").write_bytes(
            _journal(img, image_path, target(d, corpus))
        )

    return build


journal_case("journal-mask-path-absolute", lambda d, c: str(c / "host/evil.mask.tif"))
journal_case("journal-mask-path-dotdot", lambda d, c: "../../host/evil.mask.tif")
journal_case("journal-mask-path-other-dir", lambda d, c: str(d / "elsewhere/radiograph.mask.tif"))
