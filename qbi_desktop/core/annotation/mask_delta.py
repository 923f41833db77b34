"""What a mask edit changed: the rectangle type, the undo record of one stroke
(:class:`StrokeDelta`, also what the journal stores) and the error of an edit that cannot be
done. No Qt; used by :mod:`.masks` (the editor), :mod:`.journal` and the canvas overlay."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qbi_desktop.core.errors import UserFacingError

Rect = tuple[int, int, int, int]  # (y0, y1, x0, x1), half-open, in pixel indices


class MaskEditError(UserFacingError):
    """An edit that cannot be done (bad label, bad mode, image of the wrong shape...)."""


# -- helpers ----------------------------------------------------------------------------------
def union_rect(a: Rect | None, b: Rect | None) -> Rect | None:
    """Smallest rectangle holding both (None = empty)."""
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


@dataclass(frozen=True, eq=False)
class StrokeDelta:
    """What one stroke changed: enough to undo it, redo it, or replay it from a journal.

    ``indices`` are flat row-major indices within ``bbox`` (uint16 when the box has <= 65536
    pixels, else uint32), sorted ascending. ``old`` and ``new`` hold one value per index, or a
    single value shared by all of them (the common case: painting one label over background).
    """

    bbox: Rect
    indices: np.ndarray
    old: np.ndarray
    new: np.ndarray
    # what the editor reported it as: "stroke", "undo" (the inverse delta) or "redo", so a
    # journal can count the strokes a replay restores
    kind: str = "stroke"

    @property
    def n(self) -> int:
        return int(self.indices.size)

    @property
    def nbytes(self) -> int:
        return int(self.indices.nbytes + self.old.nbytes + self.new.nbytes) + 64

    @property
    def box_width(self) -> int:
        return self.bbox[3] - self.bbox[2]

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Image (row, column) coordinates of the changed pixels."""
        ly, lx = np.divmod(self.indices.astype(np.intp), self.box_width)
        return ly + self.bbox[0], lx + self.bbox[2]

    def values(self, forward: bool = True) -> np.ndarray:
        """New (forward) or old values, expanded to one per index."""
        v = self.new if forward else self.old
        return np.broadcast_to(v, self.indices.shape) if v.size == 1 else v

    def inverted(self, kind: str = "undo") -> StrokeDelta:
        """The delta that undoes this one (old and new swapped)."""
        return StrokeDelta(self.bbox, self.indices, self.new, self.old, kind)

    def apply(self, mask: np.ndarray, forward: bool = True) -> Rect:
        """Write the new (forward) or old values into ``mask``; returns the bbox."""
        y0, y1, x0, x1 = self.bbox
        view = mask[y0:y1, x0:x1]
        values = self.new if forward else self.old
        if view.flags.c_contiguous:
            flat = view.reshape(-1)
            flat[self.indices] = values
        else:
            ly, lx = np.divmod(self.indices.astype(np.intp), x1 - x0)
            view[ly, lx] = values
        return self.bbox

    @staticmethod
    def from_changes(
        bbox: Rect, local_flat: np.ndarray, old: np.ndarray, new: np.ndarray
    ) -> StrokeDelta:
        """Pack changes (local flat indices in ``bbox``, any order, no duplicates) compactly."""
        order = np.argsort(local_flat, kind="stable")
        local_flat, old, new = local_flat[order], old[order], new[order]
        area = (bbox[1] - bbox[0]) * (bbox[3] - bbox[2])
        idx_dtype = np.uint16 if area <= 65536 else np.uint32
        return StrokeDelta(bbox, local_flat.astype(idx_dtype), _compact(old), _compact(new))


def _compact(values: np.ndarray) -> np.ndarray:
    if values.size > 1 and (values == values[0]).all():
        return values[:1].copy()
    return np.ascontiguousarray(values)
