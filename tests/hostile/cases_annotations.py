"""Hostile COCO, labelme and sheet files (CSV / XLSX)."""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.hostile.blobs import (
    _xlsx,
    dict_nested,
    gray8,
    nested,
    png_bytes,
    write_png,
)
from tests.hostile.registry import (
    BUILDERS,
    JSON_ENTRIES,
    case,
)

# ---------------------------------------------------------------------------------------------
# COCO


def coco_doc() -> dict[str, Any]:
    return {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 32, "height": 32},
            {"id": 2, "file_name": "b.png", "width": 32, "height": 32},
        ],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [2, 2, 10, 10],
                "area": 100,
                "iscrowd": 0,
                "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]],
            },
            {
                "id": 2,
                "image_id": 2,
                "category_id": 2,
                "bbox": [4, 4, 8, 8],
                "area": 64,
                "iscrowd": 0,
                "segmentation": [[4, 4, 12, 4, 12, 12, 4, 12]],
            },
        ],
        "categories": [{"id": 1, "name": "spot"}, {"id": 2, "name": "crack"}],
    }


def coco_images(d: Path) -> None:
    write_png(d / "images/a.png", gray8(10))
    write_png(d / "images/b.png", gray8(11))


def coco_case(
    name: str,
    cls: int,
    mutate: Callable[[dict], Any] | None = None,
    *,
    text=None,
    expect="refuse",
    entries=JSON_ENTRIES,
    **kw,
):
    """A COCO file built from the good one by ``mutate(doc)`` (or given as raw ``text``)."""

    @case(
        name,
        cls,
        "coco",
        entries,
        expect=expect,
        source="coco.json",
        import_kind="coco",
        images="images",
        **kw,
    )
    def build(d: Path, corpus: Path) -> None:
        coco_images(d)
        if text is not None:
            (d / "coco.json").write_text(text(corpus) if callable(text) else text)
            return
        doc = coco_doc()
        if mutate is not None:
            doc = mutate(doc) or doc
        (d / "coco.json").write_text(json.dumps(doc, allow_nan=True))

    return build


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """``_set("annotations.0.bbox", 5)`` sets that field of the COCO document."""

    def mutate(doc: dict) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


coco_case("coco-good", 0, expect="accept", entries=JSON_ENTRIES + ("roundtrip-export",))
for _n, (_p, _v) in {
    "images-number": ("images", 5),
    "images-of-numbers": ("images", [1, 2]),
    "image-id-list": ("images.0.id", [1]),
    "image-width-string": ("images.0.width", "32px"),
    "image-file-name-number": ("images.0.file_name", 12),
    "image-file-name-dict": ("images.0.file_name", {"a": 1}),
    "annotations-dict": ("annotations", {"a": 1}),
    "annotation-string": ("annotations.0", "x"),
    "segmentation-number": ("annotations.0.segmentation", 7),
    "segmentation-strings": ("annotations.0.segmentation", [["a", "b", "c", "d", "e", "f"]]),
    "bbox-dict": ("annotations.0.bbox", {"x": 1}),
    "bbox-short": ("annotations.0.bbox", [1, 2]),
    "category-id-list": ("annotations.0.category_id", [1]),
    "categories-dict": ("categories", {"id": 1}),
    "category-name-list": ("categories.0.name", ["spot"]),
    "image-id-bool": ("annotations.0.image_id", True),
    "image-id-huge": ("annotations.0.image_id", 10**30),
    "iscrowd-string": ("annotations.0.iscrowd", "yes"),
    "rle-counts-dict": ("annotations.0.segmentation", {"size": [32, 32], "counts": {"a": 1}}),
}.items():
    # the message names the file, the record and the field (the last name in the path)
    _field = [part for part in _p.split(".") if not part.isdigit()][-1]
    coco_case(f"coco-{_n}", 4, _set(_p, _v), check={"field": _field})

coco_case("coco-deep-nesting", 5, text=nested(100000))
coco_case(
    "coco-deep-segmentation",
    5,
    text=lambda corpus: (
        json.dumps(coco_doc())
        .replace("[[2, 2, 12, 2, 12, 2, 12, 12, 2, 12]]", "null")
        .replace(
            '"segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]]', '"segmentation": ' + nested(50000)
        )
    ),
)
coco_case(
    "coco-deep-dict",
    5,
    text=lambda corpus: json.dumps(coco_doc())[:-1] + ', "info": ' + dict_nested(50000) + "}",
)
coco_case(
    "coco-nan-coords",
    11,
    _set("annotations.0.segmentation", [[2, 2, float("nan"), 2, 12, 12, 2, 12]]),
)
coco_case(
    "coco-null-coords", 11, _set("annotations.0.segmentation", [[2, 2, None, 2, 12, 12, 2, 12]])
)
coco_case("coco-inf-bbox", 11, _set("annotations.0.bbox", [2, 2, float("inf"), 10]))
coco_case(
    "coco-huge-number",
    11,
    text=lambda corpus: json.dumps(coco_doc()).replace(
        '"bbox": [2, 2, 10, 10]', '"bbox": [2, 2, 1e400, 10]'
    ),
)
coco_case(
    "coco-category-zero",
    11,
    lambda doc: (
        (
            doc["categories"].append({"id": 0, "name": "zero"}),
            doc["annotations"][0].update(category_id=0),
        )
        and None
    ),
    expect="either",
    check={"masks_nonempty": True},
    note="category 0 is the background value: refuse, or map it so the mask is not empty",
)
coco_case(
    "coco-category-65536",
    11,
    lambda doc: (
        (
            doc["categories"].append({"id": 70000, "name": "big"}),
            doc["annotations"][0].update(category_id=70000),
        )
        and None
    ),
    expect="either",
    check={"masks_nonempty": True},
)
coco_case(
    "coco-rle-negative",
    11,
    _set("annotations.0.segmentation", {"size": [32, 32], "counts": [10, -5, 20, 1003]}),
)
coco_case(
    "coco-rle-overflow",
    11,
    _set("annotations.0.segmentation", {"size": [32, 32], "counts": [10, 5000]}),
)
coco_case(
    "coco-rle-garbage-string",
    11,
    _set("annotations.0.segmentation", {"size": [32, 32], "counts": "\x7f\x00zz~~"}),
)
coco_case(
    "coco-size-mismatch",
    12,
    _set("images.0.width", 40),
    names=("a.png",),
    check={"message_not": ["the file is 32x32"]},
    note="JSON says 40x32, the file is 32x32: the message must say both sizes differ",
)
coco_case(
    "coco-huge-declared",
    3,
    lambda doc: doc["images"][0].update(width=100000, height=100000),
    note="image claims 100000x100000 (the file is 32x32) with one polygon",
)
coco_case(
    "coco-missing-image", 11, _set("images.0.file_name", "nothere.png"), names=("nothere.png",)
)
coco_case("coco-truncated-image", 11, names=("a.png",))
coco_case(
    "coco-dotdot",
    10,
    _set("images.0.file_name", "../../host/secret.png"),
    names=("secret.png", "host"),
)
coco_case(
    "coco-absolute",
    10,
    text=lambda corpus: json.dumps(coco_doc()).replace(
        '"a.png"', json.dumps(str(corpus / "host/secret.png"))
    ),
    names=("secret.png",),
    note="an annotation file names an image outside its folder (DESIGN: resolve inside it)",
)
coco_case("coco-not-json", 12, text="{this is not json")
coco_case("coco-empty-file", 12, text="")
coco_case("coco-null", 4, text="null")
coco_case("coco-top-list", 4, text="[1, 2, 3]")
coco_case("coco-fifo", 8, fifo=True)
coco_case("coco-duplicate-ids", 12, lambda doc: doc["images"][1].update(id=1))
coco_case(
    "coco-label-injection",
    13,
    lambda doc: doc["categories"][0].update(name='=HYPERLINK("http://x","y")'),
    expect="accept",
    entries=("roundtrip-export",),
    check={"csv_formula": True},
)
coco_case(
    "coco-label-escape",
    13,
    lambda doc: doc["categories"][0].update(name="spot\x1b]0;owned\x07\x1b[2J"),
    expect="either",
    entries=("cli-import", "roundtrip-export"),
    check={"no_escape": True},
)


# the truncated image of coco-truncated-image replaces a.png after the good images are written
_orig_trunc = BUILDERS["coco-truncated-image"]


def _truncated_png(d: Path, corpus: Path) -> None:
    _orig_trunc(d, corpus)
    data = (d / "images/a.png").read_bytes()
    (d / "images/a.png").write_bytes(data[: len(data) // 2])


BUILDERS["coco-truncated-image"] = _truncated_png


# ---------------------------------------------------------------------------------------------
# labelme


def labelme_doc(**changes: Any) -> dict[str, Any]:
    doc = {
        "version": "5.2.1",
        "flags": {},
        "imagePath": "img.png",
        "imageData": None,
        "imageHeight": 32,
        "imageWidth": 32,
        "shapes": [
            {
                "label": "spot",
                "points": [[2, 2], [12, 2], [12, 12], [2, 12]],
                "group_id": None,
                "shape_type": "polygon",
                "flags": {},
            }
        ],
    }
    doc.update(changes)
    return doc


def labelme_case(name, cls, doc=None, *, text=None, expect="refuse", entries=JSON_ENTRIES, **kw):
    @case(
        name, cls, "labelme", entries, expect=expect, source="img.json", import_kind="labelme", **kw
    )
    def build(d: Path, corpus: Path) -> None:
        write_png(d / "img.png", gray8(12))
        if text is not None:
            (d / "img.json").write_text(text(corpus) if callable(text) else text)
        else:
            (d / "img.json").write_text(
                json.dumps(doc if doc is not None else labelme_doc(), allow_nan=True)
            )

    return build


def _shape(**changes: Any) -> list[dict]:
    s = labelme_doc()["shapes"][0]
    s.update(changes)
    return [s]


labelme_case(
    "labelme-good",
    0,
    expect="accept",
    entries=JSON_ENTRIES + ("roundtrip-export",),
    export_kind="labelme",
)
_LABELME_FIELD = {
    "shapes-number": "shapes",
    "shapes-dict": "shapes",
    "shape-string": "shapes",
    "points-dict": "points",
    "points-strings": "points",
    "points-flat": "points",
    "label-number": "label",
    "label-list": "label",
    "shape-type-number": "shape_type",
    "height-string": "imageHeight",
    "image-path-number": "imagePath",
    "flags-list": "flags",
    "group-id-string": "group_id",
    "circle-one-point": "points",
}
for _n, _doc in {
    "shapes-number": labelme_doc(shapes=3),
    "shapes-dict": labelme_doc(shapes={"a": 1}),
    "shape-string": labelme_doc(shapes=["polygon"]),
    "points-dict": labelme_doc(shapes=_shape(points={"x": 1})),
    "points-strings": labelme_doc(shapes=_shape(points=[["a", "b"], ["c", "d"], ["e", "f"]])),
    "points-flat": labelme_doc(shapes=_shape(points=[1, 2, 3, 4, 5, 6])),
    "label-number": labelme_doc(shapes=_shape(label=5)),
    "label-list": labelme_doc(shapes=_shape(label=["a"])),
    "shape-type-number": labelme_doc(shapes=_shape(shape_type=1)),
    "height-string": labelme_doc(imageHeight="32"),
    "image-path-number": labelme_doc(imagePath=7),
    "flags-list": labelme_doc(flags=["a"]),
    "group-id-string": labelme_doc(shapes=_shape(group_id="x")),
    "circle-one-point": labelme_doc(shapes=_shape(shape_type="circle", points=[[5, 5]])),
}.items():
    # a number where a string is expected (and the reverse) may be read leniently if the
    # mask comes out right
    lenient = _n in ("label-number", "height-string")
    labelme_case(
        f"labelme-{_n}",
        4,
        _doc,
        expect="either" if lenient else "refuse",
        check={"masks_nonempty": True, "field": _LABELME_FIELD[_n]}
        if lenient
        else {"field": _LABELME_FIELD[_n]},
    )

labelme_case("labelme-deep-nesting", 5, text=nested(100000))
labelme_case(
    "labelme-deep-points",
    5,
    text=lambda corpus: json.dumps(labelme_doc()).replace(
        '"points": [[2, 2], [12, 2], [12, 12], [2, 12]]', '"points": ' + nested(50000)
    ),
)
labelme_case(
    "labelme-nan-points",
    11,
    labelme_doc(shapes=_shape(points=[[2, 2], [float("nan"), 2], [12, 12]])),
)
labelme_case(
    "labelme-null-points", 11, labelme_doc(shapes=_shape(points=[[2, 2], [None, 2], [12, 12]]))
)
labelme_case(
    "labelme-inf-points",
    11,
    labelme_doc(shapes=_shape(points=[[2, 2], [float("inf"), 2], [12, 12]])),
)
labelme_case(
    "labelme-huge-declared",
    3,
    labelme_doc(imageHeight=100000, imageWidth=100000),
    note="claims 100000x100000 for a 32x32 file, with one polygon",
)
labelme_case(
    "labelme-dotdot",
    10,
    labelme_doc(imagePath="../host/secret.png"),
    names=("secret.png", "img.json"),
)
labelme_case(
    "labelme-imagedata-garbage",
    11,
    labelme_doc(imageData="!!!not base64!!!"),
    expect="either",
    note="the image file is there; the broken imageData may be refused or not used",
)
labelme_case(
    "labelme-imagedata-bomb",
    3,
    text=lambda corpus: json.dumps(
        labelme_doc(
            imageData=base64.b64encode(png_bytes(30000, 30000, zeros=True)).decode(),
            imagePath="x.png",
        )
    ),
    note="imageData is a 900 MB-decoded PNG",
)
labelme_case("labelme-not-json", 12, text="{nope")
labelme_case("labelme-fifo", 8, fifo=True)
labelme_case(
    "labelme-label-injection",
    13,
    labelme_doc(shapes=_shape(label="+cmd|' /C calc'!A0")),
    expect="accept",
    entries=("roundtrip-export",),
    check={"csv_formula": True},
    export_kind="sheet",
)


# ---------------------------------------------------------------------------------------------
# sheets (CSV / XLSX)


def sheet_case(
    name, cls, rows=None, *, raw=None, suffix=".csv", expect="refuse", entries=JSON_ENTRIES, **kw
):
    @case(
        name,
        cls,
        "sheet",
        entries,
        expect=expect,
        source=f"sheet{suffix}",
        import_kind="sheet",
        **kw,
    )
    def build(d: Path, corpus: Path) -> None:
        write_png(d / "a.png", gray8(13))
        write_png(d / "b.png", gray8(14))
        if raw is not None:
            (d / f"sheet{suffix}").write_bytes(raw(d, corpus) if callable(raw) else raw)
            return
        if rows is None:  # a FIFO made at run time
            return
        with open(d / f"sheet{suffix}", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)

    return build


_ROWS = [["file", "thickness", "label"], ["a.png", "1.5", "thin"], ["b.png", "3.0", "thick"]]
sheet_case(
    "sheet-good",
    0,
    _ROWS,
    expect="accept",
    entries=JSON_ENTRIES + ("roundtrip-export",),
    export_kind="sheet",
)
sheet_case("sheet-huge-cell", 12, [*_ROWS[:2], ["b.png", "3.0", "x" * 200_000]])
sheet_case(
    "sheet-formula-labels",
    13,
    [_ROWS[0], ["a.png", "1.5", "=1+1"], ["b.png", "3.0", "@SUM(A1)"]],
    expect="accept",
    entries=("roundtrip-export",),
    check={"csv_formula": True},
    export_kind="sheet",
)
sheet_case(
    "sheet-windows-1252",
    12,
    raw="file,thickness,label\na.png,1.5,d\xe9j\xe0\nb.png,3.0,caf\xe9\n".encode("cp1252"),
    expect="either",
    note="Windows-1252 bytes: read correctly or refused with the encoding named",
)
sheet_case("sheet-nul-bytes", 12, raw=b"file,thickness\na.png,1\x00.5\nb.png,3.0\n")
sheet_case("sheet-nan-target", 11, [_ROWS[0], ["a.png", "nan", "x"], ["b.png", "inf", "y"]])
sheet_case(
    "sheet-dotdot",
    10,
    [["file", "t"], ["../host/secret.png", "1"]],
    names=("secret.png", "sheet.csv"),
    expect="either",
)
sheet_case("sheet-missing-file", 11, [["file", "t"], ["nothere.png", "1"]], names=("nothere.png",))
sheet_case("sheet-fifo", 8, fifo=True)


def _xlsx_far_cell(d: Path, corpus: Path) -> bytes:
    """A small XLSX whose sheet claims and holds a cell at XFD1048576 (the last one)."""
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<dimension ref="A1:XFD1048576"/><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>file</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>t</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>a.png</t></is></c><c r="B2"><v>1</v></c></row>'
        '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
        "</sheetData></worksheet>"
    )
    return _xlsx(sheet)


sheet_case(
    "xlsx-far-cell",
    3,
    raw=_xlsx_far_cell,
    suffix=".xlsx",
    note="5 KB XLSX with one cell at XFD1048576",
)
sheet_case("xlsx-garbage", 12, raw=b"PK\x03\x04" + bytes(200), suffix=".xlsx")
sheet_case(
    "xlsx-shared-string-bomb",
    3,
    suffix=".xlsx",
    raw=lambda d, c: _xlsx(
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
        'spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr">'
        "<is><t>file</t></is>"
        "</c></row>"
        + "".join(
            f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>{"y" * 40}</t></is></c></row>'
            for r in range(2, 3)
        )
        + "</sheetData></worksheet>"
    ),
    expect="either",
    note="a sheet naming a file that is not there",
)
