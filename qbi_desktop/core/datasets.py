"""The one small dataset interface, and the sources that provide it without a project.

Everything that trains or evaluates (baselines, augmentation previews, export) reads data through
:class:`Dataset`: a length, ``item(i)`` for one image with its target, mask and metadata, and
whole-array accessors for speed when every image has the same shape. The project catalog, the
embedded scikit-learn digits, MNIST IDX files and Keras-style NPZ files all provide it.

Conventions every implementation follows (so consumers need no special cases):

- ``targets()`` for classification is an ``int64`` array of class indices into ``class_names``;
  ``-1`` marks an unlabeled item. For regression it is a ``float64`` array, shape ``(N,)`` or
  ``(N, T)`` with ``target_names``; ``NaN`` marks a missing value. ``None`` means no targets at all.
- ``splits()`` is an array of strings (``"train"``, ``"test"``, ``"val"``, ``""`` = unassigned) or
  ``None`` when the source has no splits.
- ``images()`` raises :class:`UserFacingError` when the images do not share one shape; use
  ``item(i)`` to read them one by one in that case.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from qbi_desktop.core.errors import ImageSizesDiffer, UserFacingError
from qbi_desktop.core.idx import read_idx

TASKS = ("classification", "regression", "segmentation")


@dataclass(frozen=True)
class Item:
    """One dataset item.

    ``target`` is a class index (``int``, -1 = unlabeled) for classification, a
    ``{name: value}`` dict for regression, or ``None``. ``mask`` is a label image of the same
    height and width as ``image`` (0 = background) or ``None``.
    """

    image: np.ndarray
    target: Any = None
    mask: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Dataset(Protocol):
    """What every data source provides. See the module docstring for the array conventions."""

    @property
    def class_names(self) -> list[str] | None: ...

    def __len__(self) -> int: ...

    def item(self, i: int) -> Item: ...

    def images(self) -> np.ndarray: ...

    def targets(self) -> np.ndarray | None: ...

    def splits(self) -> np.ndarray | None: ...


class ArrayDataset:
    """A dataset held in memory: images (one array, or a list of arrays of any shapes), targets,
    optional masks, splits and per-item metadata.

    Targets may be given as class indices, as arbitrary labels (strings or integers: they are
    encoded to indices, ``class_names`` are the sorted distinct labels), or as floats (regression).
    ``None``, ``""`` and (for integer labels with explicit ``class_names``) negative values mean
    unlabeled; NaN means a missing regression target.
    """

    def __init__(
        self,
        images: np.ndarray | Sequence[np.ndarray],
        targets: np.ndarray | Sequence[Any] | None = None,
        *,
        class_names: Sequence[str] | None = None,
        target_names: Sequence[str] | None = None,
        masks: np.ndarray | Sequence[np.ndarray | None] | None = None,
        splits: np.ndarray | Sequence[str] | None = None,
        metadata: Sequence[dict[str, Any]] | None = None,
        task: str | None = None,
        source: str = "arrays",
    ):
        if isinstance(images, np.ndarray):
            if images.ndim < 3:
                raise UserFacingError(
                    f"{source}: images must be an array of shape (N, H, W) or (N, H, W, C), "
                    f"got shape {images.shape}"
                )
            self._images: np.ndarray | list[np.ndarray] = images
        else:
            self._images = [np.asarray(im) for im in images]
        n = len(self._images)
        self.source = source
        self.target_names: list[str] | None = None
        self._class_names: list[str] | None = None
        self._targets = self._encode_targets(targets, class_names, target_names, task, n)
        if task is None:
            if self._class_names is not None:
                task = "classification"
            elif self._targets is not None:
                task = "regression"
            elif masks is not None:
                task = "segmentation"
        if task is not None and task not in TASKS:
            raise UserFacingError(f"{source}: unknown task {task!r} (use one of {TASKS})")
        self.task = task
        self._masks = self._check_per_item("masks", masks, n)
        self._splits = None
        if splits is not None:
            self._splits = np.asarray(["" if s is None else str(s) for s in splits], dtype=str)
            self._check_per_item("splits", self._splits, n)
        self._metadata = list(metadata) if metadata is not None else None
        self._check_per_item("metadata", self._metadata, n)

    # -- construction helpers ---------------------------------------------------------------
    def _check_per_item(self, what: str, values: Any, n: int) -> Any:
        if values is not None and len(values) != n:
            raise UserFacingError(f"{self.source}: {len(values)} {what} for {n} images")
        return values

    def _encode_targets(
        self,
        targets: Any,
        class_names: Sequence[str] | None,
        target_names: Sequence[str] | None,
        task: str | None,
        n: int,
    ) -> np.ndarray | None:
        if targets is None:
            if class_names is not None:
                self._class_names = [str(c) for c in class_names]
            return None
        if len(targets) != n:
            raise UserFacingError(f"{self.source}: {len(targets)} targets for {n} images")
        raw = np.asarray(targets)
        regression = task == "regression" or (
            task is None and class_names is None and raw.dtype.kind in "fc"
        )
        if regression:
            try:
                values = np.asarray(
                    [np.nan if t is None else t for t in targets] if raw.dtype == object else raw,
                    dtype=np.float64,
                )
            except (TypeError, ValueError) as exc:
                raise UserFacingError(
                    f"{self.source}: regression targets must be numbers ({exc})"
                ) from exc
            if values.ndim == 1:
                self.target_names = list(target_names) if target_names else ["target"]
            elif values.ndim == 2:
                self.target_names = (
                    list(target_names)
                    if target_names
                    else [f"target_{j}" for j in range(values.shape[1])]
                )
            else:
                raise UserFacingError(
                    f"{self.source}: regression targets must be (N,) or (N, T), got {values.shape}"
                )
            if values.ndim == 2 and len(self.target_names) != values.shape[1]:
                raise UserFacingError(
                    f"{self.source}: {len(self.target_names)} target names for "
                    f"{values.shape[1]} target columns"
                )
            return values
        if raw.ndim != 1:
            raise UserFacingError(
                f"{self.source}: class labels must be one per image, got shape {raw.shape}"
            )
        if class_names is not None and raw.dtype.kind in "iu":
            # Already class indices; negative values are "unlabeled".
            labels = raw.astype(np.int64)
            self._class_names = [str(c) for c in class_names]
            if labels.size and labels.max() >= len(self._class_names):
                raise UserFacingError(
                    f"{self.source}: class index {int(labels.max())} but only "
                    f"{len(self._class_names)} class names"
                )
            return labels
        if raw.dtype.kind == "f":
            bad = ~np.isfinite(raw)
            if bad.any():
                raise UserFacingError(
                    f"{self.source}: {int(bad.sum())} class labels are NaN/infinite "
                    f"(first at item {int(np.flatnonzero(bad)[0])}); give them a class or leave "
                    "them unlabeled (None)"
                )
            if np.any(raw != np.round(raw)):
                raise UserFacingError(
                    f"{self.source}: class labels must be whole numbers or names; pass "
                    "task='regression' for continuous targets"
                )
            raw = raw.astype(np.int64)
        # Arbitrary labels: None / "" are unlabeled, the rest are encoded in sorted order.
        keys = [
            None if (t is None or (isinstance(t, str) and t == "")) else t for t in raw.tolist()
        ]
        present = sorted({k for k in keys if k is not None}, key=lambda v: (str(type(v)), v))
        if class_names is not None:
            names = [str(c) for c in class_names]
            lookup = {name: i for i, name in enumerate(names)}
            missing = sorted({str(k) for k in present if str(k) not in lookup})
            if missing:
                raise UserFacingError(
                    f"{self.source}: labels {missing[:5]} are not among the class names {names}"
                )
        else:
            names = [str(v) for v in present]
            lookup = {name: i for i, name in enumerate(names)}
        self._class_names = names
        return np.asarray([-1 if k is None else lookup[str(k)] for k in keys], dtype=np.int64)

    # -- the Dataset interface --------------------------------------------------------------
    @property
    def class_names(self) -> list[str] | None:
        return self._class_names

    def __len__(self) -> int:
        return len(self._images)

    def item(self, i: int) -> Item:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"item {i} out of range for {n} items")
        target: Any = None
        if self._targets is not None:
            if self.task == "regression":
                row = np.atleast_1d(self._targets[i])
                target = dict(zip(self.target_names or [], map(float, row), strict=True))
            else:
                target = int(self._targets[i])
        meta = dict(self._metadata[i]) if self._metadata is not None else {}
        meta.setdefault("index", i if i >= 0 else n + i)
        if self._splits is not None:
            meta.setdefault("split", str(self._splits[i]))
        if self._class_names is not None and isinstance(target, int) and target >= 0:
            meta.setdefault("class_name", self._class_names[target])
        mask = None if self._masks is None else self._masks[i]
        return Item(np.asarray(self._images[i]), target, mask, meta)

    def images(self) -> np.ndarray:
        if isinstance(self._images, np.ndarray):
            return self._images
        shapes = {im.shape for im in self._images}
        if len(shapes) > 1:
            listed = ", ".join(str(s) for s in sorted(shapes)[:4])
            raise ImageSizesDiffer(
                f"{self.source}: images have different sizes ({listed}"
                f"{', ...' if len(shapes) > 4 else ''}); choose a common size to resize to"
            )
        self._images = np.stack(self._images) if self._images else np.zeros((0, 0, 0))
        return self._images

    def targets(self) -> np.ndarray | None:
        return self._targets

    def splits(self) -> np.ndarray | None:
        return self._splits

    def masks(self) -> np.ndarray | list[np.ndarray | None] | None:
        """Per-item label masks (array or list, ``None`` entries = no mask), or ``None``."""
        return self._masks

    def __repr__(self) -> str:
        return f"ArrayDataset({self.source!r}, {len(self)} items, task={self.task})"


# -- embedded and file-based sources ---------------------------------------------------------


def digits_dataset() -> ArrayDataset:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes, values 0..16).

    Ships with scikit-learn, so it works offline: the app's embedded default dataset.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)  # the values are whole numbers 0..16
    return ArrayDataset(
        images,
        bunch.target.astype(np.int64),
        class_names=[str(int(c)) for c in bunch.target_names],
        task="classification",
        source="digits",
    )


_MNIST_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_idx(folder: Path, stem: str) -> Path:
    # The original names, plus the dotted variant some mirrors use, gzipped or plain.
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, dotted):
        for suffix in (".gz", ""):
            candidate = folder / (name + suffix)
            if candidate.is_file():
                return candidate
    raise UserFacingError(f"{folder}: no MNIST file {stem}[.gz] in this folder")


def _read_mnist_part(folder: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    image_path = _find_idx(folder, _MNIST_NAMES[part][0])
    label_path = _find_idx(folder, _MNIST_NAMES[part][1])
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.ndim != 3:
        raise UserFacingError(f"{image_path}: expected images (N, H, W), got shape {images.shape}")
    if labels.ndim != 1:
        raise UserFacingError(f"{label_path}: expected labels (N,), got shape {labels.shape}")
    if len(images) != len(labels):
        raise UserFacingError(
            f"{label_path}: {len(labels)} labels for {len(images)} images in {image_path.name}"
        )
    return images, labels.astype(np.int64)


def mnist_dataset(folder: str | Path, part: str = "all") -> ArrayDataset:
    """MNIST from its IDX files (``train-*`` and ``t10k-*``, gz or plain) in ``folder``.

    ``part`` is ``"train"``, ``"test"`` or ``"all"``; with ``"all"`` the training items come
    first (indices 0..59999 for the full set) and ``splits()`` says ``"train"``/``"test"``.
    """
    from qbi_desktop.core.safefile import kind_of

    folder = Path(folder)
    if not folder.is_dir():
        try:
            mode = folder.stat().st_mode
        except (OSError, ValueError):
            raise UserFacingError(f"{folder}: MNIST folder not found") from None
        raise UserFacingError(f"{folder}: is {kind_of(mode)}, not a folder of MNIST IDX files")
    if part not in ("train", "test", "all"):
        raise UserFacingError(f"MNIST part must be train, test or all, not {part!r}")
    parts = ["train", "test"] if part == "all" else [part]
    loaded = [_read_mnist_part(folder, p) for p in parts]
    shapes = {imgs.shape[1:] for imgs, _ in loaded}
    if len(shapes) > 1:
        raise UserFacingError(f"{folder}: train and test images differ in size {sorted(shapes)}")
    images = np.concatenate([imgs for imgs, _ in loaded]) if len(loaded) > 1 else loaded[0][0]
    labels = np.concatenate([lab for _, lab in loaded]) if len(loaded) > 1 else loaded[0][1]
    splits = np.repeat(parts, [len(lab) for _, lab in loaded]) if part == "all" else None
    n_classes = int(labels.max()) + 1 if labels.size else 10
    return ArrayDataset(
        images,
        labels,
        class_names=[str(c) for c in range(max(10, n_classes))],
        splits=splits,
        task="classification",
        source=f"mnist:{folder}" + ("" if part == "all" else f" ({part})"),
    )


def npz_dataset(path: str | Path, part: str = "all") -> ArrayDataset:
    """A Keras-style NPZ file (``x_train``, ``y_train``, ``x_test``, ``y_test``).

    Also accepted: a single ``x``/``y`` (or ``images``/``labels``) pair without splits. Arrays
    are loaded with ``allow_pickle=False``: an NPZ that needs unpickling is refused, since
    unpickling a file can run arbitrary code.
    """
    from qbi_desktop.core.catalog.images import read_npz_member
    from qbi_desktop.core.safefile import not_regular

    path = Path(path)
    reason = not_regular(path)  # a folder, a FIFO (np.load would wait), a device (no end)
    if reason == "file not found":
        raise UserFacingError(f"{path}: NPZ file not found")
    if reason is not None:
        raise UserFacingError(f"{path}: cannot read the NPZ file: {reason}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            if {"x_train", "y_train"} <= keys or {"x_test", "y_test"} <= keys:
                wanted = [p for p in ("train", "test") if part in (p, "all")]
                pairs = [
                    (p, read_npz_member(npz, path, f"x_{p}"), read_npz_member(npz, path, f"y_{p}"))
                    for p in wanted
                    if f"x_{p}" in keys
                ]
                if not pairs:
                    raise UserFacingError(f"{path}: no x_{part}/y_{part} arrays in this file")
            else:
                xkey = next((k for k in ("x", "images", "X") if k in keys), None)
                ykey = next((k for k in ("y", "labels", "targets") if k in keys), None)
                if xkey is None:
                    raise UserFacingError(
                        f"{path}: expected arrays x_train/y_train/x_test/y_test (Keras style) or "
                        f"x/y, found {sorted(keys)}"
                    )
                y = read_npz_member(npz, path, ykey) if ykey else None
                pairs = [("", read_npz_member(npz, path, xkey), y)]
    except ValueError as exc:  # object arrays need pickle: refused on purpose
        raise UserFacingError(
            f"{path}: cannot read this NPZ without unpickling ({exc}); save plain numeric arrays"
        ) from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise UserFacingError(f"{path}: not a readable NPZ file ({exc})") from exc
    images = []
    labels = []
    for name, x, y in pairs:
        if x.ndim not in (3, 4):
            raise UserFacingError(
                f"{path}: x_{name or 'x'} must be images (N, H, W[, C]), got shape {x.shape}"
            )
        if y is not None:
            y = y.reshape(len(y), -1)[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
            if len(y) != len(x):
                raise UserFacingError(f"{path}: {len(y)} labels for {len(x)} images ({name})")
        images.append(x)
        labels.append(y)
    if len({x.shape[1:] for x in images}) > 1:
        raise UserFacingError(f"{path}: train and test images differ in size")
    x_all = np.concatenate(images) if len(images) > 1 else images[0]
    y_all = None
    if all(y is not None for y in labels):
        y_all = np.concatenate(labels) if len(labels) > 1 else labels[0]
    splits = None
    if len(pairs) > 1:
        splits = np.repeat([p for p, _, _ in pairs], [len(x) for x in images])
    elif pairs[0][0]:
        splits = np.full(len(x_all), pairs[0][0])
    return ArrayDataset(x_all, y_all, splits=splits, source=f"npz:{path}")


def open_source(spec: str) -> Dataset:
    """Open a dataset named by a source spec: ``digits``, ``mnist:DIR``, ``npz:FILE`` or
    ``project:DIR``. The spec is kept on the dataset (``source``) so reports can name it."""
    spec = spec.strip()
    kind, _, arg = spec.partition(":")
    kind = kind.lower()
    if kind == "digits" and not arg:
        return digits_dataset()
    if kind in ("mnist", "npz", "project") and not arg:
        raise UserFacingError(f"data source {spec!r}: give a path after '{kind}:'")
    if kind == "mnist":
        return mnist_dataset(Path(arg).expanduser())
    if kind == "npz":
        return npz_dataset(Path(arg).expanduser())
    if kind == "project":
        return _project_dataset(Path(arg).expanduser())
    raise UserFacingError(
        f"unknown data source {spec!r}: use digits, mnist:FOLDER, npz:FILE or project:FOLDER"
    )


def _project_dataset(folder: Path) -> Dataset:
    if not folder.is_dir():
        raise UserFacingError(f"project:{folder}: project folder not found")
    from qbi_desktop.core.catalog import open_project  # the catalog imports this module

    # Labels if any, else regression targets, else masks.
    dataset = open_project(folder, read_only=True).as_dataset(target="auto")
    if not getattr(dataset, "source", None):
        dataset.source = f"project:{folder}"
    return dataset
