"""Datasets imported from archives (.zip, .tar.gz, ...): extracted into the project, imported
from there; malicious, broken or oversized archives refused whole with nothing written."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sqlite3
import stat
import tarfile
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from qbi_desktop.core.archives import (
    Limits,
    UnsafeArchiveError,
    archive_stem,
    extract_job,
    is_archive,
)
from qbi_desktop.core.catalog import ImportRejected, open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import SOURCES_DIR, import_job
from qbi_desktop.core.jobs import run_job

# -- helpers --------------------------------------------------------------------------------------


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _tif(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array)
    return buffer.getvalue()


def _grey(seed: int, shape=(20, 24), dtype=np.uint8) -> np.ndarray:
    high = 255 if dtype == np.uint8 else 65535
    return np.random.default_rng(seed).integers(0, high, shape, dtype=dtype)


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _tar(path: Path, files: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> Path:
    mode = "w:gz" if path.name.endswith((".tar.gz", ".tgz")) else "w"
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return path


def _class_tree() -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    """A folder-per-class tree as archive entries: 8-bit PNG cats, 16-bit TIFF dogs."""
    files, arrays = {}, {}
    for k in range(3):
        cat = _grey(k)
        files[f"cells/cat/cat{k}.png"] = _png(cat)
        arrays[f"cat{k}.png"] = cat
    for k in range(2):
        dog = _grey(10 + k, (18, 22), np.uint16)
        files[f"cells/dog/dog{k}.tif"] = _tif(dog)
        arrays[f"dog{k}.tif"] = dog
    return files, arrays


def _snapshot(root: Path) -> dict[str, int]:
    """Every file and folder below ``root`` with its size: 'nothing written anywhere'."""
    return {
        str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1) for p in root.rglob("*")
    }


def _catalog(project) -> list[str]:
    with sqlite3.connect(project.db_path) as db:
        return list(db.iterdump())


@pytest.fixture
def project(tmp_path):
    with open_project(tmp_path / "proj", create=True) as p:
        yield p


# -- imports that work ------------------------------------------------------------------------


def test_zipped_class_tree_imports_labels_inside_the_project_which_can_move(tmp_path, project):
    files, arrays = _class_tree()
    # macOS adds these to every zip it makes; they are metadata, not images or classes.
    files["__MACOSX/cells/cat/._cat0.png"] = b"\x00\x05\x16\x07 apple double"
    archive = _zip(tmp_path / "cells.zip", files)

    report = run_job(import_job(project, "imagefolder", [archive]))

    assert report.added == 5
    assert project.count({"label": "cat"}) == 3 and project.count({"label": "dog"}) == 2
    paths = [r[0] for r in project.db.execute("SELECT path FROM items")]
    assert all(p.startswith(f"{SOURCES_DIR}/cells/cells/") for p in paths), paths
    assert not (project.root / SOURCES_DIR / "cells" / "__MACOSX").exists()
    assert "extracted into sources/cells" in str(report)
    assert not list((project.root / SOURCES_DIR).glob(".*"))  # no temporary folder left
    ids = {row["name"]: row["id"] for row in project.query(limit=None)}
    project.close()

    # The project is self-contained: move it, remove the archive, and every image still opens.
    archive.unlink()
    moved = shutil.move(str(project.root), str(tmp_path / "elsewhere" / "moved"))
    with open_project(moved) as again:
        for name, array in arrays.items():
            image = again.image(ids[name])
            assert image.dtype == array.dtype and np.array_equal(image, array)


def test_same_archive_twice_adds_nothing_new_and_another_gets_its_own_folder(tmp_path, project):
    files, _ = _class_tree()
    archive = _zip(tmp_path / "cells.zip", files)
    assert run_job(import_job(project, "imagefolder", [archive])).added == 5

    again = run_job(import_job(project, "imagefolder", [archive]))
    assert again.added == 0 and len(project) == 5
    assert sorted(p.name for p in (project.root / SOURCES_DIR).iterdir()) == ["cells"]

    # Another archive of the same name (one more image): extracted beside the first.
    files["cells/dog/dog9.png"] = _png(_grey(99))
    (tmp_path / "newer").mkdir()
    other = _zip(tmp_path / "newer" / "cells.zip", files)
    report = run_job(import_job(project, "imagefolder", [other]))
    assert report.added == 6 and len(project) == 11
    assert sorted(p.name for p in (project.root / SOURCES_DIR).iterdir()) == ["cells", "cells-2"]
    assert (project.root / SOURCES_DIR / "cells" / "cells" / "cat" / "cat0.png").is_file()


def test_tar_gz_with_coco_json_and_images_imports_boxes(tmp_path, project):
    doc = {
        "images": [
            {"id": 1, "file_name": "images/a.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "images/b.png", "width": 40, "height": 30},
        ],
        "categories": [{"id": 1, "name": "spot"}, {"id": 2, "name": "crack"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 5], "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [0, 0, 40, 30], "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [5, 6, 3, 4], "iscrowd": 0},
        ],
    }
    files = {
        "instances.json": json.dumps(doc).encode(),
        "images/a.png": _png(_grey(1, (30, 40))),
        "images/b.png": _png(_grey(2, (30, 40))),
    }
    archive = _tar(tmp_path / "detections.tar.gz", files)

    report = run_job(import_job(project, "coco", [archive]))

    assert report.added == 2
    boxes = {
        row["name"]: [(b.label, b.x, b.y, b.w, b.h) for b in project.boxes(row["id"])]
        for row in project.query(limit=None)
    }
    assert boxes == {
        "a.png": [("spot", 2.0, 3.0, 10.0, 5.0)],
        "b.png": [("crack", 0.0, 0.0, 40.0, 30.0), ("spot", 5.0, 6.0, 3.0, 4.0)],
    }
    paths = [r[0] for r in project.db.execute("SELECT path FROM items")]
    assert paths and all(p.startswith("sources/detections/images/") for p in paths)


def test_zipped_labelme_folder_imports_masks(tmp_path, project):
    doc = {
        "shapes": [
            {"label": "leaf", "points": [[2, 2], [9, 2], [9, 8], [2, 8]], "shape_type": "polygon"}
        ],
        "imagePath": "x.png",
        "imageHeight": 16,
        "imageWidth": 20,
    }
    archive = _zip(
        tmp_path / "leaves.zip",
        {"leaves/x.png": _png(_grey(3, (16, 20))), "leaves/x.json": json.dumps(doc).encode()},
    )

    report = run_job(import_job(project, "labelme", [archive]))

    assert report.added == 1
    (row,) = project.query(limit=None)
    mask = project.mask(row["id"])
    assert mask is not None and mask.shape == (16, 20)
    assert mask[5, 5] != 0 and mask[0, 0] == 0 and mask[12, 15] == 0


def test_zipped_sheet_with_images_and_zipped_masks_import(tmp_path, project):
    sheet = "name,thickness\na.png,1.5\nb.png,2.25\n"
    archive = _zip(
        tmp_path / "plates.zip",
        {
            "plates/targets.csv": sheet.encode(),
            "plates/a.png": _png(_grey(4)),
            "plates/b.png": _png(_grey(5)),
        },
    )
    assert run_job(import_job(project, "sheet", [archive])).added == 2
    targets = {r["name"]: r["targets"] for r in project.query(limit=None)}
    assert targets == {"a.png": {"thickness": 1.5}, "b.png": {"thickness": 2.25}}

    # A masks-export layout (images/ + masks/) zipped, into a second project.
    mask = np.zeros((20, 24), np.uint8)
    mask[3:7, 4:9] = 1
    archive = _zip(
        tmp_path / "seg.zip",
        {
            "seg/images/c.png": _png(_grey(6)),
            "seg/masks/c_mask.png": _png(mask),
        },
    )
    with open_project(tmp_path / "second", create=True) as other:
        assert run_job(import_job(other, "masks", [archive])).added == 1
        (row,) = other.query(limit=None)
        assert np.array_equal(other.mask(row["id"]), mask)


def test_zipped_mnist_idx_files_import(tmp_path, project):
    from qbi_desktop.core.idx import write_idx

    images = _grey(7, (5, 28, 28))
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    archive = _zip(
        tmp_path / "digits.zip",
        {
            f"digits/{n}": (tmp_path / n).read_bytes()
            for n in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
        },
    )
    assert run_job(import_job(project, "mnist", [archive])).added == 5
    rows = project.query(limit=None, sort="id")
    assert [r["label"] for r in rows] == ["3", "1", "4", "1", "5"]
    assert {r["split"] for r in rows} == {"test"}
    assert np.array_equal(project.image(rows[2]["id"]), images[2])


# -- malicious archives: refused whole, nothing written ---------------------------------------

_OK = {"data/cat/ok.png": _png(_grey(0))}
_OUTSIDE = f"/tmp/qbi-archive-test-{uuid.uuid4().hex}"


def _zip_with(path: Path, info: zipfile.ZipInfo, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in _OK.items():
            zf.writestr(name, content)
        zf.writestr(info, data)
    return path


def _tar_with(path: Path, info: tarfile.TarInfo) -> Path:
    return _tar(path, _OK, [info])


def _zip_slip(tmp):
    return _zip_with(tmp / "slip.zip", zipfile.ZipInfo("../evil.txt"), b"pwned"), "../evil.txt"


def _zip_absolute(tmp):
    return _zip_with(tmp / "abs.zip", zipfile.ZipInfo(_OUTSIDE), b"pwned"), _OUTSIDE


def _zip_backslash(tmp):
    name = "..\\..\\evil.txt"
    return _zip_with(tmp / "backslash.zip", zipfile.ZipInfo(name), b"pwned"), name


def _zip_drive(tmp):
    name = "C:/Windows/evil.txt"
    return _zip_with(tmp / "drive.zip", zipfile.ZipInfo(name), b"pwned"), name


def _zip_symlink(tmp):
    info = zipfile.ZipInfo("data/passwd")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _zip_with(tmp / "link.zip", info, b"/etc/passwd"), "data/passwd"


def _tar_symlink(tmp):
    info = tarfile.TarInfo("data/passwd")
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return _tar_with(tmp / "link.tar.gz", info), "data/passwd"


def _tar_hardlink(tmp):
    info = tarfile.TarInfo("data/shadow")
    info.type, info.linkname = tarfile.LNKTYPE, "/etc/shadow"
    return _tar_with(tmp / "hard.tar", info), "data/shadow"


def _tar_device(tmp):
    info = tarfile.TarInfo("data/null")
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return _tar_with(tmp / "dev.tar", info), "data/null"


def _tar_fifo(tmp):
    info = tarfile.TarInfo("data/pipe")
    info.type = tarfile.FIFOTYPE
    return _tar_with(tmp / "fifo.tgz", info), "data/pipe"


def _tar_slip(tmp):
    info = tarfile.TarInfo("data/../../evil.txt")
    return _tar(tmp / "slip.tar", {**_OK, info.name: b"pwned"}), info.name


def _zip_duplicate(tmp):
    with zipfile.ZipFile(tmp / "dup.zip", "w") as zf:
        zf.writestr("data/cat/a.png", _png(_grey(1)))
        zf.writestr("data/cat/A.PNG", b"replaces the first on macOS and Windows")
    return tmp / "dup.zip", "data/cat/A.PNG"


@pytest.mark.parametrize(
    "make",
    [
        _zip_slip,
        _zip_absolute,
        _zip_backslash,
        _zip_drive,
        _zip_symlink,
        _tar_symlink,
        _tar_hardlink,
        _tar_device,
        _tar_fifo,
        _tar_slip,
        _zip_duplicate,
    ],
)
def test_malicious_archive_is_refused_whole_naming_the_entry(tmp_path, project, make):
    source = tmp_path / "incoming"
    source.mkdir()
    archive, entry = make(source)
    before, catalog = _snapshot(tmp_path), _catalog(project)

    with pytest.raises(UnsafeArchiveError) as caught:
        run_job(import_job(project, "imagefolder", [archive]))

    message = str(caught.value)
    assert str(archive) in message and repr(entry) in message and "nothing was extracted" in message
    assert _snapshot(tmp_path) == before  # the project, its parent and the archive's folder
    assert not Path(_OUTSIDE).exists()
    assert _catalog(project) == catalog


# -- broken archives, failed and cancelled imports ---------------------------------------------


def test_corrupt_image_inside_archive_is_reported_and_extraction_removed(tmp_path, project):
    files, _ = _class_tree()
    files["cells/dog/broken.png"] = b"\x89PNG\r\n\x1a\n but then nothing an image would hold"
    archive = _zip(tmp_path / "cells.zip", files)
    catalog = _catalog(project)

    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(project, "imagefolder", [archive]))

    assert [Path(p.file).name for p in caught.value.problems] == ["broken.png"]
    assert "broken.png" in str(caught.value)
    assert not (project.root / SOURCES_DIR).exists()
    assert _catalog(project) == catalog and len(project) == 0


@pytest.mark.parametrize("name", ["cells.zip", "cells.tar.gz", "cells.tar"])
def test_truncated_archive_is_a_clear_error(tmp_path, project, name):
    files, _ = _class_tree()
    builder = _zip if name.endswith(".zip") else _tar
    archive = builder(tmp_path / name, files)
    data = archive.read_bytes()
    cut = len(data) * 2 // 3
    if name.endswith(".tar"):  # a plain tar ends in zero padding: cut inside the last file
        with tarfile.open(archive) as tar:
            last = tar.getmembers()[-1]
        cut = last.offset_data + last.size // 2
    archive.write_bytes(data[:cut])
    before = _snapshot(tmp_path)

    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(project, "imagefolder", [archive]))

    message = str(caught.value)
    assert str(archive) in message and ("truncated" in message or "corrupt" in message)
    assert _snapshot(tmp_path) == before
    assert len(project) == 0


def test_cancel_during_extraction_leaves_no_folder(tmp_path, project):
    # Incompressible 2 MiB files, so extraction takes several chunks and several files.
    rng = np.random.default_rng(1)
    files = {f"big/part{k}.bin": rng.bytes(2 << 20) for k in range(3)}
    files.update({f"big/cat/c{k}.png": _png(_grey(k)) for k in range(2)})
    archive = _zip(tmp_path / "big.zip", files)
    catalog = _catalog(project)

    job = import_job(project, "imagefolder", [archive])
    for progress in job:
        if progress.done > 0:  # the first Progress with bytes extracted
            break
    partial = list((project.root / SOURCES_DIR).glob(".big.*.partial"))
    assert len(partial) == 1 and any(p.is_file() for p in partial[0].rglob("*"))
    job.close()

    assert not (project.root / SOURCES_DIR).exists()
    assert _catalog(project) == catalog


def test_npz_and_xlsx_are_imported_as_themselves_not_extracted(tmp_path, project):
    assert not is_archive("digits.npz") and not is_archive("targets.xlsx")
    assert is_archive("a.ZIP") and is_archive("b.tbz2") and is_archive("c.tar.xz")
    assert archive_stem("cells.tar.gz") == "cells" and archive_stem("x.tgz") == "x"

    x = _grey(8, (4, 8, 8))
    np.savez(tmp_path / "digits.npz", x_train=x, y_train=np.array([0, 1, 0, 1]))
    assert zipfile.is_zipfile(tmp_path / "digits.npz")
    assert run_job(import_job(project, "npz", [tmp_path / "digits.npz"])).added == 4

    openpyxl = pytest.importorskip("openpyxl")
    Image.fromarray(_grey(9)).save(tmp_path / "p.png")
    book = openpyxl.Workbook()
    book.active.append(["name", "dose"])
    book.active.append(["p.png", 0.5])
    book.save(tmp_path / "targets.xlsx")
    assert run_job(import_job(project, "sheet", [tmp_path / "targets.xlsx"])).added == 1
    assert not (project.root / SOURCES_DIR).exists()


# -- bombs ----------------------------------------------------------------------------------


def test_bombs_are_refused_before_anything_is_written(tmp_path):
    target = tmp_path / "sources"
    files, _ = _class_tree()
    archive = _zip(tmp_path / "many.zip", files)
    with pytest.raises(UserFacingError, match="more than 3 entries"):
        run_job(extract_job(archive, target, limits=Limits(max_entries=3)))

    zeros = _zip(tmp_path / "zeros.zip", {"zeros/a.raw": bytes(4 << 20)})
    assert zeros.stat().st_size < 64 << 10  # 4 MiB of zeros packs to a few KiB
    with pytest.raises(UserFacingError, match="compression bomb"):
        run_job(extract_job(zeros, target, limits=Limits(ratio_floor=1 << 20, max_ratio=100)))
    assert not target.exists()

    # A tar whose one member says it holds 1 TiB (a sparse file here: no disk used) cannot fit.
    huge = tmp_path / "huge.tar"
    info = tarfile.TarInfo("huge/disk.raw")
    info.size = 1 << 40
    with open(huge, "wb") as out:
        out.write(info.tobuf(format=tarfile.GNU_FORMAT))
        out.seek(info.size, io.SEEK_CUR)
        out.write(bytes(2 * tarfile.BLOCKSIZE))
    with open_project(tmp_path / "proj", create=True) as p:
        with pytest.raises(UserFacingError, match="free"):
            run_job(import_job(p, "imagefolder", [huge]))
        assert not (p.root / SOURCES_DIR).exists()


# -- command line ---------------------------------------------------------------------------


def test_cli_import_of_a_zip(tmp_path, capsys):
    from qbi_desktop.commands.project import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    files, _ = _class_tree()
    archive = _zip(tmp_path / "cells.zip", files)
    args = parser.parse_args(
        ["import", "--project", str(tmp_path / "p"), "--kind", "imagefolder", str(archive)]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "5 item(s) added" in out and "extracted into sources/cells" in out
    with open_project(tmp_path / "p") as p:
        assert p.count({"label": "cat"}) == 3
        assert (p.root / SOURCES_DIR / "cells" / "cells" / "dog" / "dog1.tif").is_file()

    bad = _zip_with(tmp_path / "slip.zip", zipfile.ZipInfo("../evil.txt"), b"pwned")
    args = parser.parse_args(
        ["import", "--project", str(tmp_path / "p"), "--kind", "imagefolder", str(bad)]
    )
    assert args.func(args) == 2
    assert "'../evil.txt'" in capsys.readouterr().err
    assert not (tmp_path / "p" / SOURCES_DIR / "evil.txt").exists()


def test_import_dialog_offers_archives_for_every_kind(qtbot):
    from qbi_desktop.gui.docks.browser_dialogs import IMPORT_KINDS, ImportDialog

    dialog = ImportDialog()
    qtbot.addWidget(dialog)
    for index, kind in enumerate(IMPORT_KINDS):
        dialog.kind.setCurrentIndex(index)
        first = dialog.file_filter().split(";;")[0]  # what the file dialog shows first
        assert all(f"*{s}" in first for s in (".zip", ".tar.gz", ".tgz", ".tar.xz")), kind
    dialog.kind.setCurrentIndex(list(IMPORT_KINDS).index("sheet"))
    assert "*.xlsx" in dialog.file_filter().split(";;")[0]
    assert "archive" in dialog.hint.text()
