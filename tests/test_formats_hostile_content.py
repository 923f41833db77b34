"""Hostile import and export files, continued (issue 17, items 11, 12, 13 and part of 3):
images and coordinates accepted silently before, exports of files changed since import,
messages that name the input, injection through labels and archive names, and sheets that
would exhaust memory. Each is refused with the file, the record and the field named, through
the core jobs and through the CLI."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from formats_hostile_helpers import _cli, _coco, _labelme, _png, _refused
from PIL import Image

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

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
    # the label is no class name (control characters): refused before its shape type is looked at
    assert code == 2 and "shapes[0].label" in err and "control character" in err
    assert "\x1b" not in err and "\x07" not in err
    assert "\\x1b]0;owned\\x07" in err  # shown, escaped
    doc["shapes"][0]["label"] = "leaf"
    src.write_text(json.dumps(doc))
    code, err = _cli(capsys, "import", "--project", tmp_path / "p", "--kind", "labelme", src)
    assert code == 2 and "unsupported shape type" in err
    assert "\x1b" not in err and "\x07" not in err
    assert "weird\\x1b]0;owned\\x07" in err  # shown, escaped
    folder = tmp_path / "f"
    _png(folder / ("cat" + escape) / "a.png")
    # a class folder whose name holds control characters is no class name (the rule of every
    # import, catalog.classes.class_name_problem): refused, and named escaped
    code, err = _cli(capsys, "import", "--project", tmp_path / "q", "--kind", "imagefolder", folder)
    assert code == 2 and "control character" in err
    assert "\x1b" not in err and "cat\\x1b" in err
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
