"""Hostile import and export files (issue 17, items 4, 5, 8, 10, 11, 13 and parts of 3 and 12):
each class of bad input is refused with the file, the record and the field named, through the
core import/export jobs and through ``qbi-desktop import`` / ``export`` (exit code 2, no
traceback, nothing half-written in the project), never a hang or an unbounded allocation."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from formats_hostile_helpers import _cli, _coco, _labelme, _png, _refused, _within
from PIL import Image

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.jsonfile import read_json

# -- 17.4: wrong JSON types -----------------------------------------------------------------

COCO_WRONG_TYPES = [
    # (what is replaced, value, the place and problem the message must name)
    ("images", 7, "'images' must be a list"),
    (
        "images",
        [{"id": [1], "file_name": "a.png"}],
        "images[0].id: expected an integer id, got a list",
    ),
    (
        "images",
        [{"id": True, "file_name": "a.png"}],
        "images[0].id: expected an integer id, got true",
    ),
    ("images", [{"id": 1, "file_name": 5}], "images[0].file_name: expected a string"),
    (
        "images",
        [{"id": 1, "file_name": "a.png", "width": "40", "height": 30}],
        "images[0].width: expected an integer, got a string '40'",
    ),
    ("images", [{"id": 1, "file_name": "a.png", "width": 1e400}], "images[0].width"),
    ("images", [{"id": 1, "file_name": ["a.png"]}], "images[0].file_name: expected a string"),
    ("images", ["a.png"], "images[0]: expected an object, got a string"),
    ("categories", {"id": 1}, "categories: expected a list, got an object"),
    ("categories", [{"id": "1", "name": "spot"}], "categories[0].id: expected an integer"),
    ("categories", [{"id": 1, "name": {"en": "spot"}}], "categories[0].name: expected a string"),
    ("annotations", {"0": {}}, "annotations: expected a list, got an object"),
    (
        "annotations",
        [{"image_id": 1, "category_id": 1, "bbox": "2,3,10,5"}],
        "annotations[0].bbox: expected a list, got a string",
    ),
    (
        "annotations",
        [{"image_id": 1, "category_id": 1, "bbox": ["2", 3, 10, 5]}],
        "annotations[0].bbox[0]: expected a number, got a string '2'",
    ),
    (
        "annotations",
        [{"image_id": 1, "category_id": 1, "bbox": [2, 3, 10]}],
        "annotations[0].bbox: expected [x, y, width, height]",
    ),
    (
        "annotations",
        [{"image_id": [1], "category_id": 1, "bbox": [2, 3, 10, 5]}],
        "annotations[0].image_id: expected an integer id, got a list",
    ),
    (
        "annotations",
        [{"image_id": 1, "category_id": 1.5, "bbox": [2, 3, 10, 5]}],
        "annotations[0].category_id: expected an integer, got the number 1.5",
    ),
    (
        "annotations",
        [{"image_id": 1, "category_id": 1, "iscrowd": 1, "segmentation": 5}],
        "annotations[0].segmentation: expected polygons (a list) or RLE (an object)",
    ),
    (
        "annotations",
        [{"image_id": 1, "category_id": 1, "iscrowd": 1, "segmentation": [5, 6]}],
        "annotations[0].segmentation[0]: expected a list, got the number 5",
    ),
    (
        "annotations",
        [
            {
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 1,
                "segmentation": {"size": "30x40", "counts": [1200]},
            }
        ],
        "annotations[0].segmentation.size: expected a list",
    ),
    (
        "annotations",
        [
            {
                "image_id": 1,
                "category_id": 1,
                "iscrowd": "yes",
                "segmentation": [[2, 3, 12, 3, 12, 8]],
            }
        ],
        "annotations[0].iscrowd: expected 0 or 1",
    ),
    (
        "annotations",
        [{"image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 5], "instance_id": [3]}],
        "annotations[0].instance_id: expected an integer, got a list",
    ),
    ("annotations", [None], "annotations[0]: expected an object, got null"),
]


@pytest.mark.parametrize(("key", "value", "expected"), COCO_WRONG_TYPES)
def test_coco_wrong_types_name_file_record_and_field(tmp_path, capsys, key, value, expected):
    src = _coco(tmp_path / "src", **{key: value})
    with open_project(tmp_path / "p", create=True) as p:
        message = _refused(p, "coco", [src])
    assert str(src) in message and expected in message
    # the same through the command line: exit 2, the message, no traceback, no project left
    code, err = _cli(capsys, "import", "--project", tmp_path / "q", "--kind", "coco", src)
    assert code == 2 and str(src) in err and expected in err
    assert not (tmp_path / "q").exists()


def test_coco_wrong_types_through_cli(tmp_path, capsys):
    src = _coco(tmp_path / "src", images=[{"id": [1], "file_name": "a.png"}])
    code, err = _cli(capsys, "import", "--project", tmp_path / "p", "--kind", "coco", src)
    assert code == 2
    assert f"{src}: images[0].id: expected an integer id, got a list" in err
    assert not (tmp_path / "p").exists()


LABELME_WRONG_TYPES = [
    ({"shapes": {"label": "x"}}, "shapes: expected a list, got an object"),
    ({"shapes": [{"label": "a", "points": "1,2"}]}, "shapes[0].points: expected a list"),
    (
        {"shapes": [{"label": "a", "points": [["1", 2], [3, 4], [5, 6]]}]},
        "shapes[0].points[0][0]: expected a number, got a string '1'",
    ),
    (
        {"shapes": [{"label": "a", "points": [[1, 2, 3], [3, 4], [5, 6]]}]},
        "shapes[0].points[0]: expected [x, y], got 3 numbers",
    ),
    (
        {"shapes": [{"label": ["a"], "points": [[1, 2], [3, 4], [5, 6]]}]},
        "shapes[0].label: expected a string, got a list",
    ),
    (
        {"shapes": [{"label": "a", "points": [[1, 2], [3, 4], [5, 6]], "group_id": [1]}]},
        "shapes[0].group_id: expected an integer, got a list",
    ),
    (
        {"shapes": [{"label": "a", "points": [[1, 2], [3, 4], [5, 6]], "shape_type": 3}]},
        "shapes[0].shape_type: expected a string",
    ),
    ({"shapes": [7]}, "shapes[0]: expected an object, got the number 7"),
    ({"flags": ["good"]}, "flags: expected an object, got a list"),
    ({"flags": {"good": "yes"}}, "flags.good: expected true or false"),
    ({"imagePath": ["x.png"]}, "imagePath: expected a string, got a list"),
    ({"imageHeight": "16"}, "imageHeight: expected an integer, got a string '16'"),
    ({"imageData": 5}, "imageData: expected a base64 string or null, got the number 5"),
    # a huge declared size is never allocated: the JSON and the image file must agree
    (
        {"imageHeight": 100000, "imageWidth": 100000},
        "imageWidth/imageHeight: the JSON says 100000x100000 pixels, "
        "the image file 'x.png' is 20x16",
    ),
    (
        {"imageHeight": 20, "imageWidth": 16},
        "imageWidth/imageHeight: the JSON says 16x20 pixels, "
        "the image file 'x.png' is 20x16 "
        "(turned: the image has no EXIF orientation that would turn it upright)",
    ),
]


@pytest.mark.parametrize(("fields", "expected"), LABELME_WRONG_TYPES)
def test_labelme_wrong_types_name_file_record_and_field(tmp_path, capsys, fields, expected):
    src = _labelme(tmp_path / "src", **fields)
    with open_project(tmp_path / "p", create=True) as p:
        message = _refused(p, "labelme", [src])
    assert f"{src}: {expected}" in message
    code, err = _cli(capsys, "import", "--project", tmp_path / "q", "--kind", "labelme", src)
    assert code == 2 and f"{src}: {expected}" in err
    assert not (tmp_path / "q").exists()


def test_labelme_wrong_types_through_cli(tmp_path, capsys):
    src = _labelme(tmp_path / "src", shapes=[{"label": "a", "points": {"x": 1}}])
    code, err = _cli(capsys, "import", "--project", tmp_path / "p", "--kind", "labelme", src)
    assert code == 2 and "shapes[0].points: expected a list, got an object" in err
    assert not (tmp_path / "p").exists()


# -- 17.5: deeply nested JSON ----------------------------------------------------------------


def _deep(depth=100_000) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_json_is_a_message_for_every_json_reader(tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text('{"images": ' + _deep() + "}")
    with pytest.raises(UserFacingError, match="nested too deeply"):
        read_json(deep)
    with open_project(tmp_path / "p", create=True) as p:
        assert "nested too deeply" in _refused(p, "coco", [deep])
        assert "nested too deeply" in _refused(p, "labelme", [deep])
        package = tmp_path / "pkg"
        package.mkdir()
        (package / "datapackage.json").write_text('{"resources": ' + _deep() + "}")
        assert "nested too deeply" in _refused(p, "datapackage", [package])
    # just under the parser's own limit is refused too (code walking it would fail there)
    medium = tmp_path / "medium.json"
    medium.write_text('{"a": ' + _deep(900) + "}")
    with pytest.raises(UserFacingError, match="nested too deeply"):
        read_json(medium)
    code, err = _cli(capsys, "import", "--project", tmp_path / "q", "--kind", "coco", deep)
    assert code == 2 and f"{deep}: " in err and "nested too deeply" in err
    code, err = _cli(capsys, "simulate", "--out", tmp_path / "sim", "--params", deep)
    assert code == 2 and "nested too deeply" in err
    _png(tmp_path / "imgs" / "a.png")
    code, err = _cli(
        capsys, "augment", "--pipeline", deep, "--input", tmp_path / "imgs",
        "--output", tmp_path / "aug", "--copies", 1,
    )  # fmt: skip
    assert code == 2 and "nested too deeply" in err


def test_nan_and_huge_integers_in_json_are_messages(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"sigma": NaN}')
    with pytest.raises(UserFacingError, match="NaN is not a JSON value"):
        read_json(path)
    path.write_text('{"n": ' + "9" * 5000 + "}")
    with pytest.raises(UserFacingError, match="not valid JSON"):
        read_json(path)


# -- 17.8: only regular files ------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this OS")
def test_fifo_or_folder_given_as_a_file_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / "annotations.json"
    os.mkfifo(fifo)
    sheet_fifo = tmp_path / "targets.csv"
    os.mkfifo(sheet_fifo)
    xlsx_fifo = tmp_path / "targets.xlsx"
    os.mkfifo(xlsx_fifo)
    with _within(20), open_project(tmp_path / "p", create=True) as p:
        for kind, source in (
            ("coco", fifo),
            ("labelme", fifo),
            ("sheet", sheet_fifo),
            ("sheet", xlsx_fifo),
            ("datapackage", fifo),
        ):
            message = _refused(p, kind, [source])
            assert str(source) in message and "named pipe (FIFO)" in message, (kind, message)
        with pytest.raises(UserFacingError, match="is a folder, not a regular file"):
            read_json(tmp_path)
        code, err = _cli(capsys, "import", "--project", tmp_path / "q", "--kind", "coco", fifo)
        assert code == 2 and "named pipe (FIFO)" in err
        _png(tmp_path / "imgs" / "a.png")
        code, err = _cli(
            capsys, "augment", "--pipeline", fifo, "--input", tmp_path / "imgs",
            "--output", tmp_path / "aug", "--copies", 1,
        )  # fmt: skip
        assert code == 2 and "named pipe (FIFO)" in err
        code, err = _cli(capsys, "simulate", "--out", tmp_path / "sim", "--params", fifo)
        assert code == 2 and "named pipe (FIFO)" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this OS")
def test_fifo_named_as_an_image_by_an_annotation_is_refused_at_once(tmp_path):
    src = _coco(tmp_path / "src")
    (tmp_path / "src" / "b.png").unlink()
    os.mkfifo(tmp_path / "src" / "b.png")
    with _within(20), open_project(tmp_path / "p", create=True) as p:
        # b.png is not a file: not found (is_file); a FIFO never blocks the import
        message = _refused(p, "coco", [src])
    assert "images[1].file_name" in message and "b.png" in message


# -- 17.10: files named by annotations stay inside their folder or archive --------------------


def _outside(tmp_path: Path) -> Path:
    return _png(tmp_path / "secret" / "host.png", seed=9)


def test_coco_file_names_outside_the_json_folder_are_refused(tmp_path):
    host = _outside(tmp_path)
    src = tmp_path / "data" / "coco"
    (src / "images").mkdir(parents=True)
    (src / "images" / "link.png").symlink_to(host)
    images = [
        {"id": 1, "file_name": "../../secret/host.png"},
        {"id": 2, "file_name": str(host)},
        {"id": 3, "file_name": "link.png"},  # a symlink in images/ that leads out
        {"id": 4, "file_name": "a.png"},
    ]
    path = _coco(src, images=images, annotations=[])
    with open_project(tmp_path / "p", create=True) as p:
        message = _refused(p, "coco", [path])
    assert "images[0].file_name: '../../secret/host.png' leads outside" in message
    assert f"images[1].file_name: {str(host)!r} is an absolute path" in message
    assert "images[2].file_name: 'link.png' leads outside" in message
    assert "images[3]" not in message


def test_labelme_and_sheet_paths_outside_their_folder_are_refused(tmp_path):
    host = _outside(tmp_path)
    src = _labelme(tmp_path / "lm", imagePath="../secret/host.png")
    with open_project(tmp_path / "p", create=True) as p:
        assert "imagePath: '../secret/host.png' leads outside" in _refused(p, "labelme", [src])
        _labelme(tmp_path / "lm", imagePath=str(host))
        assert "is an absolute path" in _refused(p, "labelme", [src])
        sheet = tmp_path / "sheet" / "targets.csv"
        _png(sheet.parent / "ok.png")
        sheet.write_text(f"image,t\nok.png,1\n../secret/host.png,2\n{host},3\n")
        message = _refused(p, "sheet", [sheet])
    assert f"{sheet}, row 3: image name: '../secret/host.png' leads outside" in message
    assert f"{sheet}, row 4: image name: {str(host)!r} is an absolute path" in message
    assert "row 2" not in message


def test_annotations_may_name_images_beside_them_inside_the_folder_given(tmp_path):
    """labelme/COCO files in annotations/ naming ../images/x.png: fine when the folder holding
    both is imported, refused (with the way out) when only the JSON is named."""
    root = tmp_path / "set"
    _png(root / "images" / "x.png", (16, 20))
    shapes = [{"label": "leaf", "points": [[2, 2], [9, 2], [9, 8]], "shape_type": "polygon"}]
    doc = {"shapes": shapes, "imagePath": "../images/x.png", "flags": {}}
    (root / "annotations").mkdir()
    (root / "annotations" / "x.json").write_text(json.dumps(doc))
    with open_project(tmp_path / "p", create=True) as p:
        message = _refused(p, "labelme", [root / "annotations" / "x.json"])
        assert "leads outside" in message and "import the folder that holds both" in message
        assert run_job(import_job(p, "labelme", [root])).added == 1
    coco = {
        "images": [{"id": 1, "file_name": "../images/x.png"}],
        "categories": [{"id": 1, "name": "leaf"}],
        "annotations": [],
    }
    (root / "annotations" / "x.json").unlink()
    (root / "annotations" / "coco.json").write_text(json.dumps(coco))
    with open_project(tmp_path / "q", create=True) as q:
        message = _refused(q, "coco", [root / "annotations" / "coco.json"])
        assert "leads outside" in message and "import the folder holding both" in message
        assert run_job(import_job(q, "coco", [root])).added == 1


def test_archive_annotations_cannot_reference_files_on_the_host(tmp_path, capsys):
    """A COCO file inside a zip names ../../x.png: nothing is referenced, nothing is copied on
    export, and the extracted copy is removed again."""
    host = _outside(tmp_path)
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(buffer, format="PNG")
    rel = os.path.relpath(host, tmp_path / "p" / "sources" / "data")
    doc = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 2, "file_name": rel, "width": 40, "height": 30},
        ],
        "categories": [{"id": 1, "name": "spot"}],
        "annotations": [],
    }
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("coco/instances.json", json.dumps(doc))
        zf.writestr("coco/a.png", buffer.getvalue())
    code, err = _cli(capsys, "import", "--project", tmp_path / "p", "--kind", "coco", archive)
    assert code == 2 and "images[1].file_name" in err and "leads outside" in err
    assert not (tmp_path / "p").exists()  # the project this import created is gone again
    # into an existing project: refused, and no extracted copy is left in sources/
    with open_project(tmp_path / "q", create=True) as q:
        message = _refused(q, "coco", [archive])
        assert "leads outside" in message
        assert not any((tmp_path / "q" / "sources").glob("*"))
    # a file name that climbs within the extracted archive is fine
    doc["images"][1]["file_name"] = "../a.png"
    doc["images"] = doc["images"][1:]
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("coco/sub/instances.json", json.dumps(doc))
        zf.writestr("coco/a.png", buffer.getvalue())
    with open_project(tmp_path / "r", create=True) as r:
        assert run_job(import_job(r, "coco", [archive])).added == 1
