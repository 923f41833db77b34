"""A Linux file name is bytes; one that is not UTF-8 (``src\\xff``) reaches Python with surrogate
escapes, which SQLite text refuses: every import kind crashed with "surrogates not allowed". Such
a path is stored as a ``file://`` URI that keeps its bytes (stored_paths.py), the item opens and
verifies as any other, messages show the byte as ``\\xff``, and a class name that is not UTF-8
(a class folder's name) is refused naming it."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from qbi_desktop.core.catalog import open_project
from tests.cli_helpers import run_cli

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="file names are bytes on Linux")

BAD = os.fsdecode(b"\xff")  # '\udcff'
BAD2 = os.fsdecode(b"\xfe")


def _png(path: Path, shape=(32, 48)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)).save(path)


def _sources(root: Path) -> dict[str, Path]:
    """One small source of each import kind, each under a folder whose name is not UTF-8."""
    folder = root / f"src{BAD}"
    _png(folder / "if" / "cls" / f"a{BAD2}.png")
    _png(folder / "lm" / "x.png")
    (folder / "lm" / "x.json").write_text(
        json.dumps({"version": "5.2.1", "flags": {}, "imagePath": "x.png", "imageData": None,
                    "imageHeight": 32, "imageWidth": 48,
                    "shapes": [{"label": "a", "points": [[1, 1], [10, 1], [10, 10]],
                                "group_id": None, "shape_type": "polygon", "flags": {}}]})
    )  # fmt: skip
    for name in ("a.png", "b.png"):
        _png(folder / "sh" / name, (8, 8))
    (folder / "sh" / "sheet.csv").write_text("image,thick\na.png,1.5\nb.png,2\n")
    _png(folder / "yo" / "images" / "train" / "x.png")
    (folder / "yo" / "labels" / "train").mkdir(parents=True)
    (folder / "yo" / "labels" / "train" / "x.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (folder / "yo" / "data.yaml").write_text("names: [a, b]\n")
    np.savez(folder / f"n{BAD}.npz", x_train=np.zeros((3, 8, 8), np.uint8), y_train=[0, 1, 0])
    (folder / "mk" / "images").mkdir(parents=True)
    (folder / "mk" / "masks").mkdir()
    tifffile.imwrite(folder / "mk" / "images" / "s.tif", np.ones((16, 16), np.uint16))
    tifffile.imwrite(folder / "mk" / "masks" / "s.tif", np.eye(16, dtype=np.uint8))
    return {
        "imagefolder": folder / "if",
        "labelme": folder / "lm",
        "sheet": folder / "sh" / "sheet.csv",
        "yolo": folder / "yo",
        "npz": folder / f"n{BAD}.npz",
        "masks": folder / "mk",
    }


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return _sources(tmp_path_factory.mktemp("nonutf8"))


@pytest.mark.parametrize("kind", ["imagefolder", "labelme", "sheet", "yolo", "npz", "masks"])
def test_every_import_kind_takes_a_non_utf8_path_and_the_item_opens(
    tmp_path, sources, kind, monkeypatch
):
    project = tmp_path / "p"
    # as on a UTF-8 terminal (no surrogateescape): a raw surrogate printed would crash
    monkeypatch.setenv("PYTHONIOENCODING", "utf-8:strict")
    r = run_cli("import", "--project", str(project), "--kind", kind, str(sources[kind]))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "src\\xff" in r.stdout  # the byte shown in Python's notation
    p = open_project(project)
    for item in p.ids():
        assert p.image(item).size > 0
    assert p.verify() == []  # every file found where the catalog says, hashes equal
    stored = [row[0] for row in p.db.execute("SELECT path FROM items WHERE path IS NOT NULL")]
    stored += [row[0] for row in p.db.execute("SELECT path FROM containers")]
    assert stored
    for text in stored:
        path = p.resolve(text)
        assert b"/src\xff/" in os.fsencode(path) and path.is_file()
        assert text.startswith("file:///")  # a URI keeping the bytes (stored_paths.py)
    # the same files again are recognised as already there
    again = run_cli("import", "--project", str(project), "--kind", kind, str(sources[kind]))
    assert again.returncode == 0 and "0 item(s) added" in again.stdout, again.stdout


def test_relocate_finds_a_moved_non_utf8_file(tmp_path, sources):
    src = tmp_path / "a"
    shutil.copytree(sources["imagefolder"], src)
    p = open_project(tmp_path / "p", create=True)
    from qbi_desktop.core.formats import import_job
    from qbi_desktop.core.jobs import run_job

    run_job(import_job(p, "imagefolder", [src]))
    moved = tmp_path / f"moved{BAD}"
    src.rename(moved)
    assert p.relocate(moved) == 1
    (item,) = p.ids()
    assert p.image(item).shape == (32, 48)


def test_a_class_folder_named_in_bytes_that_are_not_utf8_is_refused_naming_it(tmp_path):
    _png(tmp_path / "src" / f"cl{BAD}" / "a.png")
    r = run_cli("import", "--project", str(tmp_path / "p"), "--kind", "imagefolder",
                str(tmp_path / "src"))  # fmt: skip
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "not UTF-8" in r.stderr and "\\xff" in r.stderr
