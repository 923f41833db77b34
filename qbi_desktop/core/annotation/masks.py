"""The label-mask editing model: brush dabs, lines, fills, lasso, undo/redo — no Qt.

Design for a painter that never lags:

* Every operation touches only the bounding box of what it paints and returns the rectangle it
  actually changed, ``(y0, y1, x0, x1)`` half-open, or ``None`` when nothing changed, so the
  canvas re-colours only that part of the overlay.
* Coordinates are pixel indices: the centre of pixel (row r, column c) is at ``(r, c)``. A dab
  centre is rounded to the nearest pixel; the disc footprint of each radius (quantised to
  1/4 px) is computed once and cached.
* One stroke (``begin_stroke`` ... ``end_stroke``) is one undo step, stored as a
  :class:`StrokeDelta`: the bounding box, the flat indices (within the box) of the pixels that
  changed, and their old and new values. Never a copy of the mask. An operation called outside a
  stroke is its own one-operation stroke (a fill click is one undo step).
* ``on_commit(delta)`` is called for every completed stroke, and with the inverse delta on undo
  and the delta again on redo, so a journal that appends what it is given replays to exactly the
  current mask (see :mod:`qbi_desktop.core.annotation.journal`).

Stroke modes (``begin_stroke(label, mode)``):

``"paint"``    pixels become ``label`` (label 0 = eraser)
``"erase"``    pixels become 0, whatever they held
``"protect"``  napari's "preserve labels": painting changes only background pixels; erasing
               (label 0) changes only pixels of the stroke's label

The pieces it is built from live beside it: :mod:`.mask_delta` (the undo record
:class:`StrokeDelta`, ``Rect``, :class:`MaskEditError`) and :mod:`.brush` (disc footprints and
the intensity-constrained brush); they are imported here too, so ``from
qbi_desktop.core.annotation.masks import ...`` keeps working for all of them.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from qbi_desktop.core.annotation.brush import (
    ConstraintRule,
    _clip_footprint,
    _quantise_radius,
    _round,
    _SigmaCache,
    constrained_footprint,
    disc_footprint,
)
from qbi_desktop.core.annotation.mask_delta import (
    MaskEditError,
    Rect,
    StrokeDelta,
    union_rect,
)

MODES = ("paint", "erase", "protect")

__all__ = [
    "MODES",
    "ConstraintRule",
    "MaskEditError",
    "MaskEditor",
    "Rect",
    "StrokeDelta",
    "constrained_footprint",
    "disc_footprint",
    "union_rect",
]


# -- the editor -----------------------------------------------------------------------------------
class MaskEditor:
    """A label mask for one image (shape (H, W)) with strokes, fills and an undo history.

    ``mask`` is uint8, promoted to uint16 the first time a label > 255 is painted (the property
    then returns the new array). Read it freely; change it only through this class so undo and
    the journal stay true.

    ``max_steps`` undo steps are kept (default 500); the oldest are dropped early only when
    the history would exceed ``max_bytes`` (default 512 MB), always keeping the newest step.
    """

    def __init__(
        self,
        shape_or_mask: tuple[int, int] | np.ndarray,
        *,
        max_steps: int = 500,
        max_bytes: int = 512 * 2**20,
        on_commit: Callable[[StrokeDelta], object] | None = None,
    ):
        if isinstance(shape_or_mask, np.ndarray):
            mask = shape_or_mask
            if mask.ndim != 2:
                raise MaskEditError(f"mask: expected a 2-D array, got shape {mask.shape}")
            if mask.dtype not in (np.uint8, np.uint16):
                if mask.size and (mask.min() < 0 or mask.max() > 65535):
                    raise MaskEditError("mask: label values must be 0..65535")
                mask = mask.astype(np.uint16 if mask.size and mask.max() > 255 else np.uint8)
            self._mask = np.ascontiguousarray(mask).copy()
        else:
            h, w = (int(v) for v in shape_or_mask)
            if h <= 0 or w <= 0:
                raise MaskEditError(f"mask: shape must be positive, got {shape_or_mask}")
            self._mask = np.zeros((h, w), dtype=np.uint8)
        if max_steps < 1:
            raise MaskEditError("undo history: max_steps must be >= 1")
        self.max_steps = int(max_steps)
        self.max_bytes = int(max_bytes)
        self.on_commit = on_commit
        self._undo: deque[tuple[int, StrokeDelta]] = deque()
        self._redo: list[tuple[int, StrokeDelta]] = []
        self._history_bytes = 0
        self._next_state = 1
        self._saved_state = 0
        self._sigma_cache = _SigmaCache()
        # the stroke in progress
        self._stroke_active = False
        self._stroke_implicit = False
        self._stroke_label = 0
        self._stroke_mode = "paint"
        self._idx_parts: list[np.ndarray] = []
        self._old_parts: list[np.ndarray] = []
        self._stroke_rect: Rect | None = None

    # -- state ----------------------------------------------------------------------------------
    @property
    def mask(self) -> np.ndarray:
        return self._mask

    @property
    def shape(self) -> tuple[int, int]:
        return self._mask.shape  # type: ignore[return-value]

    @property
    def in_stroke(self) -> bool:
        return self._stroke_active

    @property
    def can_undo(self) -> bool:
        return bool(self._undo) or self._stroke_active

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_depth(self) -> int:
        return len(self._undo)

    @property
    def redo_depth(self) -> int:
        return len(self._redo)

    @property
    def redo_state_id(self) -> int | None:
        """The state id the next redo returns to (None: nothing to redo); lets another record
        of edits on this mask (a spot review's decisions) tell whose redo comes next."""
        return self._redo[-1][0] if self._redo else None

    def undo_bytes(self) -> int:
        """Memory held by the undo and redo history, in bytes."""
        return self._history_bytes

    @property
    def state_id(self) -> int:
        """Identifies the current content: equal ids = equal masks (0 = as loaded)."""
        return self._undo[-1][0] if self._undo else 0

    @property
    def is_modified(self) -> bool:
        """True when the mask differs from the last :meth:`mark_saved` (undo can clear it)."""
        return self._stroke_active or self.state_id != self._saved_state

    def mark_saved(self) -> None:
        self._saved_state = self.state_id

    # -- strokes --------------------------------------------------------------------------------
    def begin_stroke(self, label: int, mode: str = "paint") -> None:
        """Start a stroke painting ``label`` (0 = erase) in ``mode``; ends any open stroke."""
        if self._stroke_active:
            self.end_stroke()
        if mode not in MODES:
            raise MaskEditError(f"stroke mode: expected one of {', '.join(MODES)}, got {mode!r}")
        self._check_label(label)
        self._stroke_active = True
        self._stroke_implicit = False
        self._stroke_label = int(label)
        self._stroke_mode = mode
        self._idx_parts, self._old_parts, self._stroke_rect = [], [], None

    def end_stroke(self) -> StrokeDelta | None:
        """Finish the stroke: one undo step, reported to ``on_commit``. None if nothing changed."""
        if not self._stroke_active:
            return None
        self._stroke_active = False
        if not self._idx_parts:
            return None
        gidx = np.concatenate(self._idx_parts)
        old = np.concatenate(self._old_parts)
        self._idx_parts, self._old_parts = [], []
        # a pixel may have changed more than once: keep its value from before the stroke
        gidx, first = np.unique(gidx, return_index=True)
        old = old[first].astype(self._mask.dtype, copy=False)
        flat = self._mask.reshape(-1)
        new = flat[gidx]
        keep = new != old
        if not keep.all():
            gidx, old, new = gidx[keep], old[keep], new[keep]
        if gidx.size == 0:
            return None
        w = self._mask.shape[1]
        ys, xs = np.divmod(gidx, w)
        bbox = (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)
        local = (ys - bbox[0]) * (bbox[3] - bbox[2]) + (xs - bbox[2])
        delta = StrokeDelta.from_changes(bbox, local, old, new)
        self._push_undo(delta)
        if self.on_commit is not None:
            self.on_commit(delta)
        return delta

    def cancel_stroke(self) -> Rect | None:
        """Abandon the stroke in progress, restoring its pixels; returns the rectangle restored."""
        if not self._stroke_active:
            return None
        self._stroke_active = False
        rect = self._stroke_rect
        if self._idx_parts:
            # a pixel may have changed more than once: restore its value from before the stroke
            gidx, first = np.unique(np.concatenate(self._idx_parts), return_index=True)
            self._mask.reshape(-1)[gidx] = np.concatenate(self._old_parts)[first]
        self._idx_parts, self._old_parts, self._stroke_rect = [], [], None
        return rect

    # -- dab kinds ------------------------------------------------------------------------------
    def dab(self, y: float, x: float, radius: float, label: int | None = None) -> Rect | None:
        """Paint a disc of ``radius`` at (y, x). ``label`` None = the stroke's label (0 = erase)."""
        with self._op(label) as (value, allowed):
            placed = _clip_footprint(self.shape, _round(y), _round(x), disc_footprint(radius))
            if placed is None:
                return None
            return self._paint_footprint(placed[0], placed[1], value, allowed)

    def line(
        self,
        y0: float,
        x0: float,
        y1: float,
        x1: float,
        radius: float,
        label: int | None = None,
    ) -> Rect | None:
        """Dabs from (y0, x0) to (y1, x1) spaced <= radius/2 (>= 1/4 px), so no gaps.

        The dabs of a segment are OR-ed into one footprint (in pieces of bounded size) and
        applied once, which costs far less than applying them one by one.
        """
        with self._op(label) as (value, allowed):
            fp = disc_footprint(radius)
            length = math.hypot(y1 - y0, x1 - x0)
            spacing = max(0.25, _quantise_radius(radius) / 2.0)
            n = max(1, int(math.ceil(length / spacing)))
            t = np.linspace(0.0, 1.0, n + 1)
            cy = np.floor(y0 + (y1 - y0) * t + 0.5).astype(np.int64)
            cx = np.floor(x0 + (x1 - x0) * t + 0.5).astype(np.int64)
            keep = np.ones(cy.size, dtype=bool)
            keep[1:] = (cy[1:] != cy[:-1]) | (cx[1:] != cx[:-1])
            cy, cx = cy[keep], cx[keep]
            half = fp.shape[0] // 2
            h, w = self.shape
            # pieces of <= 64 centres keep the scratch footprint small for long lines
            rect: Rect | None = None
            for start in range(0, cy.size, 64):
                py, px = cy[start : start + 64], cx[start : start + 64]
                by0, by1 = int(py.min()) - half, int(py.max()) + half + 1
                bx0, bx1 = int(px.min()) - half, int(px.max()) + half + 1
                buf = np.zeros((by1 - by0, bx1 - bx0), dtype=bool)
                size = fp.shape[0]
                for yy, xx in zip(
                    (py - half - by0).tolist(), (px - half - bx0).tolist(), strict=True
                ):
                    buf[yy : yy + size, xx : xx + size] |= fp
                cy0, cy1, cx0, cx1 = max(by0, 0), min(by1, h), max(bx0, 0), min(bx1, w)
                if cy0 >= cy1 or cx0 >= cx1:
                    continue
                sub = buf[cy0 - by0 : cy1 - by0, cx0 - bx0 : cx1 - bx0]
                rect = union_rect(
                    rect, self._paint_footprint((cy0, cy1, cx0, cx1), sub, value, allowed)
                )
            return rect

    def constrained_preview(
        self, image: np.ndarray, y: float, x: float, radius: float, rule: ConstraintRule
    ) -> tuple[Rect, np.ndarray] | None:
        """Where a constrained dab at (y, x) would paint: (rect, bool mask) — for the cursor."""
        self._check_image(image)
        return constrained_footprint(image, y, x, radius, rule, self._sigma_cache)

    def constrained_dab(
        self,
        image: np.ndarray,
        y: float,
        x: float,
        radius: float,
        label: int | None = None,
        rule: ConstraintRule | None = None,
    ) -> Rect | None:
        """Paint only the disc pixels whose value passes ``rule`` (default: residual > 5 sigma)."""
        self._check_image(image)
        rule = rule or ConstraintRule()
        with self._op(label) as (value, allowed):
            placed = constrained_footprint(image, y, x, radius, rule, self._sigma_cache)
            if placed is None:
                return None
            return self._paint_footprint(placed[0], placed[1], value, allowed)

    def fill_label(self, y: float, x: float, label: int | None = None) -> Rect | None:
        """Flood-fill the 4-connected region of equal label containing (y, x)."""
        from skimage.segmentation import flood

        cy, cx = _round(y), _round(x)
        if not self._inside(cy, cx):
            return None
        with self._op(label) as (value, allowed):
            if self._mask[cy, cx] == value:
                return None
            region = flood(self._mask, (cy, cx), connectivity=1)
            return self._paint_region(region, value, allowed)

    def fill_intensity(
        self, image: np.ndarray, y: float, x: float, tolerance: float, label: int | None = None
    ) -> Rect | None:
        """Fill the 4-connected region whose image values are within ``tolerance`` of (y, x)'s."""
        from skimage.segmentation import flood

        self._check_image(image)
        cy, cx = _round(y), _round(x)
        if not self._inside(cy, cx):
            return None
        if tolerance < 0 or not math.isfinite(tolerance):
            raise MaskEditError(f"fill tolerance: must be a number >= 0, got {tolerance}")
        with self._op(label) as (value, allowed):
            region = flood(np.asarray(image), (cy, cx), connectivity=1, tolerance=tolerance)
            return self._paint_region(region, value, allowed)

    def fill_polygon(
        self, points: Sequence[tuple[float, float]] | np.ndarray, label: int | None = None
    ) -> Rect | None:
        """Fill the polygon (lasso) through ``points`` given as (y, x) vertices."""
        from skimage.draw import polygon

        pts = np.asarray(points, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
            raise MaskEditError("polygon: needs at least three (y, x) points")
        with self._op(label) as (value, allowed):
            rr, cc = polygon(pts[:, 0], pts[:, 1], shape=self.shape)
            if rr.size == 0:
                return None
            return self._paint_coords(rr, cc, value, allowed)

    def paint_pixels(self, ys: np.ndarray, xs: np.ndarray, label: int | None = None) -> Rect | None:
        """Paint the given pixels (e.g. an accepted spot candidate's pixels)."""
        ys = np.asarray(ys, dtype=np.intp)
        xs = np.asarray(xs, dtype=np.intp)
        h, w = self.shape
        inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        with self._op(label) as (value, allowed):
            if not inside.any():
                return None
            return self._paint_coords(ys[inside], xs[inside], value, allowed)

    def replace_mask(self, new_mask: np.ndarray) -> Rect | None:
        """Replace the whole mask (import, clear) as one undo step holding only the differences."""
        new_mask = np.asarray(new_mask)
        if new_mask.shape != self.shape:
            raise MaskEditError(
                f"mask: shape {new_mask.shape} does not match the image {self.shape}"
            )
        if self._stroke_active:
            self.end_stroke()
        if new_mask.size and int(new_mask.max()) > 255:
            self._promote()
        changed = self._mask != new_mask
        if not changed.any():
            return None
        self.begin_stroke(0)
        ys, xs = np.nonzero(changed)
        w = self.shape[1]
        gidx = ys.astype(np.int64) * w + xs
        self._idx_parts.append(gidx)
        self._old_parts.append(self._mask[ys, xs])
        self._mask[ys, xs] = new_mask[ys, xs]
        rect = (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)
        self._stroke_rect = rect
        self.end_stroke()
        return rect

    # -- undo / redo ----------------------------------------------------------------------------
    def undo(self) -> Rect | None:
        """Undo the last stroke (ending one in progress first); returns the rectangle changed."""
        if self._stroke_active:
            self.end_stroke()
        if not self._undo:
            return None
        state, delta = self._undo.pop()
        delta.apply(self._mask, forward=False)
        self._redo.append((state, delta))
        if self.on_commit is not None:
            self.on_commit(delta.inverted("undo"))
        return delta.bbox

    def redo(self) -> Rect | None:
        if self._stroke_active:
            self.end_stroke()
        if not self._redo:
            return None
        state, delta = self._redo.pop()
        if delta.new.size and int(delta.new.max()) > 255:
            self._promote()
        delta.apply(self._mask, forward=True)
        self._undo.append((state, delta))
        if self.on_commit is not None:
            self.on_commit(StrokeDelta(delta.bbox, delta.indices, delta.old, delta.new, "redo"))
        return delta.bbox

    def clear_history(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self._history_bytes = 0

    # -- internals ------------------------------------------------------------------------------
    def _push_undo(self, delta: StrokeDelta) -> None:
        for _, d in self._redo:
            self._history_bytes -= d.nbytes
        self._redo.clear()
        self._undo.append((self._next_state, delta))
        self._next_state += 1
        self._history_bytes += delta.nbytes
        while len(self._undo) > self.max_steps or (
            self._history_bytes > self.max_bytes and len(self._undo) > 1
        ):
            _, old = self._undo.popleft()
            self._history_bytes -= old.nbytes

    def _check_label(self, label: int) -> None:
        if isinstance(label, bool) or not isinstance(label, int | np.integer):
            raise MaskEditError(f"label: expected an integer, got {label!r}")
        if not 0 <= int(label) <= 65535:
            raise MaskEditError(f"label: must be 0..65535, got {label}")

    def _check_image(self, image: np.ndarray) -> None:
        if image.shape[:2] != self.shape:
            raise MaskEditError(
                f"image: shape {image.shape[:2]} does not match the mask {self.shape}"
            )

    def _inside(self, cy: int, cx: int) -> bool:
        return 0 <= cy < self.shape[0] and 0 <= cx < self.shape[1]

    def _promote(self) -> None:
        if self._mask.dtype == np.uint8:
            self._mask = self._mask.astype(np.uint16)

    class _OpContext:
        """Begins an implicit stroke for an operation called outside a stroke, ends it after."""

        def __init__(self, editor: MaskEditor, label: int | None):
            self.editor, self.label = editor, label

        def __enter__(self) -> tuple[int, int | None]:
            ed = self.editor
            self.implicit = not ed._stroke_active
            if self.implicit:
                ed.begin_stroke(1 if self.label is None else self.label, "paint")
                ed._stroke_implicit = True
            label = ed._stroke_label if self.label is None else int(self.label)
            ed._check_label(label)
            if label > 255:
                ed._promote()
            mode = ed._stroke_mode
            if mode == "erase":
                return 0, None
            if mode == "protect":
                # paint only over background; erase only the stroke's own label
                return label, (0 if label != 0 else ed._stroke_label)
            return label, None

        def __exit__(self, exc_type, exc, tb) -> None:
            if self.implicit:
                if exc_type is None:
                    self.editor.end_stroke()
                else:
                    self.editor.cancel_stroke()

    def _op(self, label: int | None) -> MaskEditor._OpContext:
        return MaskEditor._OpContext(self, label)

    def _paint_footprint(
        self, rect: Rect, fp: np.ndarray, value: int, allowed: int | None
    ) -> Rect | None:
        y0, y1, x0, x1 = rect
        view = self._mask[y0:y1, x0:x1]
        sel = view != value
        sel &= fp
        if allowed is not None:
            sel &= view == allowed
        ly, lx = np.nonzero(sel)
        if ly.size == 0:
            return None
        old = view[ly, lx]
        view[ly, lx] = value
        gy, gx = ly + y0, lx + x0
        return self._record(gy, gx, old)

    def _paint_coords(
        self, ys: np.ndarray, xs: np.ndarray, value: int, allowed: int | None
    ) -> Rect | None:
        cur = self._mask[ys, xs]
        sel = cur != value
        if allowed is not None:
            sel &= cur == allowed
        if not sel.any():
            return None
        ys, xs, old = ys[sel], xs[sel], cur[sel]
        self._mask[ys, xs] = value
        return self._record(ys, xs, old)

    def _paint_region(self, region: np.ndarray, value: int, allowed: int | None) -> Rect | None:
        ys, xs = np.nonzero(region)
        if ys.size == 0:
            return None
        return self._paint_coords(ys, xs, value, allowed)

    def _record(self, gy: np.ndarray, gx: np.ndarray, old: np.ndarray) -> Rect:
        w = self._mask.shape[1]
        self._idx_parts.append(gy.astype(np.int64) * w + gx)
        self._old_parts.append(old)
        rect = (int(gy.min()), int(gy.max()) + 1, int(gx.min()), int(gx.max()) + 1)
        self._stroke_rect = union_rect(self._stroke_rect, rect)
        return rect
