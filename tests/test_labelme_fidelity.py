"""labelme files import as labelme itself reads them: every shape type drawn pixel for pixel as
labelme's ``shapes_to_label`` draws it (references made by labelme 6.3.1 from labelme's own
example files, see tests/data/labelme/README.md), ``__ignore__`` as the ignore region labelme2voc
writes as 255, the embedded ``imageData`` when no image is beside the JSON, Windows paths, EXIF
orientation; exports keep false flags and the ignore region."""

from __future__ import annotations

import base64
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

DATA = Path(__file__).parent / "data" / "labelme"


def _project(tmp_path, name="p"):
    return open_project(tmp_path / name, create=True)


def _only_item(project):
    (row,) = project.query(limit=None)
    return row


def _stored_path(project, item_id) -> Path:
    (stored,) = project.db.execute("SELECT path FROM items WHERE id = ?", (item_id,)).fetchone()
    return project.resolve(stored)


def _by_name(project, mask):
    """The mask as class names per pixel ("" for background)."""
    names = {int(v): n for v, n in project.metadata().get("mask_classes", {}).items()}
    table = np.array([names.get(v, "") for v in range(int(mask.max()) + 1)], dtype=object)
    return table[np.asarray(mask, dtype=np.int64)]


def _reference(stem: Path):
    """labelme 6.3.1's own label image of a file, as names per pixel."""
    values = json.loads(stem.with_suffix(".labelme.txt").read_text())
    label = np.asarray(Image.open(stem.with_suffix(".labelme.png")))
    table = np.array([""] * 256, dtype=object)
    for name, value in values.items():
        table[value] = "" if name == "_background_" else name
    return table[label]


def _copy(tmp_path, *names):
    out = tmp_path / "src"
    out.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(DATA / name, out / Path(name).name)
    return out


def test_every_labelme_shape_type_is_drawn_as_labelme_draws_it(tmp_path):
    """labelme's primitives example: circle, polygon, line, point, linestrip and mask regions
    equal labelme's own label image pixel for pixel; its rectangles become boxes; line and
    point shapes no longer refuse the file."""
    src = _copy(tmp_path, "primitives/primitives.json", "primitives/primitives.jpg")
    p = _project(tmp_path)
    report = run_job(import_job(p, "labelme", [src / "primitives.json"]))
    assert report.added == 1
    row = _only_item(p)
    ours = _by_name(p, p.mask(row["id"]))
    expected = _reference(DATA / "primitives" / "primitives")
    assert ours.shape == expected.shape == (450, 560)
    assert np.array_equal(ours, expected), f"{int((ours != expected).sum())} pixels differ"
    assert {"line", "point", "line_strip", "circle", "octagon"} <= set(np.unique(ours))
    boxes = sorted((b.label, b.x, b.y, b.w, b.h) for b in p.boxes(row["id"]))
    doc = json.loads((src / "primitives.json").read_text())
    rects = sorted(
        (s["label"], *np.min(s["points"], 0), *np.ptp(s["points"], 0))
        for s in doc["shapes"]
        if s["shape_type"] == "rectangle"
    )
    assert boxes == [(a, float(x), float(y), float(w), float(h)) for a, x, y, w, h in rects]


def test_ignore_region_is_the_255_of_labelme2voc(tmp_path):
    """labelme's semantic-segmentation example with an ``__ignore__`` polygon: our mask, read
    through the VOC class ids of labels.txt, is labelme2voc's own SegmentationClass PNG, the
    ignore region 255 in both; the project names the ignore value."""
    src = _copy(tmp_path, "semantic/2011_000003.json", "semantic/2011_000003.jpg")
    p = _project(tmp_path)
    run_job(import_job(p, "labelme", [src]))
    mask = p.mask(_only_item(p)["id"])
    meta = p.metadata()
    assert meta["mask_ignore"] == 255 and meta["mask_classes"]["255"] == "__ignore__"
    ids = [line.strip() for line in (DATA / "semantic" / "labels.txt").read_text().splitlines()]
    voc_id = {name: (i - 1) % 256 for i, name in enumerate(ids)}  # __ignore__ -1 -> 255
    names = _by_name(p, mask)
    ours = np.vectorize(lambda n: voc_id[n] if n else 0)(names)
    voc = np.asarray(Image.open(DATA / "semantic" / "SegmentationClass" / "2011_000003.png"))
    assert np.array_equal(ours, voc), f"{int((ours != voc).sum())} pixels differ"
    assert (voc == 255).sum() > 1000  # the ignore region is really there


def test_embedded_image_is_used_and_kept_in_the_project(tmp_path):
    """labelme's tutorial file embeds its image and names a file that does not exist: the
    embedded image becomes the item (stored in the project), with labelme's regions."""
    src = _copy(tmp_path, "tutorial/apc2016_obj3.json")
    p = _project(tmp_path)
    report = run_job(import_job(p, "labelme", [src / "apc2016_obj3.json"]))
    assert report.added == 1 and "embedded" in str(report)
    row = _only_item(p)
    doc = json.loads((src / "apc2016_obj3.json").read_text())
    embedded = np.asarray(Image.open(io.BytesIO(base64.b64decode(doc["imageData"]))))
    assert np.array_equal(p.image(row["id"]), embedded)
    stored = _stored_path(p, row["id"])
    assert stored.is_file() and p.root in stored.parents  # the project has its own copy
    assert not list((p.root / "sources").glob(".*.partial"))
    ours = _by_name(p, p.mask(row["id"]))
    expected = _reference(DATA / "tutorial" / "apc2016_obj3")
    assert np.array_equal(ours, expected), f"{int((ours != expected).sum())} pixels differ"
    # importing it again finds the same stored image: one item, updated
    again = run_job(import_job(p, "labelme", [src / "apc2016_obj3.json"]))
    assert (again.added, again.updated, len(p)) == (0, 1, 1)


def test_windows_image_path_with_backslashes(tmp_path):
    """A file saved by labelme on Windows names ``..\\images\\primitives.jpg``."""
    root = tmp_path / "set"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    shutil.copy(DATA / "primitives" / "primitives.jpg", root / "images")
    doc = json.loads((DATA / "primitives" / "primitives.json").read_text())
    doc["imagePath"] = "..\\images\\primitives.jpg"
    (root / "annotations" / "primitives.json").write_text(json.dumps(doc))
    p = _project(tmp_path)
    assert run_job(import_job(p, "labelme", [root])).added == 1
    row = _only_item(p)
    assert _stored_path(p, row["id"]).samefile(root / "images" / "primitives.jpg")
    assert np.array_equal(
        _by_name(p, p.mask(row["id"])), _reference(DATA / "primitives/primitives")
    )


def test_absolute_windows_image_path_finds_the_image_beside_the_json(tmp_path):
    """A file saved on Windows with the image on another drive names ``D:\\shots\\...``:
    the image of that name beside the JSON is used, and the report says so; the absolute path
    itself is never opened."""
    src = _copy(tmp_path, "primitives/primitives.json", "primitives/primitives.jpg")
    doc = json.loads((src / "primitives.json").read_text())
    doc["imagePath"] = "D:\\shots\\2024\\primitives.jpg"
    (src / "primitives.json").write_text(json.dumps(doc))
    p = _project(tmp_path)
    report = run_job(import_job(p, "labelme", [src]))
    assert report.added == 1 and "is absolute; used primitives.jpg beside the JSON" in str(report)
    row = _only_item(p)
    assert _stored_path(p, row["id"]).samefile(src / "primitives.jpg")
    (src / "primitives.jpg").unlink()
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(_project(tmp_path, "q"), "labelme", [src]))
    assert "is an absolute path" in str(caught.value)


def _polygon_label(height, width, points):
    """What labelme's ``shape_to_mask`` makes of a polygon (PIL ImageDraw, outline and fill)."""
    image = Image.new("L", (width, height))
    ImageDraw.Draw(image).polygon([tuple(p) for p in points], outline=1, fill=1)
    return np.asarray(image).astype(bool)


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_is_applied_as_labelme_shows_the_image(tmp_path, orientation):
    """A JPEG whose EXIF orientation turns it: labelme shows (and the JSON declares) the
    upright image; the item gets exactly those pixels (PIL's exif_transpose, an independent
    implementation of the EXIF rule), the polygon lands where it was drawn."""
    rng = np.random.default_rng(orientation)
    raw = rng.integers(0, 255, (30, 44, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(raw).save(src / "phone.jpg", exif=exif.tobytes(), quality=95)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(src / "phone.jpg")))
    height, width = upright.shape[:2]
    points = [[3.2, 4.7], [width - 5.5, 2.0], [width - 9.0, height - 3.3], [6.0, height - 8.0]]
    doc = {
        "version": "5.5.0",
        "flags": {},
        "shapes": [{"label": "leaf", "points": points, "shape_type": "polygon"}],
        "imagePath": "phone.jpg",
        "imageData": None,
        "imageHeight": height,
        "imageWidth": width,
    }
    (src / "phone.json").write_text(json.dumps(doc))
    p = _project(tmp_path)
    run_job(import_job(p, "labelme", [src]))
    row = _only_item(p)
    assert np.array_equal(p.image(row["id"]), upright)
    assert np.array_equal(p.mask(row["id"]) == 1, _polygon_label(height, width, points))
    if orientation in (5, 6, 7, 8):  # turned by 90 degrees: the raw size is refused
        doc["imageHeight"], doc["imageWidth"] = width, height
        (src / "phone.json").write_text(json.dumps(doc))
        with pytest.raises(UserFacingError) as caught:
            run_job(import_job(_project(tmp_path, "q"), "labelme", [src]))
        message = str(caught.value)
        assert str(src / "phone.json") in message
        assert f"the JSON says {height}x{width}" in message and f"is {width}x{height}" in message
        assert f"EXIF orientation {orientation}" in message


def test_shapes_drawn_like_labelme_at_odd_positions(tmp_path):
    """Fractional, negative and out-of-image coordinates, overlapping shapes (the later wins),
    every region type; compared with labelme's documented drawing (PIL ImageDraw: polygon and
    circle with outline, lines 10 px wide, points radius 5)."""
    h, w = 41, 57
    shapes = [
        ("a", "polygon", [[-3.5, -2.2], [30.7, 1.49], [22.5, 30.5], [2.51, 20.0]]),
        ("b", "circle", [[40.3, 20.6], [52.9, 27.1]]),
        ("c", "line", [[0.4, 39.6], [56.6, 3.5]]),
        ("d", "linestrip", [[5.5, 5.5], [20.25, 35.75], [70.0, 38.0]]),
        ("e", "point", [[12.5, 33.5]]),
        ("a", "oriented_rectangle", [[44, 2], [55, 8], [51, 15], [40, 9]]),
        ("b", "point", [[-2.0, 50.0]]),  # wholly outside: draws nothing
    ]
    expected = np.zeros((h, w), dtype=object)
    expected[:] = ""
    for label, kind, pts in shapes:
        image = Image.new("L", (w, h))
        draw = ImageDraw.Draw(image)
        xy = [tuple(p) for p in pts]
        if kind == "circle":
            (cx, cy), (px, py) = xy
            d = math.sqrt((cx - px) ** 2 + (cy - py) ** 2)
            draw.ellipse(((cx - d, cy - d), (cx + d, cy + d)), outline=1, fill=1)
        elif kind in ("line", "linestrip"):
            draw.line(xy=xy, fill=1, width=10)
        elif kind == "point":
            (cx, cy), r = xy[0], 5
            draw.ellipse(((cx - r, cy - r), (cx + r, cy + r)), outline=1, fill=1)
        else:
            draw.polygon(xy=xy, outline=1, fill=1)
        expected[np.asarray(image) > 0] = label
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.zeros((h, w), np.uint8)).save(src / "x.png")
    doc = {
        "shapes": [{"label": a, "shape_type": k, "points": pts} for a, k, pts in shapes],
        "imagePath": "x.png",
        "imageHeight": h,
        "imageWidth": w,
        "flags": {},
    }
    (src / "x.json").write_text(json.dumps(doc))
    p = _project(tmp_path)
    run_job(import_job(p, "labelme", [src]))
    ours = _by_name(p, p.mask(_only_item(p)["id"]))
    assert np.array_equal(ours, expected), f"{int((ours != expected).sum())} pixels differ"


def test_false_flags_survive_export(tmp_path):
    """labelme's classification example: flags __ignore__ false, cat true, dog false; the
    export writes all three back, and the item's class is cat."""
    src = _copy(tmp_path, "classification/0001.json", "classification/0001.jpg")
    p = _project(tmp_path)
    run_job(import_job(p, "labelme", [src]))
    assert _only_item(p)["label"] == "cat"
    run_job(export_job(p, "labelme", tmp_path / "out"))
    (exported,) = (tmp_path / "out").rglob("*.json")
    doc = json.loads(exported.read_text())
    assert doc["flags"] == {"__ignore__": False, "cat": True, "dog": False}
    q = _project(tmp_path, "q")
    run_job(import_job(q, "labelme", [tmp_path / "out"]))
    assert _only_item(q)["label"] == "cat"


def test_several_true_flags_are_named_not_turned_into_no_class_silently(tmp_path):
    """labelme's classification example with two flags checked (multi-label): no one class
    can be the item's; it comes in unlabelled and the report names the flags."""
    src = _copy(tmp_path, "classification/0001.json", "classification/0001.jpg")
    doc = json.loads((src / "0001.json").read_text())
    doc["flags"]["dog"] = True  # now cat and dog
    (src / "0001.json").write_text(json.dumps(doc))
    p = _project(tmp_path)
    report = run_job(import_job(p, "labelme", [src]))
    assert _only_item(p)["label"] is None
    assert any(
        "0001.json: flags 'cat', 'dog' are all true: no one class, the item comes in "
        "unlabelled" in note
        for note in report.warnings
    ), report.warnings


def test_shape_flags_and_descriptions_are_named_as_left_out(tmp_path):
    """labelme 5 gives each shape ``flags`` and a ``description``; the project keeps
    neither, so the report names the shapes that carried one."""
    src = _copy(tmp_path, "primitives/primitives.json", "primitives/primitives.jpg")
    doc = json.loads((src / "primitives.json").read_text())
    doc["shapes"][0]["description"] = "partly hidden"
    doc["shapes"][2]["flags"] = {"occluded": True}
    (src / "primitives.json").write_text(json.dumps(doc))
    p = _project(tmp_path)
    report = run_job(import_job(p, "labelme", [src]))
    assert any(
        "primitives.json: the description or flags of shapes[0], shapes[2] left out (the "
        "project keeps neither)" in note
        for note in report.warnings
    ), report.warnings


def test_ignore_region_exported_as_ignore_and_read_back(tmp_path):
    """The ignore region goes out as a ``mask`` shape labelled ``__ignore__`` and comes back
    as the ignore region: pixels, classes and the ignore value equal."""
    src = _copy(tmp_path, "semantic/2011_000003.json", "semantic/2011_000003.jpg")
    p = _project(tmp_path)
    run_job(import_job(p, "labelme", [src]))
    run_job(export_job(p, "labelme", tmp_path / "out"))
    (exported,) = (tmp_path / "out").rglob("*.json")
    labels = [s["label"] for s in json.loads(exported.read_text())["shapes"]]
    assert labels.count("__ignore__") == 1
    q = _project(tmp_path, "q")
    run_job(import_job(q, "labelme", [tmp_path / "out"]))
    assert q.metadata()["mask_ignore"] == 255
    mp, mq = p.mask(_only_item(p)["id"]), q.mask(_only_item(q)["id"])
    assert np.array_equal(_by_name(p, mp), _by_name(q, mq))


def _bad(tmp_path, shapes, image=True, **fields):
    src = tmp_path / "bad"
    src.mkdir(exist_ok=True)
    if image:
        Image.fromarray(np.zeros((16, 20), np.uint8)).save(src / "x.png")
    doc = {"shapes": shapes, "imagePath": "x.png", "imageHeight": 16, "imageWidth": 20}
    doc.update(fields)
    (src / "x.json").write_text(json.dumps(doc))
    return src / "x.json"


@pytest.mark.parametrize(
    ("shape", "reason"),
    [
        (
            {"label": "e", "shape_type": "line", "points": [[1, 1], [2, 2], [3, 3]]},
            "a line needs 2",
        ),
        ({"label": "e", "shape_type": "point", "points": [[1, 1], [2, 2]]}, "a point needs 1"),
        ({"label": "e", "shape_type": "linestrip", "points": [[1, 1]]}, "at least 2 points"),
        ({"label": "e", "shape_type": "polygon", "points": [[1, 1], [2, 2]]}, "at least 3 points"),
        (
            {"label": "e", "shape_type": "circle", "points": [[10 - 5e8, 8], [10, 8]]},
            "a circle of radius",
        ),
    ],
)
def test_bad_shape_refused_naming_file_shape_and_reason(tmp_path, shape, reason):
    ok = {"label": "ok", "shape_type": "polygon", "points": [[1, 1], [9, 1], [9, 9]]}
    path = _bad(tmp_path, [ok, shape])
    p = _project(tmp_path)
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(p, "labelme", [path]))
    message = str(caught.value)
    assert f"{path}: shapes[1]" in message and reason in message
    assert len(p) == 0


def test_unusable_embedded_image_refused_and_nothing_kept(tmp_path):
    """No image beside the JSON and imageData that is not an image: refused, naming the file
    and both reasons; the project holds no item and no stored image."""
    junk = base64.b64encode(b"not an image at all").decode()
    path = _bad(tmp_path, [], image=False, imageData=junk)
    p = _project(tmp_path)
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(p, "labelme", [path]))
    message = str(caught.value)
    assert f"{path}: imagePath 'x.png'" in message and "imageData: not an image" in message
    assert len(p) == 0
    assert not (p.root / "sources").exists()


def test_refused_file_removes_embedded_images_staged_for_the_others(tmp_path):
    """Two files: one with a usable embedded image, one broken. Nothing is imported, and the
    embedded image is not left in the project."""
    src = _copy(tmp_path, "tutorial/apc2016_obj3.json")
    _bad(src.parent / "src", [{"label": "e", "shape_type": "line", "points": [[1, 1]]}])
    p = _project(tmp_path)
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(p, "labelme", [src]))
    assert "shapes[0]" in str(caught.value)
    assert len(p) == 0
    assert not (p.root / "sources").exists()


def test_ignore_region_in_instance_masks(tmp_path):
    """Objects told apart by group_id plus an ``__ignore__`` region: the objects are instance
    masks, the ignore region gets 65535 (not an object id), and both survive export and
    re-import."""
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(src / "x.png")
    square = [[2, 2], [12, 2], [12, 12], [2, 12]]
    shapes = [
        {"label": "cell", "group_id": 1, "shape_type": "polygon", "points": square},
        {"label": "cell", "group_id": 2, "shape_type": "circle", "points": [[28, 8], [33, 8]]},
        {"label": "__ignore__", "shape_type": "polygon", "points": [[5, 20], [35, 20], [20, 28]]},
    ]
    doc = {"shapes": shapes, "imagePath": "x.png", "imageHeight": 30, "imageWidth": 40}
    (src / "x.json").write_text(json.dumps(doc))
    p = _project(tmp_path)
    run_job(import_job(p, "labelme", [src]))
    meta = p.metadata()
    assert meta["mask_instances"] == "cell" and meta["mask_ignore"] == 65535
    mask = p.mask(_only_item(p)["id"])
    assert set(np.unique(mask)) == {0, 1, 2, 65535}
    run_job(export_job(p, "labelme", tmp_path / "out"))
    (exported,) = (tmp_path / "out").rglob("*.json")
    out = json.loads(exported.read_text())["shapes"]
    assert sorted((s["label"], s["group_id"]) for s in out) == [
        ("__ignore__", None),
        ("cell", 1),
        ("cell", 2),
    ]
    q = _project(tmp_path, "q")
    run_job(import_job(q, "labelme", [tmp_path / "out"]))
    assert np.array_equal(q.mask(_only_item(q)["id"]), mask)
    assert q.metadata()["mask_ignore"] == 65535


def test_embedded_image_wins_over_a_resized_file_beside_it(tmp_path):
    """The image beside the JSON was resized after annotating, the JSON embeds the original:
    labelme shows the embedded one, so do we, and the report says why."""
    src = tmp_path / "src"
    src.mkdir()
    original = (DATA / "primitives" / "primitives.jpg").read_bytes()
    Image.open(io.BytesIO(original)).resize((280, 225)).save(src / "primitives.jpg")
    doc = json.loads((DATA / "primitives" / "primitives.json").read_text())
    doc["imageData"] = base64.b64encode(original).decode()
    (src / "primitives.json").write_text(json.dumps(doc))
    p = _project(tmp_path)
    report = run_job(import_job(p, "labelme", [src]))
    assert "the JSON says 560x450 pixels" in str(report) and "280x225" in str(report)
    row = _only_item(p)
    assert np.array_equal(p.image(row["id"]), np.asarray(Image.open(io.BytesIO(original))))
    expected = _reference(DATA / "primitives" / "primitives")
    assert np.array_equal(_by_name(p, p.mask(row["id"])), expected)


def test_mask_shape_values_are_read_as_labelme_reads_them(tmp_path):
    """A ``mask`` shape saved as a palette PNG whose index 1 is black: labelme takes the
    indices (1 = inside), not the colours."""
    region = np.zeros((6, 8), np.uint8)
    region[1:5, 2:7] = 1
    png = Image.frombytes("P", (8, 6), region.tobytes())
    png.putpalette([0, 0, 0] * 256)  # every index black
    buffer = io.BytesIO()
    png.save(buffer, format="PNG")
    shape = {
        "label": "spot",
        "shape_type": "mask",
        "points": [[3, 4], [10, 9]],
        "mask": base64.b64encode(buffer.getvalue()).decode(),
    }
    path = _bad(tmp_path, [shape])
    p = _project(tmp_path)
    run_job(import_job(p, "labelme", [path]))
    expected = np.zeros((16, 20), bool)
    expected[4 + 1 : 4 + 5, 3 + 2 : 3 + 7] = True
    assert np.array_equal(p.mask(_only_item(p)["id"]) > 0, expected)
