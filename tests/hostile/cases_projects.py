"""Hostile pipelines, simulation parameters, Data Packages, and projects broken after import."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.hostile.blobs import (
    dict_nested,
    good_image,
    gray8,
    nested,
    write_json,
    write_png,
    write_tiff,
)
from tests.hostile.cases_annotations import coco_doc
from tests.hostile.registry import (
    JSON_ENTRIES,
    PROJECT_ENTRIES,
    case,
)

# ---------------------------------------------------------------------------------------------
# pipelines (augment --pipeline), simulation params (simulate --params), Data Package


_PIPE = {"format": "qbi-augment", "version": 1, "seed": 0, "options": {"horizontal_flip": True}}


def pipeline_case(name, cls, text: str | None = None, *, expect="refuse", fifo=False, **kw):
    @case(
        name,
        cls,
        "pipeline",
        ("cli-augment",),
        expect=expect,
        source="pipeline.json",
        fifo=fifo,
        **kw,
    )
    def build(d: Path, corpus: Path) -> None:
        write_tiff(d / "images/a.tif", good_image(30))
        if not fifo:
            (d / "pipeline.json").write_text(json.dumps(_PIPE) if text is None else text)

    return build


pipeline_case("pipeline-good", 0, expect="accept")
pipeline_case("pipeline-deep-nesting", 5, nested(100000))
pipeline_case(
    "pipeline-deep-options",
    5,
    json.dumps(_PIPE).replace('"horizontal_flip": true', '"horizontal_flip": ' + nested(50000)),
)
pipeline_case("pipeline-options-list", 4, json.dumps({**_PIPE, "options": [1, 2]}))
pipeline_case("pipeline-seed-string", 4, json.dumps({**_PIPE, "seed": "abc"}))
pipeline_case(
    "pipeline-rotation-nan", 11, json.dumps({**_PIPE, "options": {"rotation_range": float("nan")}})
)
pipeline_case(
    "pipeline-huge-crop",
    3,
    json.dumps({**_PIPE, "options": {"random_crop": [10**9, 10**9]}}),
    expect="refuse",
)
pipeline_case("pipeline-fifo", 8, fifo=True)


def params_case(name, cls, text: str | None = None, *, fifo=False, expect="refuse"):
    @case(name, cls, "params", ("cli-simulate",), expect=expect, source="params.json", fifo=fifo)
    def build(d: Path, corpus: Path) -> None:
        if not fifo:
            (d / "params.json").write_text(text or "{}")

    return build


params_case("params-deep-nesting", 5, nested(100000))
params_case("params-deep-dict", 5, dict_nested(50000))
params_case("params-wrong-type", 4, json.dumps({"height": "big", "width": [1]}))
params_case("params-huge-size", 3, json.dumps({"height": 10**6, "width": 10**6}))
params_case("params-fifo", 8, fifo=True)


@case(
    "datapackage-deep-nesting",
    5,
    "json",
    JSON_ENTRIES,
    source="pkg/datapackage.json",
    import_kind="datapackage",
)
def _(d, c):
    (d / "pkg").mkdir()
    (d / "pkg/datapackage.json").write_text(dict_nested(50000))


@case(
    "datapackage-wrong-types",
    4,
    "json",
    JSON_ENTRIES,
    source="pkg/datapackage.json",
    import_kind="datapackage",
)
def _(d, c):
    (d / "pkg").mkdir()
    (d / "pkg/datapackage.json").write_text(json.dumps({"resources": {"path": 5}, "name": ["x"]}))


# ---------------------------------------------------------------------------------------------
# projects broken after import: export, thumbnails, baseline, augment, import into them


def _make_project(d: Path) -> Path:
    """A small project made by the app itself: six labelled images (two classes) with masks."""
    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.formats import import_job
    from qbi_desktop.core.jobs import run_job

    src = d / "src"
    doc: dict[str, Any] = {"images": [], "annotations": [], "categories": coco_doc()["categories"]}
    for i, name in enumerate(("a.png", "b.png", "c.png", "d.png", "e.png", "f.png")):
        write_png(src / name, gray8(40 + i))
        doc["images"].append({"id": i + 1, "file_name": name, "width": 32, "height": 32})
        doc["annotations"].append(
            {
                "id": i + 1,
                "image_id": i + 1,
                "category_id": 1 + i % 2,
                "bbox": [1, 1, 5, 5],
                "area": 25,
                "iscrowd": 0,
                "segmentation": [[1, 1, 6, 1, 6, 6, 1, 6]],
            }
        )
    write_json(src / "coco.json", doc)
    root = d / "project"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "coco", [src / "coco.json"], images_dir=src))
        ids = project.ids()
        project.set_label(ids[0::2], "spot")
        project.set_label(ids[1::2], "crack")
    return root


def project_case(
    name,
    cls,
    mutate: Callable[[Path], Any],
    *,
    expect="refuse",
    names=(),
    entries=PROJECT_ENTRIES,
    **kw,
):
    @case(name, cls, "project", entries, expect=expect, source="project", names=names, **kw)
    def build(d: Path, corpus: Path) -> None:
        root = _make_project(d)
        mutate(root)

    return build


def _item_file(root: Path, name: str) -> Path:
    return root.parent / "src" / name


def _mask_files(root: Path) -> list[Path]:
    return sorted((root / "masks").glob("*"))


project_case("project-good", 0, lambda r: None, expect="accept")
project_case(
    "project-image-deleted",
    11,
    lambda r: _item_file(r, "b.png").unlink(),
    names=("b.png",),
    # thumbnails: refused, or a placeholder said to be unreadable (the browser shows it)
    expect_by_entry={"cli-import": "either", "thumbnails": "either", "window-project": "either"},
    check={"warn_names": ["b.png", "unreadable"], "warn_entries": ["thumbnails"]},
)
project_case(
    "project-image-changed",
    11,
    lambda r: write_png(_item_file(r, "b.png"), gray8(99)),
    names=("b.png",),
    expect="either",
    check={"warn_names": ["b.png"], "warn_entries": ["cli-export"]},
    note="same size, other pixels: the catalog hash no longer matches; export must say so",
)
project_case(
    "project-image-garbled",
    11,
    lambda r: _item_file(r, "b.png").write_bytes(b"\x89PNG garbage"),
    names=("b.png",),
    expect_by_entry={"cli-import": "either", "cli-baseline": "either", "thumbnails": "either"},
    check={"warn_names": ["b.png", "unreadable"], "warn_entries": ["thumbnails"]},
)
project_case(
    "project-mask-deleted",
    7,
    lambda r: _mask_files(r)[0].unlink(),
    names=("masks", ".tif"),
    entries=("cli-export", "cli-baseline"),
    expect_by_entry={"cli-baseline": "either"},
)
project_case(
    "project-mask-garbled",
    7,
    lambda r: _mask_files(r)[0].write_bytes(b"II*\0garbage"),
    names=("masks", ".tif"),
    entries=("cli-export", "cli-baseline"),
    expect_by_entry={"cli-baseline": "either"},
)
project_case(
    "project-catalog-zero-bytes",
    12,
    lambda r: next(r.glob("*.sqlite")).write_bytes(b"") if list(r.glob("*.sqlite")) else None,
    names=("project",),
    check={"keep_catalog": True},
)


def _corrupt_catalog(root: Path) -> None:
    db = next(p for p in sorted(root.iterdir()) if p.suffix in (".sqlite", ".db", ".qbi"))
    data = bytearray(db.read_bytes())
    for off in range(4096, min(len(data), 4096 * 3), 7):  # pages 2-3: schema and data
        data[off] = 0xA5
    db.write_bytes(bytes(data))


project_case(
    "project-catalog-corrupt-page",
    7,
    _corrupt_catalog,
    names=("project", "catalog"),
    expect="either",
    expect_by_entry={"cli-import": "refuse"},
    note="reading may miss the damaged pages; writing into the catalog must be refused",
)


def _foreign_catalog(root: Path) -> None:
    import sqlite3

    db = next(p for p in sorted(root.iterdir()) if p.suffix in (".sqlite", ".db", ".qbi"))
    db.unlink()
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE photos (id INTEGER, path TEXT)")
    con.commit()
    con.close()


project_case(
    "project-catalog-foreign",
    6,
    _foreign_catalog,
    names=("project",),
    note="a SQLite file of another tool under the catalog's name",
)


@case(
    "export-out-under-file",
    12,
    "project",
    ("cli-export",),
    source="project",
    names=("afile",),
    check={"out": "afile/sub"},
)
def _(d, c):
    _make_project(d)
    (d / "afile").write_text("x")


@case(
    "export-out-symlink",
    12,
    "project",
    ("cli-export",),
    source="project",
    names=("link",),
    check={"out": "link", "allow": ["target"]},
    expect="either",
)
def _(d, c):
    _make_project(d)
    (d / "target").mkdir()
    (d / "link").symlink_to(d / "target")


@case(
    "project-npz-export-empty-labels",
    12,
    "project",
    ("cli-export",),
    source="project",
    export_kind="npz",
    expect="either",
    names=("project",),
)
def _(d, c):
    root = _make_project(d)
    from qbi_desktop.core.catalog import open_project

    with open_project(root) as project:
        project.set_label(project.ids(), None)
