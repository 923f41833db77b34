"""The project catalog through the common dataset interface of ``core.datasets``.

Labels, targets and splits of all chosen items are read once in bulk (a few SQL queries, even for
100 000 items); pixels and masks are read per item when asked for.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from qbi_desktop.core.datasets import Item
from qbi_desktop.core.errors import ImageSizesDiffer, UserFacingError

if TYPE_CHECKING:
    from qbi_desktop.core.catalog.project import Project


class CatalogDataset:
    """Items of a project in a fixed order. ``task``: classification, regression, segmentation.

    ``target="label"`` gives class indices into :attr:`class_names` (-1 = unlabelled);
    ``target="targets"`` gives the regression targets (NaN = missing); ``"auto"`` picks labels
    when any item has one, else targets, else masks (segmentation). A run that knows its task
    asks :meth:`for_task` for the matching view: "auto" on a project with a few labels and one
    ``thickness`` value is a classification view, whose class indices are no thickness.
    """

    def __init__(self, project: Project, ids: list[int], target: str = "auto"):
        self.project = project
        self.ids = list(ids)
        self.source = f"project:{project.root}"
        db = project.db
        rows = _fetch(db, self.ids, "SELECT id, label, split, name, metadata FROM items")
        by_id = {r[0]: r for r in rows}
        labels = [by_id[i][1] for i in self.ids]
        self._splits = np.asarray([by_id[i][2] or "" for i in self.ids], dtype=str)
        self._names = [by_id[i][3] for i in self.ids]
        self._meta = [json.loads(by_id[i][4]) for i in self.ids]
        target_rows = _fetch(db, self.ids, "SELECT item_id, name, value FROM targets", "item_id")
        self.target_names = sorted({r[1] for r in target_rows}) or None
        mask_ids = {r[0] for r in _fetch(db, self.ids, "SELECT item_id FROM masks", "item_id")}
        self._has_mask = np.asarray([i in mask_ids for i in self.ids], dtype=bool)
        if target == "auto":
            target = (
                "label"
                if any(v is not None for v in labels)
                else "targets"
                if self.target_names
                else "mask"
            )
        self.target_kind = target
        if target == "label":
            self.task = "classification"
            self._class_names: list[str] | None = _sorted_labels(
                {v for v in labels if v is not None}
            )
            lookup = {name: n for n, name in enumerate(self._class_names)}
            self._targets: np.ndarray | None = np.asarray(
                [-1 if v is None else lookup[v] for v in labels], dtype=np.int64
            )
        elif target == "targets":
            self.task = "regression"
            self._class_names = None
            names = self.target_names or []
            values = np.full((len(self.ids), len(names)), np.nan)
            pos = {i: n for n, i in enumerate(self.ids)}
            col = {name: j for j, name in enumerate(names)}
            for item_id, name, value in target_rows:
                values[pos[item_id], col[name]] = value
            # no target defined: no targets at all (not an (N, 0) array of nothing)
            self._targets = None if not names else values[:, 0] if len(names) == 1 else values
        elif target == "mask":
            self.task = "segmentation"
            self._class_names = None
            self._targets = None
        else:
            raise UserFacingError(f"dataset target {target!r}: use label, targets, mask or auto")

    @property
    def class_names(self) -> list[str] | None:
        return self._class_names

    def for_task(self, task: str) -> CatalogDataset:
        """The same items with the targets of ``task``: class labels for classification, the
        regression targets' values for regression, masks for segmentation."""
        kind = _KIND_OF_TASK.get(task)
        if kind is None:
            raise UserFacingError(f"task {task!r}: use one of {', '.join(_KIND_OF_TASK)}")
        if kind == self.target_kind:
            return self
        view = CatalogDataset(self.project, self.ids, kind)
        view.source = self.source
        return view

    def groups(self) -> np.ndarray:
        """Per item, the id of the original it descends from (its ``parent_id`` chain's root;
        its own id when it is an original): augmented copies share their original's group."""
        from qbi_desktop.core.catalog.lineage import root_ids

        return np.asarray(root_ids(self.project.db, self.ids), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def item(self, i: int) -> Item:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"item {i} out of range for {n} items")
        i = i % n
        item_id = self.ids[i]
        target: Any = None
        if self._targets is not None:
            if self.task == "regression":
                row = np.atleast_1d(self._targets[i])
                target = {k: float(v) for k, v in zip(self.target_names or [], row, strict=True)}
            else:
                target = int(self._targets[i])
        meta = dict(self._meta[i])
        meta.update(index=i, item_id=item_id, name=self._names[i], split=str(self._splits[i]))
        if self._class_names is not None and isinstance(target, int) and target >= 0:
            meta["class_name"] = self._class_names[target]
        mask = self.project.mask(item_id) if self._has_mask[i] else None
        return Item(np.asarray(self.project.image(item_id)), target, mask, meta)

    def images(self) -> np.ndarray:
        arrays = [np.asarray(self.project.image(i)) for i in self.ids]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            listed = ", ".join(str(s) for s in sorted(shapes)[:4])
            raise ImageSizesDiffer(
                f"{self.source}: images have different sizes ({listed}); "
                "choose a common size to resize to"
            )
        return np.stack(arrays) if arrays else np.zeros((0, 0, 0))

    def targets(self) -> np.ndarray | None:
        return self._targets

    def splits(self) -> np.ndarray | None:
        return self._splits

    def masks(self) -> list[np.ndarray | None] | None:
        if not self._has_mask.any():
            return None
        return [
            self.project.mask(i) if h else None
            for i, h in zip(self.ids, self._has_mask, strict=True)
        ]

    def __repr__(self) -> str:
        return f"CatalogDataset({self.source!r}, {len(self)} items, task={self.task})"


_KIND_OF_TASK = {"classification": "label", "regression": "targets", "segmentation": "mask"}


def _sorted_labels(labels: set[str]) -> list[str]:
    # "2" before "10": numeric labels sort as numbers.
    return sorted(labels, key=lambda s: (0, float(s), s) if _is_number(s) else (1, 0.0, s))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fetch(db, ids: list[int], select: str, id_column: str = "id") -> list[tuple]:
    """Rows of ``select`` for the given ids; all rows at once when ids cover the table."""
    total = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    if len(ids) == total:
        return db.execute(select).fetchall()
    out: list[tuple] = []
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        out += db.execute(
            f"{select} WHERE {id_column} IN ({','.join('?' * len(chunk))})", chunk
        ).fetchall()
    return out
