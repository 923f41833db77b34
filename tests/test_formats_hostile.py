"""Hostile import and export files (issue 17, items 4, 5, 8, 10, 11, 13 and parts of 3 and 12):
each class of bad input is refused with the file, the record and the field named, through the
core import/export jobs and through ``qbi-desktop import`` / ``export`` (exit code 2, no
traceback, nothing half-written in the project), never a hang or an unbounded allocation."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.cli import main as cli_main
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.jsonfile import read_json


def _png(path: Path, shape=(30, 40), seed=1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _coco(folder: Path, images=None, annotations=None, categories=None, name="instances.json"):
    """A COCO file over a.png (40x30) and b.png, with the given records replacing the good ones."""
    _png(folder / "a.png", seed=1)
    _png(folder / "b.png", seed=2)
    doc = {
        "images": images
        if images is not None
        else [
            {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "b.png", "width": 40, "height": 30},
        ],
        "categories": categories
        if categories is not None
        else [{"id": 1, "name": "spot"}, {"id": 2, "name": "crack"}],
        "annotations": annotations
        if annotations is not None
        else [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [2, 3, 10, 5],
                "iscrowd": 0,
                "segmentation": [[2, 3, 12, 3, 12, 8, 2, 8]],
            }
        ],
    }
    path = folder / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def _labelme(folder: Path, shapes=None, **fields) -> Path:
    _png(folder / "x.png", (16, 20), seed=3)
    doc = {
        "shapes": shapes
        if shapes is not None
        else [{"label": "leaf", "points": [[2, 2], [9, 2], [9, 8]], "shape_type": "polygon"}],
        "imagePath": "x.png",
        "imageHeight": 16,
        "imageWidth": 20,
        "flags": {},
    }
    doc.update(fields)
    path = folder / "x.json"
    path.write_text(json.dumps(doc))
    return path


def _refused(project, kind, sources, **options) -> str:
    """The message of a refused import; the project must be unchanged (empty)."""
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(project, kind, [str(s) for s in sources], **options))
    assert len(project) == 0
    return str(caught.value)


def _cli(capsys, *argv) -> tuple[int, str]:
    code = cli_main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.err


@contextlib.contextmanager
def _within(seconds: int):
    """Fail (instead of hanging the suite) if the block blocks longer than ``seconds``."""

    def timeout(signum, frame):
        raise TimeoutError(f"blocked for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


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


# -- 17.11: silent acceptance --------------------------------------------------------------------


def test_truncated_or_undecodable_images_are_refused_at_import(tmp_path, capsys):
    src = _coco(tmp_path / "src")
    data = (tmp_path / "src" / "b.png").read_bytes()
    (tmp_path / "src" / "b.png").write_bytes(data[: len(data) // 2])  # header intact, data cut
    with open_project(tmp_path / "p", create=True) as p:
        message = _refused(p, "coco", [src])
    assert str(tmp_path / "src" / "b.png") in message and "images[1]" in message
    folder = tmp_path / "folder" / "cat"
    _png(folder / "ok.png")
    (folder / "bad.png").write_bytes(data[: len(data) // 2])
    code, err = _cli(
        capsys, "import", "--project", tmp_path / "q", "--kind", "imagefolder", folder.parent
    )
    assert code == 2 and str(folder / "bad.png") in err
    assert not (tmp_path / "q").exists()


NON_FINITE = [
    ({"bbox": [float("nan"), 3, 10, 5]}, "annotations[0].bbox[0]: the number nan is not a finite"),
    ({"bbox": [2, 3, float("inf"), 5]}, "annotations[0].bbox[2]: the number inf is not a finite"),
    ({"bbox": [2, None, 10, 5]}, "annotations[0].bbox[1]: expected a number, got null"),
    ({"bbox": [2, 3, 1e300, 5]}, "annotations[0].bbox[2]: the number 1e+300 is too large"),
    (
        {"iscrowd": 1, "segmentation": [[2, 3, float("nan"), 3, 12, 8]]},
        "annotations[0].segmentation[0][2]: the number nan is not a finite number",
    ),
    (
        {"iscrowd": 1, "segmentation": [[2, 3, None, 3, 12, 8]]},
        "annotations[0].segmentation[0][2]: expected a number, got null",
    ),
    (
        {"iscrowd": 1, "segmentation": {"size": [30, 40], "counts": [5, -3, 1198]}},
        "annotations[0].segmentation.counts[1]: the number -3 is out of range",
    ),
    (
        {"iscrowd": 1, "segmentation": {"size": [30, 40], "counts": [1100, 300]}},
        "annotations[0].segmentation: bad RLE (RLE covers more than the image's 1200 pixels)",
    ),
]


@pytest.mark.parametrize(("fields", "expected"), NON_FINITE)
def test_nan_null_infinite_coordinates_and_negative_runs_are_refused(
    tmp_path, capsys, fields, expected
):
    annotation = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 5], **fields}
    src = tmp_path / "src"
    path = _coco(src, annotations=[annotation])
    # json.dumps writes NaN/Infinity tokens, as some tools do
    with open_project(tmp_path / "p", create=True) as p:
        message = _refused(p, "coco", [path])
    assert f"{path}: {expected}" in message
    code, err = _cli(capsys, "import", "--project", tmp_path / "q", "--kind", "coco", path)
    assert code == 2 and f"{path}: {expected}" in err
    assert not (tmp_path / "q").exists()


def test_compressed_rle_with_negative_runs_is_refused(tmp_path):
    from qbi_desktop.core.formats.coco import counts_to_rle_string

    counts = counts_to_rle_string([10, 5, 3, 2])  # third run delta-coded: 3 - 10 = -7
    bad = counts_to_rle_string([10, 5, -20, 1205])
    assert counts != bad
    annotation = {
        "image_id": 1,
        "category_id": 1,
        "iscrowd": 1,
        "segmentation": {"size": [30, 40], "counts": bad},
    }
    path = _coco(tmp_path / "src", annotations=[annotation])
    with open_project(tmp_path / "p", create=True) as p:
        message = _refused(p, "coco", [path])
    assert "annotations[0].segmentation: compressed RLE decodes to a negative run (-20" in message


def test_labelme_nan_points_refused(tmp_path):
    shapes = [{"label": "a", "points": [[1, 2], [float("nan"), 4], [5, 6]]}]
    src = _labelme(tmp_path / "lm", shapes=shapes)
    with open_project(tmp_path / "p", create=True) as p:
        message = _refused(p, "labelme", [src])
    assert f"{src}: shapes[0].points[1][0]: the number nan is not a finite number" in message


def test_category_zero_regions_are_kept_not_painted_as_background(tmp_path):
    categories = [{"id": 0, "name": "cell"}, {"id": 1, "name": "spot"}]
    annotations = [
        {"image_id": 1, "category_id": 0, "iscrowd": 1,
         "segmentation": [[2, 3, 12, 3, 12, 8, 2, 8]]},
        {"image_id": 1, "category_id": 1, "iscrowd": 1,
         "segmentation": [[20, 10, 30, 10, 30, 20, 20, 20]]},
    ]  # fmt: skip
    path = _coco(tmp_path / "src", annotations=annotations, categories=categories)
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "coco", [path]))
        ids = {row["name"]: row["id"] for row in p.query(limit=None)}
        mask = p.mask(ids["a.png"])
        assert mask is not None
        classes = p.metadata()["mask_classes"]
        values = {name: int(v) for v, name in classes.items()}
        assert set(values) == {"cell", "spot"} and values["cell"] != 0
        assert (mask == values["cell"]).sum() > 0 and mask[5, 5] == values["cell"]
        assert mask[15, 25] == values["spot"]
        assert any("category 0" in w for w in report.warnings)
        # and they survive an export
        run_job(export_job(p, "coco", tmp_path / "out"))
    doc = json.loads((tmp_path / "out" / "unassigned" / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in doc["categories"]}
    assert sorted(names[a["category_id"]] for a in doc["annotations"]) == ["cell", "spot"]


def _exported_project(tmp_path) -> Path:
    src = _coco(tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        run_job(import_job(p, "coco", [src]))
    return tmp_path / "p"


def test_export_refuses_files_changed_or_missing_since_import(tmp_path, capsys):
    project = _exported_project(tmp_path)
    _png(tmp_path / "src" / "a.png", seed=42)  # same size, other pixels
    (tmp_path / "src" / "b.png").unlink()
    for kind in ("coco", "imagefolder", "labelme"):
        out = tmp_path / f"out-{kind}"
        code, err = _cli(capsys, "export", "--project", project, "--kind", kind, "--out", out)
        assert code == 2, kind
        assert f"{tmp_path / 'src' / 'a.png'}: changed since it was imported" in err
        assert f"{tmp_path / 'src' / 'b.png'}: image of item" in err and "file not found" in err
        assert not out.exists() and not list(tmp_path.glob(f".out-{kind}*"))


def test_export_with_deleted_or_garbled_mask_file_is_a_message(tmp_path, capsys):
    project = _exported_project(tmp_path)
    with open_project(project) as p:
        (mask_path,) = [p.resolve(r[0]) for r in p.db.execute("SELECT path FROM masks")]
    mask_path.write_bytes(b"II*\x00garbage")
    code, err = _cli(
        capsys, "export", "--project", project, "--kind", "coco", "--out", tmp_path / "o"
    )
    assert code == 2 and str(mask_path) in err and "mask of item" in err
    mask_path.unlink()
    code, err = _cli(
        capsys, "export", "--project", project, "--kind", "masks", "--out", tmp_path / "o"
    )
    assert code == 2 and str(mask_path) in err and "file not found" in err
    assert not (tmp_path / "o").exists()


def test_a_box_that_became_infinite_never_reaches_an_exported_json(tmp_path, capsys):
    project = _exported_project(tmp_path)
    with open_project(project) as p:
        item = p.query(limit=None)[0]["id"]
        p.db.execute("UPDATE boxes SET w = ? WHERE item_id = ?", (float("inf"), item))
        p.db.commit()
    for kind in ("coco", "labelme", "datapackage"):
        out = tmp_path / f"o-{kind}"
        code, err = _cli(capsys, "export", "--project", project, "--kind", kind, "--out", out)
        assert code == 2 and "NaN or infinite" in err, kind
        assert not out.exists()


def test_coco_export_does_not_decode_images_to_learn_their_size(tmp_path, monkeypatch):
    project = _exported_project(tmp_path)
    import qbi_desktop.core.catalog.images as images

    def no_decoding(path):
        raise AssertionError(f"decoded {path}")

    monkeypatch.setattr(images, "read_image_file", no_decoding)
    with open_project(project) as p:
        monkeypatch.setattr(type(p), "_pixels", lambda *a: no_decoding(a))
        run_job(export_job(p, "coco", tmp_path / "coco"))
        run_job(export_job(p, "labelme", tmp_path / "labelme"))
    doc = json.loads((tmp_path / "coco" / "unassigned" / "annotations.json").read_text())
    assert {(i["width"], i["height"]) for i in doc["images"]} == {(40, 30)}


# -- 17.12: messages that name the input, not the catalog --------------------------------------


def test_one_image_annotated_twice_names_the_annotation_files_not_the_catalog(tmp_path):
    src = _labelme(tmp_path / "lm")
    (tmp_path / "lm" / "y.json").write_text(src.read_text())
    with open_project(tmp_path / "p", create=True) as p:
        message = _refused(p, "labelme", [tmp_path / "lm"])
        assert f"{tmp_path / 'lm' / 'y.json'}: image" in message and "also annotated by" in message
        assert "constraint" not in message and "catalog" not in message
        train = _coco(tmp_path / "coco", name="train.json")
        val = tmp_path / "coco" / "val.json"
        val.write_text(train.read_text())
        message = _refused(p, "coco", [train, val])
        assert f"{val}: image" in message and "constraint" not in message
        doubled = _coco(
            tmp_path / "c2",
            images=[
                {"id": 1, "file_name": "a.png"},
                {"id": 2, "file_name": "./a.png", "width": 41},
            ],
            annotations=[],
        )
        message = _refused(p, "coco", [doubled])
        assert (
            "images[1].file_name: './a.png' (41x30 pixels) is the same file as images[0] "
            "(40x30 pixels)" in message
        ), message


def test_json_size_that_disagrees_names_both_sizes_sensibly(tmp_path):
    path = _coco(tmp_path / "src", images=[{"id": 1, "file_name": "a.png", "width": 41}])
    with open_project(tmp_path / "p", create=True) as p:
        message = _refused(p, "coco", [path])
    assert "images[0] (a.png): the JSON says 41x30 pixels, the image file is 40x30" in message


# -- 17.13: injection ----------------------------------------------------------------------------

HOSTILE_LABELS = ['=HYPERLINK("http://x","y")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]


def _labelled_project(tmp_path) -> Path:
    root = tmp_path / "folder"
    for n in range(len(HOSTILE_LABELS)):
        _png(root / f"c{n}" / f"img{n}.png", seed=n)
    with open_project(tmp_path / "p", create=True) as p:
        run_job(import_job(p, "imagefolder", [root]))
        for row in p.query(limit=None):
            n = int(row["name"][3])
            p.set_label([row["id"]], HOSTILE_LABELS[n])
            p.set_targets(row["id"], {"=t": float(n) - 1.5})
    return tmp_path / "p"


def test_exported_sheets_quote_formula_labels_and_our_import_undoes_it(tmp_path):
    project = _labelled_project(tmp_path)
    with open_project(project) as p:
        run_job(export_job(p, "sheet", tmp_path / "csv"))
        run_job(export_job(p, "sheet", tmp_path / "xlsx", xlsx=True))
        run_job(export_job(p, "datapackage", tmp_path / "pkg"))
        before = sorted((r["label"], r["targets"]["=t"]) for r in p.query(limit=None))
    rows = list(csv.reader(io.StringIO((tmp_path / "csv" / "targets.csv").read_text())))
    cells = [c for row in rows for c in row]
    assert "'=t" in rows[0]  # the target's name too
    for label in HOSTILE_LABELS:
        assert "'" + label in cells and label not in cells
    assert "-1.5" in cells  # numbers stay numbers
    items = (tmp_path / "pkg" / "items.csv").read_text()
    assert all(not line.startswith(("=", "+", "-", "@")) for line in items.splitlines())
    import openpyxl

    book = openpyxl.load_workbook(tmp_path / "xlsx" / "targets.xlsx")
    types = {c.data_type for row in book.active.iter_rows() for c in row}
    assert "f" not in types  # no formula cell
    for kind, source in (
        ("sheet", tmp_path / "csv" / "targets.csv"),
        ("sheet", tmp_path / "xlsx" / "targets.xlsx"),
        ("datapackage", tmp_path / "pkg"),
    ):
        with open_project(tmp_path / f"back-{kind}-{source.suffix}", create=True) as q:
            run_job(import_job(q, kind, [source]))
            after = sorted((r["label"], r["targets"]["=t"]) for r in q.query(limit=None))
            assert after == before, source


def test_terminal_escape_codes_in_labels_are_not_printed_raw(tmp_path, capsys):
    escape = "\x1b]0;owned\x07\x1b[2J"
    src = _labelme(tmp_path / "lm", shapes=[{"label": "a", "points": "x"}])
    doc = json.loads(src.read_text())
    doc["shapes"][0]["label"] = "leaf" + escape
    doc["shapes"][0]["shape_type"] = "weird" + escape
    doc["shapes"][0]["points"] = [[1, 2], [3, 4], [5, 6]]
    src.write_text(json.dumps(doc))
    code, err = _cli(capsys, "import", "--project", tmp_path / "p", "--kind", "labelme", src)
    assert code == 2 and "unsupported shape type" in err
    assert "\x1b" not in err and "\x07" not in err
    assert "\\x1b]0;owned\\x07" in err  # shown, escaped
    folder = tmp_path / "f"
    _png(folder / ("cat" + escape) / "a.png")
    code = cli_main(
        ["import", "--project", str(tmp_path / "q"), "--kind", "imagefolder", str(folder)]
    )
    assert code == 0
    code = cli_main(["info", "--project", str(tmp_path / "q"), "--min-count", "5"])
    out = capsys.readouterr()
    assert "\x1b" not in out.out + out.err and "cat\\x1b" in out.out
    # every command's output, not only import/export: a file name with escapes in a message
    hostile = tmp_path / ("pipe" + escape + ".json")
    code, err = _cli(
        capsys, "augment", "--pipeline", hostile, "--input", folder,
        "--output", tmp_path / "aug", "--copies", 1,
    )  # fmt: skip
    assert code == 2 and "pipe\\x1b]0;owned" in err and "\x1b" not in err


def test_archive_names_equal_after_unicode_normalisation_collide(tmp_path):
    import unicodedata

    from qbi_desktop.core.archives import UnsafeArchiveError, extract_job

    nfc, nfd = unicodedata.normalize("NFC", "café.png"), unicodedata.normalize("NFD", "café.png")
    assert nfc != nfd
    archive = tmp_path / "names.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"d/{nfc}", b"one")
        zf.writestr(f"d/{nfd}", b"two")
        zf.writestr("d/" + "x" * 300 + ".png", b"long")
    with pytest.raises(UnsafeArchiveError) as caught:
        run_job(extract_job(archive, tmp_path / "out"))
    text = str(caught.value)
    assert "a second entry for the same file" in text and "Unicode normalisation" in text
    assert "longer than 255 bytes" in text
    assert not (tmp_path / "out").exists()


def test_archive_with_a_long_multibyte_name_extracts(tmp_path):
    """An archive name of 240 bytes (120 two-byte characters): the extraction folder's name is
    cut by bytes, not characters, so it and its temporary sibling fit the file system."""
    from qbi_desktop.core.archives import extract_job

    archive = tmp_path / ("é" * 120 + ".zip")
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.txt", b"x")
    done = run_job(extract_job(archive, tmp_path / "out"))
    assert (done.folder / "a.txt").read_bytes() == b"x"
    assert len(done.folder.name.encode()) <= 120


# -- 17.3 / 17.12: sheets that would exhaust memory, huge cells ---------------------------------


def _far_cell_xlsx(path: Path, lie: bool) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["image", "t"])
    sheet.append(["a.png", 1.0])
    sheet["XFD1048576"] = 7
    book.save(path)
    if lie:  # the declared dimension says A1:B2; the far cell is still there
        with zipfile.ZipFile(path) as zf:
            parts = {n: zf.read(n) for n in zf.namelist()}
        name = "xl/worksheets/sheet1.xml"
        parts[name] = parts[name].replace(b'ref="A1:XFD1048576"', b'ref="A1:B2"')
        assert b'ref="A1:B2"' in parts[name]
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for n, data in parts.items():
                zf.writestr(n, data)
    return path


@pytest.mark.parametrize("lie", [False, True], ids=["declared", "dimension-lies"])
def test_xlsx_with_one_far_cell_is_refused_quickly_within_bounded_memory(tmp_path, lie):
    sheet = _far_cell_xlsx(tmp_path / "far.xlsx", lie)
    assert sheet.stat().st_size < 10_000
    _png(tmp_path / "a.png")
    script = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
        from qbi_desktop.cli import main
        sys.exit(main(["import", "--project", {str(tmp_path / "p")!r}, "--kind", "sheet",
                       {str(sheet)!r}]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr
    assert done.returncode == 2, done.stderr
    assert str(sheet) in done.stderr
    # declared: refused from the dimension at once; a lying dimension: by the bounded reading
    assert ("XFD1048576" in done.stderr) if not lie else ("more than 1000000 rows" in done.stderr)
    assert not (tmp_path / "p").exists()


def test_csv_cell_over_the_field_limit_is_a_message(tmp_path, capsys):
    _png(tmp_path / "a.png")
    sheet = tmp_path / "targets.csv"
    sheet.write_text("image,t\na.png,1\n" + '"' + "x" * 200_000 + '",2\n')
    code, err = _cli(capsys, "import", "--project", tmp_path / "p", "--kind", "sheet", sheet)
    assert code == 2 and f"{sheet}, line" in err and "longer than 131072 characters" in err
    assert not (tmp_path / "p").exists()
    # the same when a library raised the csv module's process-wide limit (frictionless does)
    limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)
    try:
        code, err = _cli(capsys, "import", "--project", tmp_path / "p", "--kind", "sheet", sheet)
    finally:
        csv.field_size_limit(limit)
    assert code == 2 and "longer than 131072 characters" in err


def test_planned_masks_wait_compressed_so_large_imports_fit_in_memory(tmp_path):
    """A COCO import checks everything before writing, so every image's mask waits until the
    one transaction: 30 masks of 2000x2000 are 120 MB as arrays; compressed they are not."""
    import tracemalloc

    from qbi_desktop.core.formats.packed import PackedMask

    side, count = 2000, 30
    src = tmp_path / "big"
    src.mkdir()
    Image.fromarray(np.zeros((side, side), np.uint8)).save(src / "0.png")
    data = (src / "0.png").read_bytes()
    images, annotations = [], []
    for i in range(count):
        (src / f"{i}.png").write_bytes(data[:-12] + data[-12:])  # same pixels, own file
        images.append({"id": i + 1, "file_name": f"{i}.png", "width": side, "height": side})
        square = [10 + i, 10, 1500, 10, 1500, 1500, 10 + i, 1500]
        annotations.append(
            {"image_id": i + 1, "category_id": 1, "iscrowd": 1, "segmentation": [square]}
        )
    doc = {"images": images, "categories": [{"id": 1, "name": "cell"}], "annotations": annotations}
    (src / "c.json").write_text(json.dumps(doc))
    with open_project(tmp_path / "p", create=True) as p:
        tracemalloc.start()
        try:
            run_job(import_job(p, "coco", [src / "c.json"]))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 60e6, f"peak {peak / 1e6:.0f} MB"
        masks = [p.mask(row["id"]) for row in p.query(limit=None)]
    assert len(masks) == count and all(m[700, 700] == 1 and m[5, 5] == 0 for m in masks)
    mask = np.arange(12, dtype=np.uint16).reshape(3, 4)
    assert np.array_equal(np.asarray(PackedMask(mask)), mask)


def test_names_no_file_system_holds_are_refused_not_crashes(tmp_path, capsys):
    long = "n" * 300 + ".png"
    sheet = tmp_path / "s" / "targets.csv"
    _png(sheet.parent / "ok.png")
    sheet.write_text(f"image,t\nok.png,1\n{long},2\n")
    code, err = _cli(capsys, "import", "--project", tmp_path / "p", "--kind", "sheet", sheet)
    assert code == 2 and f"{sheet}, row 3" in err and "longer than 255 bytes" in err
    path = _coco(
        tmp_path / "c", images=[{"id": 1, "file_name": long}, {"id": 2, "file_name": "a\x00.png"}]
    )
    code, err = _cli(capsys, "import", "--project", tmp_path / "p", "--kind", "coco", path)
    assert code == 2 and "images[0].file_name" in err and "longer than 255 bytes" in err
    assert "images[1].file_name: contains a NUL character" in err
    assert not (tmp_path / "p").exists()
