"""labelme trips say what a class mask loses and write files labelme opens: the import names
the objects of one class that overlap or touch (one region of the class mask now) and the
``group_id`` objects (several shapes of one object) painted as their class; shapes of one group
touching each other are one object, not a merge; the export writes a stack item as the page its
shapes belong to, at the size its JSON declares, as labelme's loader (tifffile) reads it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.project import Box
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

DATA = Path(__file__).parent / "data" / "labelme" / "instance"


def _with_blank_images(folder: Path, *names: str) -> Path:
    """labelme's instance example files in ``folder`` beside blank JPEGs of the declared size
    (the photos' pixels do not matter to the shapes)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(DATA / name, folder / name)
        doc = json.loads((DATA / name).read_text())
        blank = np.zeros((doc["imageHeight"], doc["imageWidth"], 3), np.uint8)
        Image.fromarray(blank).save(folder / doc["imagePath"], format="JPEG")
    return folder


def test_labelme_import_names_touching_objects_and_groups(tmp_path):
    """labelme's own instance example: the three touching persons of 2011_000006 and the two
    overlapping buses of 2011_000025 each become one region; the sofa, one object drawn as four
    polygons (group_id 0), is painted as its class. The report says both."""
    src = _with_blank_images(tmp_path / "src", "2011_000006.json", "2011_000025.json")
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "labelme", [src]))
    (merged,) = [w for w in report.warnings if "became one region" in w]
    assert merged.startswith("labelme shapes: 5 object(s) overlap or touch another object")
    assert "3 'person', 2 'bus'" in merged
    assert "2011_000006.json (shapes[0], shapes[1], shapes[2])" in merged
    assert "2011_000025.json (shapes[0], shapes[1])" in merged
    (groups,) = [w for w in report.warnings if "group_id" in w]
    assert "4 shape(s) of 1 object(s) given by a group_id" in groups
    assert "2011_000006.json group 0 'sofa' (4 shapes)" in groups


def _shape(label, points, group_id=None):
    return {"label": label, "points": points, "group_id": group_id, "shape_type": "polygon"}


def test_shapes_of_one_group_are_one_object_not_a_merge(tmp_path):
    """Two overlapping shapes of group 3 are one 'cell'; a third cell touching them without a
    group is another object: two objects merged, and one object of two shapes."""
    folder = tmp_path / "src"
    folder.mkdir()
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(folder / "a.png")
    shapes = [
        _shape("cell", [[2, 2], [12, 2], [12, 12], [2, 12]], 3),
        _shape("cell", [[8, 8], [18, 8], [18, 18], [8, 18]], 3),  # overlaps its own group
        _shape("cell", [[25, 2], [35, 2], [35, 10], [25, 10]]),  # apart
        _shape("dust", [[18, 18], [24, 18], [24, 24], [18, 24]]),  # another class: no merge
    ]
    doc = {"shapes": shapes, "imagePath": "a.png", "imageHeight": 30, "imageWidth": 40}
    (folder / "a.json").write_text(json.dumps(doc))
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "labelme", [folder]))
    assert not [w for w in report.warnings if "became one region" in w]
    (groups,) = [w for w in report.warnings if "group_id" in w]
    assert "a.json group 3 'cell' (2 shapes)" in groups
    shapes.append(_shape("cell", [[12, 2], [25, 2], [25, 6], [12, 6]]))  # joins both cells
    (folder / "a.json").write_text(json.dumps(doc))
    with open_project(tmp_path / "q", create=True) as q:
        report = run_job(import_job(q, "labelme", [folder]))
    (merged,) = [w for w in report.warnings if "became one region" in w]
    assert "3 object(s)" in merged and "3 'cell'" in merged
    assert "a.json (shapes[0], shapes[2], shapes[4])" in merged


def test_a_stack_item_is_written_as_the_page_its_json_declares(tmp_path):
    """A 5-page TIFF item: labelme reads an image file with tifffile, so the whole stack was a
    (5, h, w) array that labelme refused ("imageHeight mismatch"); now its page is written."""
    folder = tmp_path / "src"
    folder.mkdir()
    stack = (np.arange(5 * 20 * 33, dtype=np.uint32).reshape(5, 20, 33) % 60000).astype(np.uint16)
    tifffile.imwrite(folder / "multiframe.tif", stack, photometric="minisblack")
    doc = {"shapes": [], "imagePath": "multiframe.tif", "imageHeight": 20, "imageWidth": 33}
    (folder / "multiframe.json").write_text(json.dumps(doc))
    with open_project(tmp_path / "p", create=True) as p:
        run_job(import_job(p, "labelme", [folder]))
        (row,) = p.query(limit=None)
        p.set_boxes(row["id"], [Box("spot", 1.0, 2.0, 3.0, 4.0)])
        report = run_job(export_job(p, "labelme", tmp_path / "out"))
    written = json.loads((tmp_path / "out" / "multiframe.json").read_text())
    image = tmp_path / "out" / written["imagePath"]
    assert written["imagePath"] == "multiframe.tif"
    pixels = tifffile.imread(image)  # as labelme reads a TIFF
    assert pixels.shape == (written["imageHeight"], written["imageWidth"]) == (20, 33)
    assert np.array_equal(pixels, stack[0])
    assert [s["shape_type"] for s in written["shapes"]] == ["rectangle"]
    assert any("1 stack item(s)" in w and "multiframe.tif" in w for w in report.warnings)


def test_a_mask_shape_whose_png_ends_early_is_refused_not_read_as_zeros():
    import base64
    import struct
    import zlib

    from qbi_desktop.core.formats.labelme import _png_region

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    def png(rows: int) -> str:
        header = struct.pack(">IIBBBBB", 16, 16, 8, 0, 0, 0, 0)
        pixels = zlib.compress((b"\x00" + b"\xff" * 16) * rows)  # a stream that ends cleanly
        body = chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
        return base64.b64encode(b"\x89PNG\r\n\x1a\n" + body).decode()

    assert _png_region(png(16), 20, 20).sum() == 256
    short = _png_region(png(4), 20, 20)
    assert isinstance(short, str) and "ends after 4 of 16 rows" in short
