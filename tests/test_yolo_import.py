"""YOLO detection datasets as other tools publish them (tests/data/yolo/README.md): ultralytics'
coco8 labels with its data.yaml, datumaro's Roboflow, darknet, segmentation, pose and oriented-box
samples. Every box equals what the label line gives when computed by hand with the image's size,
the COCO export of the imported project reads back the same boxes in pycocotools, and bad label
files are refused naming the file and the line."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from qbi_desktop.core.catalog import ImportRejected, open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.formats.yolo_labels import names_from_yaml
from qbi_desktop.core.jobs import run_job

try:
    from tests.cli_helpers import run_cli
except ImportError:  # run from inside tests/
    from cli_helpers import run_cli

DATA = Path(__file__).parent / "data" / "yolo"
#: image (relative to its dataset) -> size, for the datasets whose images are not stored
BLANK = {
    "coco8": {
        "images/train/000000000009.png": (640, 480),
        "images/train/000000000025.png": (640, 426),
    },
    "datumaro_yolov8_segmentation": {"images/train/1.png": (15, 10)},
    "datumaro_yolov8_pose": {"images/train/1.png": (15, 10)},
    "datumaro_yolov8_oriented_boxes": {"images/train/1.png": (15, 10)},
}


def dataset(name: str, into: Path) -> Path:
    """A copy of a test dataset with blank images of the stated sizes where none are stored."""
    root = into / name
    shutil.copytree(DATA / name, root)
    for rel, size in BLANK.get(name, {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", size).save(root / rel)
    return root


def by_hand(root: Path) -> dict[str, list[tuple]]:
    """Per image file name: (class name, x, y, w, h) from its label file, computed here from the
    text as ultralytics' xywhn2xyxy does (box lines) or as the points' extent (polygons)."""
    yaml = pytest.importorskip("yaml")
    names_file = root / "data.yaml"
    if names_file.exists():
        names = yaml.safe_load(names_file.read_text())["names"]
        names = dict(enumerate(names)) if isinstance(names, list) else names
    else:
        names = dict(enumerate((root / "obj.names").read_text().split("\n")))
    out = {}
    for image in root.rglob("*"):
        if image.suffix.lower() not in (".png", ".jpg"):
            continue
        width, height = Image.open(image).size
        rel = image.relative_to(root).as_posix()
        label = root / rel.replace("images/", "labels/", 1)
        label = label.with_suffix(".txt") if label.with_suffix(".txt").exists() else None
        label = label or image.with_suffix(".txt")
        boxes = []
        for line in label.read_text("utf-8-sig").splitlines() if label.exists() else []:
            values = [float(v) for v in line.split()]
            cls, rest = int(values[0]), values[1:]
            if len(rest) in (4, 5) or "kpt_shape" in names_file.read_text():
                cx, cy, w, h = rest[:4]
                x0, y0 = (cx - w / 2) * width, (cy - h / 2) * height
                x1, y1 = (cx + w / 2) * width, (cy + h / 2) * height
            else:
                x0, x1 = min(rest[0::2]) * width, max(rest[0::2]) * width
                y0, y1 = min(rest[1::2]) * height, max(rest[1::2]) * height
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
            boxes.append((names[cls], x0, y0, x1 - x0, y1 - y0))
        out[image.name] = sorted(boxes)
    return out


def imported(project) -> dict[str, list[tuple]]:
    return {
        r["name"]: sorted((b.label, b.x, b.y, b.w, b.h) for b in project.boxes(r["id"]))
        for r in project.query(limit=None)
    }


def same(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for name, boxes in expected.items():
        assert len(got[name]) == len(boxes), name
        for ours, theirs in zip(got[name], boxes, strict=True):
            assert ours[0] == theirs[0], name
            assert ours[1:] == pytest.approx(theirs[1:], abs=1e-6), name


@pytest.mark.parametrize(
    "name",
    [
        "coco8",
        "datumaro_roboflow",
        "datumaro_darknet",
        "datumaro_yolov8_segmentation",
        "datumaro_yolov8_pose",
        "datumaro_yolov8_oriented_boxes",
    ],
)
def test_boxes_equal_the_label_lines_computed_by_hand(tmp_path, name):
    root = dataset(name, tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "yolo", [root]))
        same(imported(p), by_hand(root))
        splits = {r["name"]: r["split"] for r in p.query(limit=None)}
    if name == "datumaro_roboflow":
        assert splits == {"train_001.jpg": "train", "train_002.jpg": "train", "val_001.jpg": "val"}
    else:  # images/train/, darknet's obj_train_data/
        assert set(splits.values()) == {"train"}
    text = str(report)
    assert "Traceback" not in text
    if name == "datumaro_yolov8_segmentation":
        assert "2 polygon(s) came in as their bounding boxes: labels/train/1.txt:1, " in text
    if name == "datumaro_yolov8_pose":
        assert "1 box(es) had keypoints, left out" in text and "labels/train/1.txt:1" in text
    if name == "datumaro_yolov8_oriented_boxes":  # one corner 0.098 px above the image
        assert "1 box(es) stuck out of the image by less than a pixel: clipped to it" in text
        assert "labels/train/1.txt:2" in text
    if name == "datumaro_darknet":
        assert "10 class(es) from obj.names" in text


def test_coco8_boxes_are_the_published_objects(tmp_path):
    root = dataset("coco8", tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        run_job(import_job(p, "yolo", [root / "data.yaml"]))  # the YAML given: its folder
        got = imported(p)
    labels = [b[0] for b in got["000000000009.png"]]
    assert sorted(labels) == ["bowl"] * 3 + ["broccoli"] + ["orange"] * 4
    # first line: 45 0.479492 0.688771 0.955609 0.5955 on 640x480
    bowl = next(b for b in got["000000000009.png"] if abs(b[3] - 0.955609 * 640) < 1e-6)
    assert bowl[1] == pytest.approx((0.479492 - 0.955609 / 2) * 640)
    assert bowl[2] == pytest.approx((0.688771 - 0.5955 / 2) * 480)
    assert [b[0] for b in got["000000000025.png"]] == ["giraffe", "giraffe"]


def test_a_yaml_named_after_the_dataset_gives_the_names_and_a_second_import_updates(tmp_path):
    root = dataset("coco8", tmp_path / "src")
    (root / "data.yaml").rename(root / "coco8.yaml")  # as ultralytics names its own
    with open_project(tmp_path / "p", create=True) as p:
        first = run_job(import_job(p, "yolo", [root]))
        assert "80 class(es) from coco8.yaml" in str(first)
        (root / "labels/train/000000000025.txt").write_text("0 0.5 0.5 0.5 0.5\n")
        again = run_job(import_job(p, "yolo", [root / "coco8.yaml"]))
        assert (again.added, again.updated) == (0, 2)
        assert imported(p)["000000000025.png"] == [("person", 160.0, 106.5, 320.0, 213.0)]


def test_the_coco_export_reads_back_the_same_boxes_in_pycocotools(tmp_path):
    coco_api = pytest.importorskip("pycocotools.coco")
    with open_project(tmp_path / "p", create=True) as p:
        run_job(import_job(p, "yolo", [dataset("datumaro_roboflow", tmp_path / "src")]))
        run_job(import_job(p, "yolo", [dataset("coco8", tmp_path / "src")]))
        ours = imported(p)
        run_job(export_job(p, "coco", tmp_path / "out"))
    read = {}
    for path in (tmp_path / "out").glob("*/annotations.json"):
        coco = coco_api.COCO(str(path))
        cats = {c["id"]: c["name"] for c in coco.dataset["categories"]}
        for image in coco.dataset["images"]:
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
            read[Path(image["file_name"]).name] = sorted(
                (cats[a["category_id"]], *a["bbox"]) for a in anns
            )
    same(read, ours)
    assert sum(len(b) for b in read.values()) == 4 + 10


def test_the_hand_read_names_equal_pyyaml_on_the_forms_tools_write(tmp_path):
    yaml = pytest.importorskip("yaml")
    texts = [(DATA / n / "data.yaml").read_text() for n in BLANK if n != "datumaro_roboflow"]
    texts.append((DATA / "datumaro_roboflow" / "data.yaml").read_text())
    texts += [
        "names:\n  - cat\n  - 'dog # not a comment'\n  - \"it's\"\n",  # block list, quotes
        "nc: 2\nnames: {0: a b, 1: 'c: d'}\n",
        "names: ['spot', 'streak',\n  'ring']  # three\nroboflow:\n  workspace: lab\n",
        "train: x\nnames:\n  0: person\n  2: car\n",  # ids need not be dense
        "names:\n- spot\n- ring\nnc: 2\n",  # dashes at the key's column
        "\ufeffnames: [a, b]\r\n",  # a Windows editor's BOM and line ends
    ]
    for text in texts:
        expected = yaml.safe_load(text)["names"]
        expected = dict(enumerate(expected)) if isinstance(expected, list) else expected
        assert names_from_yaml(text)[0] == expected, text


def test_background_images_and_label_files_without_an_image(tmp_path):
    root = dataset("datumaro_roboflow", tmp_path / "src")
    shutil.copy(root / "train/images/train_001.jpg", root / "train/images/empty.jpg")
    (root / "train/labels/empty.txt").write_text("\n")
    shutil.copy(root / "train/images/train_001.jpg", root / "train/images/unlabelled.jpg")
    (root / "train/labels/lost.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "yolo", [root]))
        got = imported(p)
    assert got["empty.jpg"] == [] and got["unlabelled.jpg"] == []
    assert len(got) == 5
    assert "2 image(s) without boxes" in str(report)
    assert "1 label file(s) without an image, not imported: train/labels/lost.txt" in str(report)


BAD_LINES = [
    ("0 1.5 0.5 0.2 0.2", "line 2: box reaches"),
    ("0 0.5 nan 0.2 0.2", "line 2: column 3 is 'nan', not a finite number"),
    ("0 0.5 0.5 0.2", "line 2: 4 columns"),
    ("0 0.1 0.1 0.2 0.2 0.3 0.3 0.4", "line 2: 8 columns"),
    ("zero 0.5 0.5 0.2 0.2", "line 2: column 1 is 'zero', not a number"),
    ("-1 0.5 0.5 0.2 0.2", "line 2: class id '-1' is not a whole number"),
    ("7 0.5 0.5 0.2 0.2", "line 2: class id 7 has no name in data.yaml (2 class(es))"),
    ("0 0.5 0.5 -0.2 0.2", "line 2: box width -0.2 or height 0.2 is negative"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_a_bad_label_line_is_refused_naming_file_and_line(tmp_path, line, reason):
    root = dataset("datumaro_roboflow", tmp_path / "src")
    (root / "val/labels/val_001.txt").write_text(f"0 0.5 0.5 0.2 0.2\n{line}\n")
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(p, "yolo", [root]))
        assert len(p) == 0  # nothing written
    problems = [(Path(q.file).name, q.reason) for q in caught.value.problems]
    assert len(problems) == 1, problems
    assert problems[0][0] == "val_001.txt" and problems[0][1].startswith(reason), problems


@pytest.mark.parametrize(
    ("yaml_text", "reason"),
    [
        ("nc: 3\nnames: ['a', 'b']\n", "nc is 3 but names lists 2 class(es)"),
        ("names:\n  0: a\n  1:\n", "line 3: class 1 has no name"),
        ("names: ['a', 'b'\n", "line 1: the list of names is not closed with ']'"),
        ("train: images\n", "no 'names:' entry"),
        ("names: &x [a]\n", "line 1: names must be a list or an id: name mapping"),
    ],
)
def test_a_bad_names_file_is_refused_naming_its_line(tmp_path, yaml_text, reason):
    root = dataset("datumaro_roboflow", tmp_path / "src")
    (root / "data.yaml").write_text(yaml_text)
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(p, "yolo", [root]))
    (problem,) = caught.value.problems
    assert Path(problem.file).name == "data.yaml" and problem.reason.startswith(reason)


def test_no_names_at_all_says_where_they_are_looked_for(tmp_path):
    root = dataset("datumaro_roboflow", tmp_path / "src")
    (root / "data.yaml").unlink()
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(p, "yolo", [root]))
    assert "data.yaml (names:), classes.txt or obj.names" in str(caught.value)


def test_a_huge_label_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    root = dataset("datumaro_roboflow", tmp_path / "src")
    with open(root / "val/labels/val_001.txt", "r+b") as f:  # sparse: no disk, no memory
        f.truncate(3 * 1024**2)
    monkeypatch.setenv("QBI_DESKTOP_LIMITS", "document_bytes=1MiB")
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(p, "yolo", [root]))
    (problem,) = caught.value.problems
    assert Path(problem.file).name == "val_001.txt"
    assert "3.0 MiB, more than the 1.0 MiB allowed" in problem.reason


def test_a_label_file_of_endless_bad_lines_lists_fifty_and_stops(tmp_path):
    root = dataset("datumaro_roboflow", tmp_path / "src")
    (root / "val/labels/val_001.txt").write_text("".join(f"0 0.5 {i}\n" for i in range(200_000)))
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(p, "yolo", [root]))
    reasons = [q.reason for q in caught.value.problems]
    assert (
        len(reasons) == 51
        and reasons[0]
        == "line 1: 3 columns: expected 5 (class cx cy w h), "
        "6 (with a confidence) or a class and 3 or more x y points"
    )
    assert reasons[-1] == "line 51 and later: more problems, not listed"


def test_a_label_file_of_more_objects_than_an_image_can_hold_is_refused(tmp_path):
    root = dataset("datumaro_roboflow", tmp_path / "src")
    lines = "".join(f"0 0.5 0.5 {(i + 1) / 200_000} 0.1\n" for i in range(100_001))
    (root / "val/labels/val_001.txt").write_text(lines)
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(p, "yolo", [root]))
    (problem,) = caught.value.problems
    assert problem.reason == "line 100001: more than 100000 objects in one image"


@pytest.mark.parametrize("which", ["image", "label"])
def test_symbolic_links_leading_out_of_the_folder_are_refused(tmp_path, which):
    root = dataset("datumaro_roboflow", tmp_path / "src")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    if which == "image":
        target = root / "val/images/val_001.jpg"
        shutil.move(target, outside / "secret.jpg")
    else:
        target = root / "val/labels/val_001.txt"
        shutil.move(target, outside / "secret.txt")
    os.symlink(outside / f"secret{target.suffix}", target)
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(p, "yolo", [root]))
        assert len(p) == 0
    (problem,) = caught.value.problems
    assert Path(problem.file).name == target.name and "leads outside" in problem.reason


def test_the_command_line_imports_and_refuses_without_a_traceback(tmp_path):
    root = dataset("datumaro_darknet", tmp_path / "src")
    done = run_cli("import", "--project", str(tmp_path / "p"), "--kind", "yolo", str(root))
    assert done.returncode == 0, done.stderr
    assert "yolo import of" in done.stdout and "1 item(s) added" in done.stdout
    with open_project(tmp_path / "p") as p:
        same(imported(p), by_hand(root))
    (root / "obj_train_data/1.txt").write_text("2 0.5 0.5 0.2\n")
    bad = run_cli("import", "--project", str(tmp_path / "q"), "--kind", "yolo", str(root))
    assert bad.returncode != 0
    assert "1.txt" in bad.stderr and "line 1: 4 columns" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_import_dialog_offers_yolo_and_the_browser_imports_it(qtbot, main_window, tmp_path):
    from PySide6.QtCore import Qt

    from qbi_desktop.gui.docks.browser_dialogs import ImportDialog

    root = dataset("datumaro_roboflow", tmp_path / "src")
    panel = main_window.panels["browser"]
    assert panel.open_project(tmp_path / "p", create=True)
    dialog = ImportDialog(panel)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.kind.setFocus()
    while dialog.kind.currentData() != "yolo":  # the user steps through the kinds
        index = dialog.kind.currentIndex()
        qtbot.keyClick(dialog.kind, Qt.Key.Key_Down)
        assert dialog.kind.currentIndex() != index, "no yolo kind in the dialog"
    assert "folder" in dialog.hint.text()
    dialog.sources.addItem(str(root))  # what "Add folder…" adds
    kind, sources, options = dialog.values()
    task = panel.run_import(kind, sources, **options)
    qtbot.waitUntil(lambda: task.finished, timeout=30000)
    assert task.state == "done", task.error
    same(imported(panel.project), by_hand(root))


def test_an_imagefolder_import_of_a_yolo_set_points_to_the_yolo_kind(tmp_path):
    root = dataset("datumaro_roboflow", tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(UserFacingError) as caught:
            run_job(import_job(p, "imagefolder", [root]))
        assert "--kind yolo" in str(caught.value)
        run_job(import_job(p, "yolo", [root]))  # what it says works
        assert len(p) == 3


def test_a_label_file_that_is_a_named_pipe_is_refused_without_blocking(tmp_path):
    root = dataset("datumaro_roboflow", tmp_path / "src")
    label = root / "val/labels/val_001.txt"
    label.unlink()
    os.mkfifo(label)  # reading it would wait for a writer forever
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(p, "yolo", [root]))
    (problem,) = caught.value.problems
    assert Path(problem.file).name == "val_001.txt" and "named pipe" in problem.reason


def test_a_zipped_dataset_imports_from_its_extracted_copy(tmp_path):
    root = dataset("datumaro_roboflow", tmp_path / "src")
    (root / "train/labels/train_001.txt").write_text("\ufeff0 0.35 0.3 0.3 0.2\r\n")  # Notepad
    archive = shutil.make_archive(str(tmp_path / "roboflow"), "zip", root.parent, root.name)
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "yolo", [archive]))
        same(imported(p), by_hand(root))
        paths = [r[0] for r in p.db.execute("SELECT path FROM items")]
        assert all(path.startswith("sources/roboflow/") for path in paths), paths
    assert "3 item(s) added" in str(report)
