"""YOLO detection datasets: one ``.txt`` label file per image, boxes as normalised centres and
sizes (labels read in yolo_labels.py).

Layouts found by walking the folder given (or the folder of a ``data.yaml`` / ``obj.data``):
ultralytics (``images/<split>/x.jpg`` with ``labels/<split>/x.txt``: the last ``images``
folder of the path replaced by ``labels``, as ultralytics does), Roboflow (``<split>/images`` +
``<split>/labels``) and darknet (``x.txt`` beside ``x.jpg``). The split is the first folder of
the image's path that names one (``train``, ``val``/``valid``, ``test``); the lists of images
that ``data.yaml`` or ``obj.data`` may give (``train: images/train``) are not followed.

An image with no label file, or an empty one, is an item without boxes (YOLO's background
images). A label file without its image, polygons that came in as their bounding boxes and
columns the project cannot keep (confidences, keypoints) are named in the report. Every file
must resolve inside the folder (symbolic links that lead out are refused); everything is checked
before one transaction writes the items.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.images import IMAGE_SUFFIXES
from qbi_desktop.core.catalog.project import Box, NewItem, Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.classnames import StoredNames, class_name_problem, nfc
from qbi_desktop.core.formats.common import (
    ImportReport,
    existing_paths,
    file_item,
    reject_if,
    scan_image,
    split_from_name,
)
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.formats.yolo_labels import (
    Names,
    NamesError,
    names_from_lines,
    names_from_yaml,
    parse_label_text,
)
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.safefile import read_text, resolve_inside, text_file_limit

#: Names files, in the order they are looked for (the first found gives the classes)
YAML_FILES = ("data.yaml", "data.yml")
YAML_SUFFIXES = (".yaml", ".yml")
LIST_FILES = ("classes.txt", "obj.names")
#: .txt files of a dataset that are not label files (names, darknet's image lists)
NOT_LABELS = {"classes.txt", "obj.names", "train.txt", "val.txt", "valid.txt", "test.txt"}
#: The largest label file read (100 000 objects with keypoints fit; see yolo_labels.MAX_OBJECTS)
LABEL_BYTES = 64 * 1024**2
#: How many places a note lists before "and N more"
SHOWN = 5


def import_job(
    project: Project,
    sources: Sequence[str | Path],
    *,
    annotator: str | None = None,
    within: str | Path | None = None,
    **_: Any,
) -> Job[ImportReport]:
    """Import YOLO dataset folders (each a dataset root, or its data.yaml / obj.data)."""
    if not sources:
        raise UserFacingError(Named("{kind} import needs a dataset folder", kind="yolo"))
    # a file given (data.yaml, coco8.yaml, obj.data): its folder is the dataset, a YAML its names
    roots = [(Path(s).parent, Path(s)) if Path(s).is_file() else (Path(s), None) for s in sources]
    report = ImportReport("yolo", ", ".join(str(s) for s in sources))
    problems: list[Problem] = []
    planned: list[dict[str, Any]] = []
    for root, given in roots:
        if not root.is_dir():
            raise UserFacingError(f"{root}: not a folder (give the YOLO dataset's folder)")
        yield Progress(0, 0, f"reading {root.name}")
        inside = Path(within) if within else root
        planned += yield from _plan(root, inside, problems, report, given)
    reject_if(report.source, problems)
    db = project.connect()
    try:
        known = existing_paths(project, db)
        new: list[NewItem] = []
        updates: list[tuple[int, list[Box]]] = []
        for plan in planned:
            stored = project.store_path(plan["path"])
            if stored in known:
                updates.append((known[stored], plan["boxes"]))
                continue
            new.append(
                file_item(
                    plan["path"],
                    plan["info"],
                    split=plan["split"],
                    annotator=annotator,
                    boxes=plan["boxes"],
                    provenance={"source": "yolo", "imported_from": plan["source"]},
                )
            )
        yield Progress(len(planned), len(planned), "writing catalog")
        with project.transaction(db) as tx:
            report.ids = tx.add_items(new)
            for item_id, boxes in updates:
                tx.set_boxes(item_id, boxes, annotator)
        report.added, report.updated = len(new), len(updates)
        return report
    finally:
        db.close()


def _walk(root: Path) -> tuple[list[Path], list[Path]]:
    """Image files and .txt files below ``root`` (hidden ones and linked folders not entered)."""
    images, texts = [], []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            suffix = os.path.splitext(name)[1].lower()
            if suffix in IMAGE_SUFFIXES:
                images.append(Path(folder, name))
            elif suffix == ".txt" and name.lower() not in NOT_LABELS:
                texts.append(Path(folder, name))
    return images, texts


def _label_candidates(root: Path, image: Path) -> list[Path]:
    """Where the label file of ``image`` may be: ``labels`` for the last ``images`` folder
    (ultralytics, Roboflow), then beside the image (darknet)."""
    parts = list(image.relative_to(root).parts)
    found = []
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            swapped = [*parts[:i], "labels", *parts[i + 1 :]]
            found.append(root.joinpath(*swapped).with_suffix(".txt"))
            break
    found.append(image.with_suffix(".txt"))
    return found


def _split(root: Path, image: Path) -> str | None:
    for part in image.relative_to(root).parts[:-1]:
        split = split_from_name(part)
        if split:
            return split
    return None


def _plan(
    root: Path,
    within: Path,
    problems: list[Problem],
    report: ImportReport,
    given: Path | None = None,
) -> Job[list[dict[str, Any]]]:
    names = _names(root, within, problems, given)
    images, texts = _walk(root)
    if not images:
        problems.append(Problem(str(root), "no image files found in the folder"))
        return []
    if names is None:
        return []
    listed = Path(os.path.relpath(names.source, root)).as_posix()
    report.warnings.append(f"{len(names.names)} class(es) from {listed}")
    stored = StoredNames()  # the boxes' class names are stored in NFC
    stored.see(names.names.values())
    if note := stored.note(listed):
        report.warnings.append(note)
    used: set[Path] = set()
    planned: list[dict[str, Any]] = []
    notes: dict[str, list[str]] = {
        "polygon": [],
        "confidence": [],
        "keypoints": [],
        "clipped": [],
        "duplicates": [],
    }
    background = 0
    for n, image in enumerate(images):
        if n % 50 == 0:
            yield Progress(n, len(images), "reading images and labels")
        rel = image.relative_to(root).as_posix()
        inside = resolve_inside(root, rel, within)
        if isinstance(inside, str):
            problems.append(Problem(str(image), inside))
            continue
        # lexists: a label that is a FIFO or a broken link is refused when read, not skipped
        label = next((p for p in _label_candidates(root, image) if os.path.lexists(p)), None)
        if label is not None:
            used.add(label)
        info = scan_image(image)
        if isinstance(info, str):
            problems.append(Problem(str(image), info))
            continue
        boxes: list[Box] = []
        if label is not None:
            label_rel = label.relative_to(root).as_posix()
            inside = resolve_inside(root, label_rel, within)
            if isinstance(inside, str):
                problems.append(Problem(str(label), inside))
                continue
            boxes = _boxes(label, label_rel, info.width, info.height, names, problems, notes)
        if not boxes:
            background += 1
        planned.append(
            {
                "path": image,
                "info": info,
                "split": _split(root, image),
                "boxes": boxes,
                "source": str(label or root),
            }
        )
    orphans = [t for t in texts if t not in used and _looks_like_labels(root, t)]
    if orphans:
        report.warnings.append(
            f"{len(orphans)} label file(s) without an image, not imported: "
            + _listed([t.relative_to(root).as_posix() for t in orphans])
        )
    if background:
        report.warnings.append(
            f"{background} image(s) without boxes (no label file, or an empty one): "
            "imported as items without boxes (background images)"
        )
    for key, text in (
        ("polygon", "polygon(s) came in as their bounding boxes"),
        ("confidence", "confidence value(s) left out (a box keeps no score)"),
        ("keypoints", "box(es) had keypoints, left out (a project keeps boxes)"),
        ("clipped", "box(es) stuck out of the image by less than a pixel: clipped to it"),
        ("duplicates", "label file(s) repeat a line: the repeat was left out"),
    ):
        if notes[key]:
            report.warnings.append(f"{len(notes[key])} {text}: {_listed(notes[key])}")
    return planned


def _looks_like_labels(root: Path, text: Path) -> bool:
    """Whether a .txt file without an image is a label file (in a ``labels`` folder, or
    beside images as darknet keeps them), not a README or a list of files."""
    parts = text.relative_to(root).parts[:-1]
    if "labels" in parts:
        return True
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in text.parent.iterdir() if p.is_file())


def _listed(places: list[str]) -> str:
    more = f" and {len(places) - SHOWN} more" if len(places) > SHOWN else ""
    return ", ".join(places[:SHOWN]) + more


def _boxes(
    label: Path,
    label_rel: str,
    width: int | None,
    height: int | None,
    names: Names,
    problems: list[Problem],
    notes: dict[str, list[str]],
) -> list[Box]:
    try:
        text = read_text(label, "the YOLO label file", min(text_file_limit(), LABEL_BYTES))
    except UserFacingError as exc:
        problems.append(Problem(str(label), str(exc).removeprefix(f"{label}: ")))
        return []
    if width is None or height is None:
        problems.append(Problem(str(label), "the image's size cannot be read"))
        return []
    parsed = parse_label_text(text, width, height, names.keypoints)
    problems += [Problem(str(label), reason) for reason in parsed.problems]
    if parsed.duplicates:
        notes["duplicates"].append(label_rel)
    boxes = []
    for line in parsed.lines:
        place = f"{label_rel}:{line.number}"
        if line.cls not in names.names:
            problems.append(
                Problem(
                    str(label),
                    f"line {line.number}: class id {line.cls} has no name in "
                    f"{names.source.name} ({len(names.names)} class(es))",
                )
            )
            continue
        for key, flag in (
            ("polygon", line.polygon),
            ("confidence", line.extra == "confidence"),
            ("keypoints", line.extra == "keypoints"),
            ("clipped", line.clipped),
        ):
            if flag:
                notes[key].append(place)
        boxes.append(Box(names.names[line.cls], line.x, line.y, line.w, line.h))
    return boxes


def _names(
    root: Path, within: Path, problems: list[Problem], given: Path | None = None
) -> Names | None:
    """The class names of the dataset at ``root``: the YAML file ``given``, data.yaml, another
    single YAML file beside the folders (ultralytics' own are named after the dataset, e.g.
    coco8.yaml), else classes.txt (also in ``labels/``), else obj.names (where obj.data's
    ``names =`` says, or beside it)."""
    candidates = [given] if given is not None and given.suffix.lower() in YAML_SUFFIXES else []
    candidates += [root / n for n in YAML_FILES]
    try:
        others = sorted(p for p in root.iterdir() if p.suffix.lower() in YAML_SUFFIXES)
    except OSError as exc:
        problems.append(Problem(str(root), f"cannot list the folder ({exc.strerror or exc})"))
        return None
    if len(others) == 1:
        candidates += others
    candidates += [root / "classes.txt", root / "labels" / "classes.txt"]
    candidates += _darknet_names(root) + [root / "obj.names", root / "data" / "obj.names"]
    for path in candidates:
        if not path.is_file():
            continue
        inside = resolve_inside(root, os.path.relpath(path, root), within)
        if isinstance(inside, str):
            problems.append(Problem(str(path), inside))
            return None
        try:
            text = read_text(path, "the class names file", limit=16 * 1024**2)
        except UserFacingError as exc:
            problems.append(Problem(str(path), str(exc).removeprefix(f"{path}: ")))
            return None
        try:
            if path.suffix.lower() in YAML_SUFFIXES:
                names, nc, keypoints = names_from_yaml(text)
                if nc is not None and nc != len(names):
                    problems.append(
                        Problem(str(path), f"nc is {nc} but names lists {len(names)} class(es)")
                    )
                    return None
                found = Names(names, path, keypoints)
            else:
                found = Names(names_from_lines(text), path)
        except NamesError as exc:
            problems.append(Problem(str(path), str(exc)))
            return None
        lines = path.suffix.lower() not in YAML_SUFFIXES  # line i + 1 names class i
        bad = [
            Problem(str(path), f"{f'line {i + 1} (class {i})' if lines else f'class {i}'}: {why}")
            for i, name in found.names.items()
            if (why := class_name_problem(name))
        ]
        first: dict[str, int] = {}
        for i, name in found.names.items():
            key = nfc(name)  # stored in NFC: 'café' typed twice (NFC, NFD) is one class
            if key in first and len(bad) < 20:  # boxes keep names: the two would merge
                bad.append(Problem(str(path), f"class {i}: {name!r} is also class {first[key]}"))
            first.setdefault(key, i)
        if bad:
            problems += bad[:20]  # a hostile list of thousands: the first ones say it
            return None
        return found
    problems.append(
        Problem(
            str(root),
            "no class names found: a YOLO dataset names its classes in data.yaml (names:), "
            "classes.txt or obj.names beside its folders",
        )
    )
    return None


def _darknet_names(root: Path) -> list[Path]:
    """The names file obj.data points to (``names = data/obj.names``), if any."""
    data = root / "obj.data"
    if not data.is_file():
        return []
    try:
        text = read_text(data, "obj.data", limit=1024**2)
    except UserFacingError:
        return []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "names" and value.strip():
            name = value.strip().replace("\\", "/")
            # darknet runs from its own folder: "data/obj.names" may mean root/obj.names
            return [root / name, root / Path(name).name]
    return []
