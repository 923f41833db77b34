"""Array containers: MNIST IDX files and Keras-style NPZ. Items are (container, index) rows,
so 70 000 digits are one import and no image file is written.

IDX: ``<prefix>-images-idx3-ubyte[.gz]`` with ``<prefix>-labels-idx1-ubyte[.gz]``; the prefix
names the split (train, t10k = test, val). NPZ: ``x_train``/``y_train``, ``x_test``/``y_test``,
``x_val``/``y_val`` (or ``x``/``y``); integer ``y`` are class labels (``class_names`` maps them
to names; ``-1`` is an item without a class, as our export writes it), float ``y`` regression
targets (``target_names``). NPZ files are always loaded with ``allow_pickle=False``: an object
array is refused, never unpickled. The NPZ export is :mod:`.npz_export`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.bulk import add_container_rows, bulk_items
from qbi_desktop.core.catalog.classes import class_list
from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.images import load_npz_array
from qbi_desktop.core.catalog.project import Project
from qbi_desktop.core.errors import ImageReadError, UserFacingError
from qbi_desktop.core.formats import target_defs
from qbi_desktop.core.formats.classnames import StoredNames, class_name_problem, nfc
from qbi_desktop.core.formats.common import (
    ExportReport,
    ImportReport,
    reject_if,
    split_from_name,
)
from qbi_desktop.core.formats.datapackage_project import apply_section
from qbi_desktop.core.idx import read_idx
from qbi_desktop.core.imageheader import check_pixel_type
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.safefile import not_regular

_IMAGES = re.compile(r"^(?P<prefix>.*?)[-_.]?images[-_.]idx3[-_.]ubyte(\.gz)?$", re.IGNORECASE)
MNIST_PREFIX = {"train": "train", "test": "t10k", "val": "val", None: "unassigned"}


def _idx_pairs(sources: Sequence[str | Path]) -> list[tuple[Path, Path | None]]:
    files: list[Path] = []
    for s in sources:
        s = Path(s)
        files += sorted(s.iterdir()) if s.is_dir() else [s]
    pairs = []
    for f in files:
        if not _IMAGES.match(f.name):
            continue
        label_name = re.sub(r"images([-_.])idx3", r"labels\1idx1", f.name, flags=re.IGNORECASE)
        candidates = [f.with_name(label_name)]
        if label_name.endswith(".gz"):
            candidates.append(f.with_name(label_name[:-3]))
        else:
            candidates.append(f.with_name(label_name + ".gz"))
        pairs.append((f, next((c for c in candidates if c.is_file()), None)))
    return pairs


WRITE_CHUNK = 2000  # items hashed and inserted between two progress reports


def _add_rows(
    project: Project,
    db: Any,
    container: Path,
    kind: str,
    key: str,
    images: np.ndarray,
    labels: list[str | None] | None,
    targets: list[dict[str, float]] | None,
    split: str | None,
    annotator: str | None,
    tx: Any,
    done: int = 0,
    total: int | None = None,
) -> Job[list[int]]:
    """Insert the rows of one container in chunks (inside the caller's transaction), with a
    progress report per chunk: 70 000 MNIST items take seconds and the bar must move.
    ``done``/``total`` place this container within the whole import."""
    total = len(images) if total is None else total
    cid = tx.add_container(container, kind, key, len(images))
    existing = {r[0] for r in db.execute("SELECT idx FROM items WHERE container_id = ?", (cid,))}
    h, w = images.shape[1:3]
    stem = container.name.split(".")[0] + (f"-{key}" if key else "")
    digits = len(str(max(len(images) - 1, 0)))
    prefix = f"{stem}-"
    ids: list[int] = []
    for start in range(0, len(images), WRITE_CHUNK):
        stop = min(start + WRITE_CHUNK, len(images))
        rows = [i for i in range(start, stop) if i not in existing]
        hashes = _row_hashes(images[start:stop]) if rows else []
        if len(rows) == stop - start:  # the usual case (no row of the block there yet)
            kept_labels = None if labels is None else labels[start:stop]
            kept_targets = None if targets is None else targets[start:stop]
        else:
            hashes = [hashes[i - start] for i in rows]
            kept_labels = None if labels is None else [labels[i] for i in rows]
            kept_targets = None if targets is None else [targets[i] for i in rows]
        ids += add_container_rows(
            db,
            cid,
            rows,
            [prefix + str(i).zfill(digits) for i in rows],  # rows are never negative
            hashes,
            (int(w), int(h)),
            kept_labels,
            kept_targets,
            split,
            annotator,
            {"source": kind, "imported_from": str(container)},
        )
        written = done + min(start + WRITE_CHUNK, len(images))
        yield Progress(written, total, f"writing catalog: {written:,} of {total:,} items")
    return ids


def _row_hashes(images: np.ndarray) -> list[str]:
    """``hash_array`` of every row of ``images``, without copying each row into a new bytes
    object or making an array per row: the shape/dtype prefix is hashed once and its state
    copied per row, each row a slice of one memoryview of the whole block."""
    images = np.ascontiguousarray(images)
    prefix = hashlib.blake2b(f"{images.dtype.str}{images.shape[1:]}".encode(), digest_size=16)
    if images.size == 0:  # rows of no pixels (refused before an import gets here)
        return [prefix.hexdigest()] * len(images)
    block = memoryview(images.reshape(-1)).cast("B")
    step = block.nbytes // len(images)
    out = []
    copy, append = prefix.copy, out.append
    for start in range(0, block.nbytes, step):
        digest = copy()
        digest.update(block[start : start + step])
        append(digest.hexdigest())
    return out


def import_mnist_job(
    project: Project, sources: Sequence[str | Path], *, annotator: str | None = None, **_: Any
) -> Job[ImportReport]:
    """MNIST-style IDX image files (with their label files) or a folder of them."""
    pairs = _idx_pairs(sources)
    if not pairs:
        raise UserFacingError(
            f"{', '.join(map(str, sources))}: no '*-images-idx3-ubyte[.gz]' file found"
        )
    report = ImportReport("mnist", ", ".join(str(s) for s in sources))
    problems: list[Problem] = []
    loaded = []
    for n, (image_file, label_file) in enumerate(pairs):
        yield Progress(n, len(pairs) + 1, f"reading {image_file.name}")
        reading = image_file
        try:
            images = read_idx(image_file)
            reading = label_file  # a labels file's problem is said under its own name
            labels = None if label_file is None else read_idx(label_file)
        except UserFacingError as exc:
            problems.append(Problem(str(reading), str(exc)))
            continue
        if images.ndim != 3:
            problems.append(
                Problem(str(image_file), f"expected N x H x W images, got {images.shape}")
            )
            continue
        empty = _empty_images(images)
        if empty:
            problems.append(Problem(str(image_file), empty))
            continue
        if labels is not None and labels.shape != (len(images),):
            problems.append(
                Problem(
                    str(label_file),
                    f"the header declares labels of shape {labels.shape}, expected "
                    f"({len(images)},): one per image of {image_file.name}",
                )
            )
            continue
        if labels is not None and (reason := _idx_label_problem(labels)):
            problems.append(Problem(str(label_file), reason))
            continue
        if label_file is None:
            report.warnings.append(f"{image_file.name}: no label file found, items unlabelled")
        prefix = _IMAGES.match(image_file.name).group("prefix")
        loaded.append((image_file, images, labels, split_from_name(prefix)))
    reject_if(report.source, problems)
    db = project.connect()
    try:
        total = sum(len(images) for _f, images, _l, _s in loaded)
        yield Progress(0, total, f"writing catalog: 0 of {total:,} items")
        done = 0
        with project.transaction(db) as tx, bulk_items(db):
            for image_file, images, labels, split in loaded:
                text = None if labels is None else [str(int(v)) for v in labels.tolist()]
                report.ids += yield from _add_rows(
                    project,
                    db,
                    image_file,
                    "idx",
                    "",
                    images,
                    text,
                    None,
                    split,
                    annotator,
                    tx,
                    done,
                    total,
                )
                done += len(images)
        report.added = len(report.ids)
        return report
    finally:
        db.close()


#: The largest class index an IDX labels file may hold (MNIST's are 0..9).
MAX_IDX_LABEL = 65535
#: ``y`` of an item without a class in an NPZ (our export writes it, see npz_export.py;
#: scikit-learn's semi-supervised convention for "unlabelled"): imported without a class.
NO_CLASS = -1


def _idx_label_problem(labels: np.ndarray) -> str | None:
    """Why an IDX labels array cannot be class indices (floats, negative or absurd values),
    or None; the first bad label is named by its index."""
    if labels.dtype.kind not in "iu":
        return f"labels are {labels.dtype} numbers, class labels must be integers"
    if labels.size == 0 or (labels.dtype == np.uint8):
        return None  # 0..255 (MNIST's type): nothing to check
    bad = np.flatnonzero((labels < 0) | (labels > MAX_IDX_LABEL))
    if bad.size:
        k = int(bad[0])
        return f"label {k} is {int(labels[k])}, not a class index 0..{MAX_IDX_LABEL}" + (
            f" ({bad.size:,} such labels)" if bad.size > 1 else ""
        )
    return None


def import_npz_job(
    project: Project, sources: Sequence[str | Path], *, annotator: str | None = None, **_: Any
) -> Job[ImportReport]:
    report = ImportReport("npz", ", ".join(str(s) for s in sources))
    problems: list[Problem] = []
    plans = []
    definitions = []  # (file, its target definitions)
    orders: list[list[str]] = []  # class_names that give the classes an order
    files: list[Path] = []
    for source in map(Path, sources):  # a folder (e.g. an extracted archive): its NPZ files
        files += sorted(source.glob("*.npz")) if source.is_dir() else [source]
    if not files:
        raise UserFacingError(f"{', '.join(map(str, sources))}: no NPZ file found")
    for source in files:
        yield Progress(0, 0, f"reading {source.name}")
        if (reason := not_regular(source)) is not None:  # np.load would wait on a FIFO
            problems.append(Problem(str(source), reason))
            continue
        try:
            # memory-mapped: a .npy given here is only looked at (its shape), not read whole
            loaded = np.load(source, mmap_mode="r", allow_pickle=False)
        except Exception as exc:
            problems.append(Problem(str(source), f"not a readable NPZ file ({exc})"))
            continue
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a .npy file: one bare array
            shape = getattr(loaded, "shape", None)
            problems.append(
                Problem(
                    str(source),
                    f"a single .npy array (shape {shape}), not an .npz archive: save the "
                    "images and labels together with numpy.savez(file, x=images, y=labels)",
                )
            )
            continue
        with loaded as npz:
            keys = list(npz.files)
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:  # a zip may hold two members of one name; numpy reads one of them
            problems.append(
                Problem(
                    str(source),
                    f"holds {', '.join(repr(k) for k in twice[:5])} twice (two members of the "
                    "same name in the archive): which one is meant is ambiguous",
                )
            )
            continue
        x_keys = [k for k in keys if k == "x" or k.startswith("x_")]
        if not x_keys:
            problems.append(Problem(str(source), f"no 'x' or 'x_<split>' array (has {keys})"))
            continue
        definitions.append((source, target_defs.read_npz(source, keys, problems)))
        try:
            class_names = _names(source, "class_names", keys)
            target_names = _names(source, "target_names", keys)
            if class_names and not _numbered(class_names):  # the order the export wrote
                orders.append([nfc(name) for name in class_names])
            for key in x_keys:
                suffix = key[1:]
                images = load_npz_array(source, key)
                y = load_npz_array(source, "y" + suffix) if "y" + suffix in keys else None
                plans.append(
                    _npz_plan(
                        source, key, images, y, class_names, target_names, problems, report.warnings
                    )
                )
        except UserFacingError as exc:
            problems.append(Problem(str(source), str(exc)))
    reject_if(report.source, problems)
    stored = StoredNames()  # class names (class_names, string labels) are stored in NFC
    for plan in plans:
        stored.see(set(plan[3] or []) if plan else [])
    report.warnings += [stored.note()] if stored.note() else []
    classes_before = class_list(project) if orders else []
    db = project.connect()
    try:
        kept = [p for p in plans if p]
        total = sum(len(p[2]) for p in kept)
        done = 0
        with project.transaction(db) as tx, bulk_items(db):
            for source, defs in definitions:  # what the targets are: unit, range, decimals
                report.warnings += target_defs.apply(tx, defs, source.name)
            for order in orders:  # class_names: the project's class order, as exported
                report.warnings += apply_section(tx, {"classes": order}, classes_before)
                classes_before = list(dict.fromkeys(classes_before + order))
            for source, key, images, labels, targets in kept:
                split = split_from_name(key[2:]) if key != "x" else None
                report.ids += yield from _add_rows(
                    project,
                    db,
                    source,
                    "npz",
                    key,
                    images,
                    labels,
                    targets,
                    split,
                    annotator,
                    tx,
                    done,
                    total,
                )
                done += len(images)
        report.added = len(report.ids)
        return report
    finally:
        db.close()


def _numbered(names: list[str]) -> bool:
    """Whether ``class_names`` are "0", "1", ... in order (the class number is the index):
    they give the project no class order of their own."""
    return names == [str(i) for i in range(len(names))]


def _names(source: Path, member: str, keys: list[str]) -> list[str] | None:
    """The names in member ``class_names`` or ``target_names`` (None if there is none): one
    per class index or target column, each a usable name (classnames.class_name_problem), no
    name twice (two classes of one name would merge, two columns of one name lose one).
    UserFacingError names the member and the problem."""
    if member not in keys:
        return None
    array = load_npz_array(source, member)
    if array.ndim != 1:
        raise UserFacingError(
            f"{member}: expected a 1-D list of names (one per "
            f"{'class index' if member == 'class_names' else 'target column'}), got an array "
            f"of shape {array.shape}"
        )
    if array.dtype.kind not in "USiu":
        raise UserFacingError(f"{member}: expected text, got an array of {array.dtype}")
    names = []
    for k, value in enumerate(array.tolist()):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise UserFacingError(f"{member}[{k}]: not UTF-8 text ({value[:40]!r})") from None
        names.append(str(value))
    first: dict[str, int] = {}
    for k, name in enumerate(names):
        reason = class_name_problem(name)
        if reason:
            raise UserFacingError(f"{member}[{k}]: {reason.replace('class name', 'name', 1)}")
        key = nfc(name) if member == "class_names" else name  # classes are stored in NFC
        if key in first:
            what = "classes" if member == "class_names" else "target columns"
            raise UserFacingError(
                f"{member}: {name!r} appears twice (at {first[key]} and {k}); the two "
                f"{what} would become one"
            )
        first[key] = k
    return names


def _label_problem(labels: list[str]) -> str | None:
    """Why the string labels of a ``y`` array cannot all be class names (each distinct label
    checked once, named by its first index), or None."""
    first: dict[str, int] = {}
    for k, label in enumerate(labels):
        first.setdefault(label, k)
    for label, k in first.items():
        reason = class_name_problem(label)
        if reason:
            return f"label {k}: {reason}"
    return None


def _empty_images(images: np.ndarray) -> str | None:
    """Why an (N, H, W[, C]) array holds nothing to import, or None."""
    if len(images) == 0:
        return f"holds no images (shape {images.shape})"
    if 0 in images.shape[1:]:
        size = " x ".join(str(n) for n in images.shape[1:3])
        return f"its images are {size} pixels (a zero height or width): nothing to show or learn"
    return None


def _npz_plan(source, key, images, y, class_names, target_names, problems, notes):
    where = f"{source} [{key}]"
    if images.ndim not in (3, 4):
        problems.append(Problem(where, f"expected N x H x W (x C) images, got {images.shape}"))
        return None
    try:
        check_pixel_type(source, images.dtype)  # the viewer's policy: no complex, no bool
    except ImageReadError as exc:
        problems.append(Problem(where, exc.problem))
        return None
    empty = _empty_images(images)
    if empty:
        problems.append(Problem(where, empty))
        return None
    labels = targets = None
    if y is not None:
        if y.ndim == 0:
            problems.append(
                Problem(where, f"y is a single value ({y.dtype}, shape ()), not one per image")
            )
            return None
        if len(y) != len(images):
            problems.append(Problem(where, f"{len(y)} targets for {len(images)} images"))
            return None
        if y.dtype.kind in "iub" and y.ndim == 1:
            known = y[y != NO_CLASS] if y.dtype.kind == "i" else y
            if known.size and known.min() < 0:
                k = int(np.flatnonzero(y == known.min())[0])
                problems.append(
                    Problem(
                        where,
                        f"y{key[1:]}[{k}] is {int(y[k])}: a class index is 0 or more "
                        f"({NO_CLASS} means no class)",
                    )
                )
                return None
            if class_names is not None and known.size and known.max() >= len(class_names):
                k = int(np.flatnonzero(y == known.max())[0])
                problems.append(
                    Problem(
                        where,
                        f"y{key[1:]}[{k}] is {int(y[k])}: class index outside class_names "
                        f"({len(class_names)} names)",
                    )
                )
                return None
            labels = [
                None if v == NO_CLASS else class_names[v] if class_names else str(v)
                for v in y.tolist()
            ]
            unlabelled = labels.count(None)
            if unlabelled:
                notes.append(
                    f"{where}: {unlabelled} item(s) with y = {NO_CLASS} imported without a class"
                )
        elif y.dtype.kind == "f" and y.ndim in (1, 2):
            values = y.reshape(len(y), -1)
            names = target_names or (
                ["y"] if values.shape[1] == 1 else [f"y{j}" for j in range(values.shape[1])]
            )
            if len(names) != values.shape[1]:
                problems.append(Problem(where, "target_names do not match the target columns"))
                return None
            infinite = np.argwhere(np.isinf(values))
            if infinite.size:  # NaN is "no value"; an infinity is no measurement at all
                k, j = (int(i) for i in infinite[0])
                problems.append(
                    Problem(
                        where,
                        f"y{key[1:]}[{k}] ({names[j]}) is {values[k, j]}: a target must be a "
                        f"finite number (NaN means no value){_more(len(infinite))}",
                    )
                )
                return None
            targets = [
                {n: float(v) for n, v in zip(names, row, strict=True) if np.isfinite(v)}
                for row in values
            ]
            missing = int(np.isnan(values).sum())
            if missing:
                notes.append(f"{where}: {missing} NaN target value(s) imported as no value")
        elif y.dtype.kind in "US" and y.ndim == 1:
            labels = []
            for k, v in enumerate(y.tolist()):
                if isinstance(v, bytes):
                    try:
                        v = v.decode("utf-8")
                    except UnicodeDecodeError as exc:  # "replace" made different names one
                        problems.append(
                            Problem(
                                where,
                                f"y{key[1:]}[{k}] is not UTF-8 text (byte 0x{v[exc.start]:02x} "
                                f"at {exc.start}): write the class names as UTF-8",
                            )
                        )
                        return None
                labels.append(str(v))
            reason = _label_problem(labels)
            if reason:
                problems.append(Problem(where, f"y{key[1:]}: {reason}"))
                return None
        else:
            problems.append(Problem(where, f"cannot use y of dtype {y.dtype}, shape {y.shape}"))
            return None
    return (source, key, images, labels, targets)


# -- export ------------------------------------------------------------------------------------


def export_mnist_job(project: Project, out: str | Path, **options: Any) -> Job[ExportReport]:
    """``<prefix>-images-idx3-ubyte.gz`` + labels per split (see :mod:`.array_export`)."""
    from qbi_desktop.core.formats.array_export import export_mnist_job as job

    return job(project, out, **options)


def _more(n: int) -> str:
    """ " (and n - 1 more)" after the first of ``n`` problems of one kind."""
    return f" (and {n - 1} more)" if n > 1 else ""
