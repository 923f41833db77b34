"""Mask folders: 16-bit masks export as ImageJ TIFFs (Fiji's label images), 8-bit masks as
greyscale PNGs every reader takes at face value; PASCAL VOC's 255 and labelme's ``__ignore__``
come in as the project's ignore region and go out as 255 again."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

DATA = Path(__file__).parent / "data" / "labelme"


def _set(root: Path, masks: dict[str, np.ndarray], suffix=".png") -> Path:
    """images/<name>.png (random pixels) and masks/<name>_mask<suffix>."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for name, mask in masks.items():
        image = rng.integers(0, 255, mask.shape, dtype=np.uint8)
        Image.fromarray(image).save(root / "images" / f"{name}.png")
        if suffix == ".tif":
            tifffile.imwrite(root / "masks" / f"{name}_mask.tif", mask)
        else:
            Image.fromarray(mask).save(root / "masks" / f"{name}_mask.png")
    return root


def _masks(project) -> dict[str, np.ndarray]:
    return {Path(row["name"]).stem: project.mask(row["id"]) for row in project.query(limit=None)}


def test_16_bit_masks_export_as_imagej_tiffs(tmp_path):
    mask = np.zeros((24, 30), np.uint16)
    mask[2:9, 3:12] = 300
    mask[12:20, 15:28] = 65000
    p = open_project(tmp_path / "p", create=True)
    run_job(import_job(p, "masks", [_set(tmp_path / "src", {"a": mask}, ".tif")]))
    run_job(export_job(p, "masks", tmp_path / "out"))
    (written,) = (tmp_path / "out" / "masks").iterdir()
    assert written.suffix == ".tif"
    with tifffile.TiffFile(written) as tif:
        assert tif.is_imagej
        read = tif.asarray()
    assert read.dtype == np.uint16 and np.array_equal(read, mask)


def test_8_bit_masks_export_as_png_read_the_same_by_pil_and_opencv(tmp_path):
    mask = np.zeros((24, 30), np.uint8)
    mask[2:9, 3:12] = 1
    mask[12:20, 15:28] = 7
    p = open_project(tmp_path / "p", create=True)
    run_job(import_job(p, "masks", [_set(tmp_path / "src", {"a": mask})]))
    run_job(export_job(p, "masks", tmp_path / "out"))
    (written,) = (tmp_path / "out" / "masks").iterdir()
    assert written.suffix == ".png"
    assert np.array_equal(np.asarray(Image.open(written)), mask)
    assert np.array_equal(cv2.imread(str(written), cv2.IMREAD_UNCHANGED), mask)


def test_voc_255_is_the_ignore_region_and_goes_out_as_255(tmp_path):
    """labelme2voc's own VOC mask (palette PNG, person 15, bottle 5, ignore 255): the project
    keeps 255 as its ignore value; the export writes 255, and its re-import knows it."""
    root = tmp_path / "voc"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    shutil.copy(DATA / "semantic" / "2011_000003.jpg", root / "images")
    voc_png = DATA / "semantic" / "SegmentationClass" / "2011_000003.png"
    shutil.copy(voc_png, root / "masks")
    voc = np.asarray(Image.open(voc_png))
    p = open_project(tmp_path / "p", create=True)
    run_job(import_job(p, "masks", [root]))
    meta = p.metadata()
    assert meta["mask_ignore"] == 255 and meta["mask_classes"]["255"] == "__ignore__"
    assert np.array_equal(_masks(p)["2011_000003"], voc)
    run_job(export_job(p, "masks", tmp_path / "out"))
    (written,) = (tmp_path / "out" / "masks").iterdir()
    assert np.array_equal(np.asarray(Image.open(written)), voc)
    q = open_project(tmp_path / "q", create=True)
    run_job(import_job(q, "masks", [tmp_path / "out"]))
    assert q.metadata()["mask_ignore"] == 255
    assert np.array_equal(_masks(q)["2011_000003"], voc)


def test_labelme2voc_class_names_name_the_classes(tmp_path):
    """labelme2voc writes class_names.txt (line n = value n, ``_background_`` first) beside
    SegmentationClass/: the VOC mask's values come in with those names, not as bare numbers."""
    root = tmp_path / "voc"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    shutil.copy(DATA / "semantic" / "2011_000003.jpg", root / "JPEGImages")
    shutil.copy(
        DATA / "semantic" / "SegmentationClass" / "2011_000003.png", root / "SegmentationClass"
    )
    shutil.copy(DATA / "semantic" / "class_names.txt", root)
    p = open_project(tmp_path / "p", create=True)
    report = run_job(import_job(p, "masks", [root / "SegmentationClass", root / "JPEGImages"]))
    classes = p.metadata()["mask_classes"]
    assert classes["15"] == "person" and classes["5"] == "bottle"
    assert classes["255"] == "__ignore__" and classes["20"] == "tv/monitor"
    assert "0" not in classes  # _background_ is the background, not a class
    assert any("class_names.txt" in note for note in report.warnings), report.warnings
    # the same names come back from our own export
    run_job(export_job(p, "masks", tmp_path / "out"))
    q = open_project(tmp_path / "q", create=True)
    run_job(import_job(q, "masks", [tmp_path / "out"]))
    assert q.metadata()["mask_classes"]["15"] == "person"


def test_labelme_ignore_region_exports_as_voc_255(tmp_path):
    """labelme's ``__ignore__`` polygon, exported as a mask folder: 255 where labelme2voc puts
    255 in its own VOC mask of the same file."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("2011_000003.json", "2011_000003.jpg"):
        shutil.copy(DATA / "semantic" / name, src)
    p = open_project(tmp_path / "p", create=True)
    run_job(import_job(p, "labelme", [src]))
    run_job(export_job(p, "masks", tmp_path / "out"))
    (written,) = (tmp_path / "out" / "masks").iterdir()
    ours = np.asarray(Image.open(written))
    voc = np.asarray(Image.open(DATA / "semantic" / "SegmentationClass" / "2011_000003.png"))
    assert np.array_equal(ours == 255, voc == 255) and (voc == 255).any()


def test_binary_0_255_mask_keeps_255_as_a_class(tmp_path):
    """A greyscale 0/255 mask (the usual binary mask) is not VOC: 255 is its foreground."""
    mask = np.zeros((16, 20), np.uint8)
    mask[4:10, 5:15] = 255
    p = open_project(tmp_path / "p", create=True)
    run_job(import_job(p, "masks", [_set(tmp_path / "src", {"a": mask})]))
    assert "mask_ignore" not in p.metadata()
    assert np.array_equal(_masks(p)["a"], mask)


def test_class_names_and_splits_come_back_from_a_masks_export(tmp_path):
    """The export's class table (in each mask file) and split folders: a masks import of the
    export gives the same names per pixel, the same ignore value and the same splits, and
    joins a project that already numbers those classes differently by name."""
    src = tmp_path / "src"
    (src / "train").mkdir(parents=True)
    for name in ("2011_000003.json", "2011_000003.jpg"):
        shutil.copy(DATA / "semantic" / name, src / "train")
    p = open_project(tmp_path / "p", create=True)
    run_job(import_job(p, "labelme", [src]))
    run_job(export_job(p, "masks", tmp_path / "out"))
    q = open_project(tmp_path / "q", create=True)
    q.set_metadata(mask_classes={"1": "bottle", "2": "dog"})  # person/bottle were 1/2 in p
    folder = tmp_path / "out" / "train"
    report = run_job(import_job(q, "masks", [folder / "masks"], images_dir=folder / "images"))
    assert "renumbered" in str(report)

    def names(project):
        table = {int(v): n for v, n in project.metadata()["mask_classes"].items()}
        (row,) = project.query(limit=None)
        mask = project.mask(row["id"])
        return row["split"], np.vectorize(lambda v: table.get(int(v), ""))(mask)

    (split_p, names_p), (split_q, names_q) = names(p), names(q)
    assert split_p == split_q == "train"
    assert np.array_equal(names_p, names_q)
    assert q.metadata()["mask_ignore"] == 255
    assert q.metadata()["mask_classes"]["1"] == "bottle"
