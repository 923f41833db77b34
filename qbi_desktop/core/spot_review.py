"""The review of proposed spots: each candidate's decision and provenance, saved beside the mask.

A detector (:mod:`qbi_desktop.core.spots`) proposes candidates; a person accepts, rejects or
edits them by hand. :class:`SpotReview` keeps, for every spot, its pixels, score and *state*:

``proposed``  found by the detector, not decided yet
``accepted``  its pixels were added to the mask as proposed
``rejected``  not a spot; nothing was painted
``edited``    the person went there and painted by hand (the mask, not the proposal, is right)

Saved as JSON next to the mask (``<mask>.spots.json``; a project item's in the project folder,
:func:`project_review_path`) with the detector and its parameters, so
a dataset can say how every labelled pixel came to be (:meth:`SpotReview.pixel_provenance`).
Re-running the detector with other parameters (:meth:`SpotReview.merge`) keeps every decision
made and replaces only the undecided proposals.

Every decision is undoable (:class:`ReviewHistory`): an accept takes its mask stroke back with
it, a reject or edit only its state. Decisions and the mask's own strokes share one order on
the canvas: each decision remembers where the mask's history stood just after it
(:attr:`MaskEditor.state_id`) and how many other edits (box edits) the canvas held, so undo
goes to whichever came last, and redo likewise.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.annotation.masks import MaskEditor, Rect, union_rect
from qbi_desktop.core.atomic import atomic_write_text
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.spots.measure import spot_fields

STATES = ("proposed", "accepted", "rejected", "edited")
DECIDED = ("accepted", "rejected", "edited")
SUFFIX = ".spots.json"

#: values of :meth:`SpotReview.pixel_provenance`
PIXEL_UNLABELLED = 0
PIXEL_ACCEPTED = 1  # labelled because a proposal was accepted as it was
PIXEL_EDITED = 2  # labelled inside a proposal the person edited by hand
PIXEL_BY_HAND = 3  # labelled by hand, no proposal involved


class SpotReviewError(UserFacingError):
    """A review file or a review action is not valid; the message names the file or spot."""


@dataclass
class ReviewedSpot:
    """One spot under review: where it is, how sure the detector was, and what was decided."""

    id: int
    bbox: tuple[int, int, int, int]  # (y0, y1, x0, x1)
    centroid: tuple[float, float]  # (y, x)
    area: int
    peak: float
    score: float
    ys: np.ndarray
    xs: np.ndarray
    state: str = "proposed"
    label: int | None = None  # the mask label it was accepted as

    def to_dict(self) -> dict[str, Any]:
        return {
            **spot_fields(self),
            "state": self.state,
            "label": self.label,
            "ys": self.ys.tolist(),
            "xs": self.xs.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> ReviewedSpot:
        try:
            ys = np.asarray(d["ys"], dtype=np.int32)
            xs = np.asarray(d["xs"], dtype=np.int32)
            spot = cls(
                int(d["id"]),
                tuple(int(v) for v in d["bbox"]),  # type: ignore[arg-type]
                (float(d["centroid"][0]), float(d["centroid"][1])),
                int(d["area"]),
                float(d["peak"]),
                float(d["score"]),
                ys,
                xs,
                str(d.get("state", "proposed")),
                None if d.get("label") is None else int(d["label"]),
            )
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise SpotReviewError(f"{where}: malformed spot entry ({e})") from None
        if spot.state not in STATES:
            raise SpotReviewError(f"{where}: spot {spot.id} has unknown state {spot.state!r}")
        if ys.shape != xs.shape or ys.ndim != 1:
            raise SpotReviewError(f"{where}: spot {spot.id} has mismatched pixel lists")
        return spot


class SpotReview:
    """All spots of one image plane under review, with the detector that proposed them."""

    def __init__(self, shape: tuple[int, int], method: str = "", params: dict | None = None):
        self.shape = (int(shape[0]), int(shape[1]))
        self.method = method
        self.params = dict(params or {})
        self.spots: dict[int, ReviewedSpot] = {}
        self._next_id = 1

    # -- building --------------------------------------------------------------------------------
    @classmethod
    def from_candidates(
        cls, shape: tuple[int, int], candidates: Iterable[Any], method: str = "", params=None
    ) -> SpotReview:
        review = cls(shape, method, params)
        review._add(candidates)
        return review

    def _add(self, candidates: Iterable[Any]) -> list[int]:
        added = []
        for c in candidates:
            spot = ReviewedSpot(
                self._next_id,
                tuple(int(v) for v in c.bbox),  # type: ignore[arg-type]
                (float(c.centroid[0]), float(c.centroid[1])),
                int(c.area),
                float(c.peak),
                float(c.score),
                np.asarray(c.ys, dtype=np.int32),
                np.asarray(c.xs, dtype=np.int32),
            )
            self.spots[spot.id] = spot
            added.append(spot.id)
            self._next_id += 1
        return added

    def merge(self, candidates: Iterable[Any], method: str, params: dict | None = None) -> None:
        """New detector output: drop undecided proposals, keep decisions, add new candidates
        that do not overlap a decided spot."""
        for sid in [s.id for s in self.spots.values() if s.state == "proposed"]:
            del self.spots[sid]
        taken = np.zeros(self.shape, dtype=bool)
        for s in self.spots.values():
            taken[s.ys, s.xs] = True
        fresh = [c for c in candidates if not taken[c.ys, c.xs].any()]
        self._add(fresh)
        self.method, self.params = method, dict(params or {})

    # -- queries ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.spots)

    def __getitem__(self, sid: int) -> ReviewedSpot:
        try:
            return self.spots[sid]
        except KeyError:
            raise SpotReviewError(f"spot {sid}: no such spot in the review") from None

    def ranked(self) -> list[int]:
        """Spot ids by decreasing score (the review queue order)."""
        return [s.id for s in sorted(self.spots.values(), key=lambda s: (-s.score, s.id))]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for s in self.spots.values():
            out[s.state] += 1
        return out

    def undecided_above(self, score: float) -> list[int]:
        return [
            sid
            for sid in self.ranked()
            if self.spots[sid].state == "proposed" and self.spots[sid].score >= score
        ]

    # -- decisions -------------------------------------------------------------------------------
    def set_state(self, sid: int, state: str, label: int | None = None) -> ReviewedSpot:
        if state not in STATES:
            raise SpotReviewError(f"spot {sid}: unknown state {state!r}")
        spot = self[sid]
        spot.state = state
        spot.label = label if state in ("accepted", "edited") else None
        return spot

    def reconcile(self, mask: np.ndarray) -> list[int]:
        """After undo or hand edits: an accepted spot none of whose pixels is labelled any more
        goes back to "proposed"; one only partly labelled becomes "edited". Returns changed ids."""
        changed = []
        for s in self.spots.values():
            if s.state != "accepted" or s.ys.size == 0:
                continue
            hit = mask[s.ys, s.xs] != 0
            if not hit.any():
                s.state, s.label = "proposed", None
                changed.append(s.id)
            elif not hit.all():
                s.state = "edited"
                changed.append(s.id)
        return changed

    def pixel_provenance(self, mask: np.ndarray) -> np.ndarray:
        """uint8 map: how each labelled pixel of ``mask`` came to be (PIXEL_* constants)."""
        if mask.shape != self.shape:
            raise SpotReviewError(
                f"provenance: mask shape {mask.shape} does not match the review {self.shape}"
            )
        out = np.where(mask != 0, PIXEL_BY_HAND, PIXEL_UNLABELLED).astype(np.uint8)
        for s in self.spots.values():
            if s.state in ("accepted", "edited"):
                on = mask[s.ys, s.xs] != 0
                out[s.ys[on], s.xs[on]] = PIXEL_ACCEPTED if s.state == "accepted" else PIXEL_EDITED
        return out

    # -- files -----------------------------------------------------------------------------------
    @staticmethod
    def path_for(mask_path: str | Path) -> Path:
        mask_path = Path(mask_path)
        return mask_path.with_name(mask_path.name + SUFFIX)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "qbi-desktop spot review",
            "version": 1,
            "shape": list(self.shape),
            "detector": {"method": self.method, "params": self.params},
            "counts": self.counts(),
            "spots": [self.spots[sid].to_dict() for sid in sorted(self.spots)],
        }

    def save(self, path: str | Path) -> Path:
        """Write the review as JSON, atomically."""
        path = Path(path)
        try:
            atomic_write_text(path, json.dumps(self.to_dict(), default=_jsonable))
        except OSError as e:
            raise SpotReviewError(
                f"{path}: could not save the spot review ({e.strerror or e})"
            ) from None
        return path

    @classmethod
    def load(cls, path: str | Path, shape: tuple[int, int] | None = None) -> SpotReview:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpotReviewError(f"{path}: file not found") from None
        except (OSError, ValueError) as e:
            raise SpotReviewError(f"{path}: not a readable spot review ({e})") from None
        if not isinstance(data, dict) or data.get("format") != "qbi-desktop spot review":
            raise SpotReviewError(f"{path}: not a QBI Desktop spot review")
        try:
            file_shape = (int(data["shape"][0]), int(data["shape"][1]))
        except (KeyError, TypeError, ValueError, IndexError):
            raise SpotReviewError(f"{path}: the review has no valid 'shape'") from None
        if shape is not None and tuple(shape[:2]) != file_shape:
            raise SpotReviewError(
                f"{path}: the review is for a {file_shape[0]}x{file_shape[1]} image, "
                f"not {shape[0]}x{shape[1]}"
            )
        det = data.get("detector") or {}
        review = cls(file_shape, str(det.get("method", "")), det.get("params") or {})
        for i, d in enumerate(data.get("spots") or []):
            spot = ReviewedSpot.from_dict(d, f"{path}: spot entry {i}")
            if spot.ys.size and (
                spot.ys.min() < 0
                or spot.xs.min() < 0
                or spot.ys.max() >= file_shape[0]
                or spot.xs.max() >= file_shape[1]
            ):
                raise SpotReviewError(f"{path}: spot {spot.id} has pixels outside the image")
            review.spots[spot.id] = spot
        review._next_id = max(review.spots, default=0) + 1
        return review


def project_review_path(
    root: str | Path, item_id: int, image_hash: str | None = None, annotator: str | None = None
) -> Path:
    """Where the spot review of item ``item_id`` of the project at ``root`` is kept:
    ``<project>/spots/<id>-<hash>.spots.json``. A project's mask is a new file at every save
    (``masks/`` is never edited in place), so "beside the mask" is no fixed place there; the
    review belongs to the item, as its mask does. The image's content hash in the name keeps a
    review from coming back on another image that took a deleted item's id. ``annotator``
    (annotating blind): that person's own review, as blind work sees only its own mask."""
    tag = f"-{image_hash[:16]}" if image_hash else ""
    if annotator:
        tag += "-" + hashlib.blake2b(annotator.encode(), digest_size=6).hexdigest()
    return Path(root) / "spots" / f"{int(item_id)}{tag}{SUFFIX}"


#: a project's review file (:func:`project_review_path`): ``<id>[-<hash tag>][-<annotator
#: tag>].spots.json``; the hash tag is the first 16 characters of the image's content hash
REVIEW_NAME = re.compile(r"^(\d+)((?:-[0-9A-Za-z]+)*)" + re.escape(SUFFIX) + "$")
_HASH_TAG = 16


def leftover_reviews(root: str | Path, db: sqlite3.Connection) -> list[Path]:
    """The spot reviews in ``<root>/spots/`` that belong to no item of the catalog ``db``
    any more: their item was deleted, or its id now names another image (the hash tag in the
    file's name is not the item's). Files of other names, links and folders are never
    counted. Sorted by name."""
    folder = Path(root) / "spots"
    found: list[tuple[Path, int, str | None]] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                m = REVIEW_NAME.match(entry.name)
                if m is None or not entry.is_file(follow_symlinks=False):
                    continue
                tags = [t for t in m.group(2).split("-") if len(t) == _HASH_TAG]
                found.append((Path(entry.path), int(m.group(1)), tags[0] if tags else None))
    except OSError:  # no spots/ folder (no review saved yet), or unreadable: nothing to say
        return []
    hashes: dict[int, str] = {}
    ids = sorted({item for _, item, _ in found})
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = db.execute(
            f"SELECT id, hash FROM items WHERE id IN ({','.join('?' * len(chunk))})", chunk
        )
        hashes.update((int(i), str(h or "")) for i, h in rows)
    gone = [
        path
        for path, item, tag in found
        if item not in hashes or (tag is not None and not hashes[item].startswith(tag))
    ]
    return sorted(gone)


def remove_leftover_reviews(root: str | Path, db: sqlite3.Connection) -> list[Path]:
    """Remove :func:`leftover_reviews` (the reviews of deleted items: clutter that an item
    taking a deleted one's id could meet); the files removed. Never raises for a file that
    cannot be removed (it is left, and not in the list)."""
    removed = []
    for path in leftover_reviews(root, db):
        with contextlib.suppress(FileNotFoundError, OSError):
            path.unlink()
            removed.append(path)
    return removed


def reviews_of_items(root: str | Path, ids: Iterable[int]) -> list[Path]:
    """Every review file of the items ``ids`` in ``<root>/spots/`` (each annotator's too):
    what goes with the items when they are deleted, as their masks do."""
    wanted = {int(i) for i in ids}
    out = []
    with contextlib.suppress(OSError), os.scandir(Path(root) / "spots") as entries:
        for entry in entries:
            m = REVIEW_NAME.match(entry.name)
            if m is not None and int(m.group(1)) in wanted:
                out.append(Path(entry.path))
    return sorted(out)


State = tuple[str, "int | None"]  # (state, label) of one spot


@dataclass
class Decision:
    """One review step (accept, reject, edit, accept all above a score): the spots it changed,
    their (state, label) before and after, and whether it painted a mask stroke."""

    text: str  # what Edit > Undo names ("accept spot #12")
    ids: tuple[int, ...]
    before: tuple[State, ...]
    after: tuple[State, ...]
    painted: bool  # its pixels are one stroke on the mask's undo history
    mark: tuple = field(default=())  # where the canvas stood just after it (or its undo)


class ReviewHistory:
    """The undo history of one review's decisions, on one mask editor (None: no mask).

    ``others`` passed to every call says where the canvas's other edits (box edits) stand:
    a decision is the next to undo only while the mask and the others stand where they stood
    just after it, and the next to redo only while they stand where its undo left them.
    """

    def __init__(self, review: SpotReview, editor: MaskEditor | None = None, limit: int = 500):
        self.review = review
        self.editor = editor
        self.limit = limit
        self._done: list[Decision] = []
        self._undone: list[Decision] = []

    # -- where the canvas stands -----------------------------------------------------------------
    def _after(self, others: int) -> tuple:
        e = self.editor
        return (0 if e is None else e.state_id, others)

    def _after_undo(self, others: int) -> tuple:
        e = self.editor
        return (0, None, others) if e is None else (e.state_id, e.redo_state_id, others)

    # -- making decisions ------------------------------------------------------------------------
    def decide(
        self,
        ids: Sequence[int],
        state: str,
        label: int | None = None,
        *,
        paint: bool = False,
        others: int = 0,
        text: str = "",
    ) -> Rect | None:
        """Set ``ids`` to ``state`` as one undoable step; with ``paint`` their pixels are first
        painted with ``label`` as one mask stroke. Returns the rectangle painted (or None).
        A paint refused by the editor raises and changes nothing."""
        spots = [self.review[sid] for sid in ids]  # raises for an unknown id before any change
        if state not in STATES:
            raise SpotReviewError(f"spot {ids[0] if ids else '?'}: unknown state {state!r}")
        painted, rect = False, None
        if paint and spots:
            if self.editor is None:
                raise SpotReviewError("no mask to paint the accepted spots into")
            editor = self.editor
            if editor.in_stroke:
                editor.end_stroke()
            before_state = editor.state_id
            editor.begin_stroke(int(label or 0))
            try:
                for s in spots:
                    rect = union_rect(rect, editor.paint_pixels(s.ys, s.xs))
            except Exception:
                editor.cancel_stroke()
                raise
            editor.end_stroke()
            painted = editor.state_id != before_state  # pixels already labelled: no stroke
        before = tuple((s.state, s.label) for s in spots)
        for s in spots:
            self.review.set_state(s.id, state, label)
        after = tuple((s.state, s.label) for s in spots)
        names = ", ".join(f"#{s.id}" for s in spots[:3]) + (" …" if len(spots) > 3 else "")
        what = text or f"{_VERBS.get(state, state)} spot{'s' if len(spots) > 1 else ''} {names}"
        self._done.append(
            Decision(what, tuple(s.id for s in spots), before, after, painted, self._after(others))
        )
        del self._done[: -self.limit]
        self._undone.clear()
        return rect

    def forget_redo(self) -> None:
        """A new edit elsewhere (re-detection): decisions undone before it stay undone."""
        self._undone.clear()

    # -- undo / redo -----------------------------------------------------------------------------
    def undo_text(self, others: int = 0) -> str | None:
        """What undo would take back, when the last edit on the canvas was a decision."""
        if not self._done or (self.editor is not None and self.editor.in_stroke):
            return None
        d = self._done[-1]
        return d.text if d.mark == self._after(others) else None

    def redo_text(self, others: int = 0) -> str | None:
        if not self._undone or (self.editor is not None and self.editor.in_stroke):
            return None
        d = self._undone[-1]
        return d.text if d.mark == self._after_undo(others) else None

    def undo(self, others: int = 0) -> tuple[Decision, Rect | None] | None:
        """Take back the last decision (its stroke too): its spots get their states back."""
        if self.undo_text(others) is None:
            return None
        d = self._done.pop()
        rect = self.editor.undo() if d.painted else None
        self._set(d.ids, d.before)
        d.mark = self._after_undo(others)
        self._undone.append(d)
        return d, rect

    def redo(self, others: int = 0) -> tuple[Decision, Rect | None] | None:
        if self.redo_text(others) is None:
            return None
        d = self._undone.pop()
        rect = self.editor.redo() if d.painted else None
        self._set(d.ids, d.after)
        d.mark = self._after(others)
        self._done.append(d)
        return d, rect

    def _set(self, ids: tuple[int, ...], states: tuple[State, ...]) -> None:
        for sid, (state, label) in zip(ids, states, strict=True):
            spot = self.review.spots.get(sid)
            if spot is not None:  # dropped by a re-detection since: nothing to restore
                spot.state, spot.label = state, label

    def __len__(self) -> int:
        return len(self._done)


_VERBS = {"accepted": "accept", "rejected": "reject", "edited": "edit", "proposed": "reopen"}


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)
