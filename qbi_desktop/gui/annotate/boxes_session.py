"""The boxes of one image plane being edited: the saved boxes, copy-forward proposals, the
selection, and the undo history of box edits.

Every box edit (draw, move, resize, relabel, delete, accept a proposal) is written at once as
one edit of the store (:mod:`qbi_desktop.core.annotation.boxes`: one catalog transaction for a
project item, one atomic file write for a loose image), then recorded on an
:class:`~qbi_desktop.gui.undo.UndoStack`; undo takes the edit back through the store (the
catalog's ``Project.revert``: an item edited elsewhere since is left alone and said so).

Proposals are not saved: they become boxes only when accepted. Rejecting one forgets it.

Undo on the canvas goes to the last thing done there, a box edit or a mask stroke: each box
edit remembers how deep the mask's undo history was when it was made (``mask_depth``), so the
Annotate panel can tell which came last (:meth:`BoxSession.owns_next_undo`).
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, Signal

from qbi_desktop.core.annotation.boxes import BoxError, clip, copy_forward
from qbi_desktop.core.catalog import Box
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui.annotator import may_edit
from qbi_desktop.gui.undo import UndoStack

Selection = tuple[str, int] | None  # ("box" | "proposal", index)


class BoxSession(QObject):
    """``store`` is an ItemBoxStore, a FileBoxStore or None (an unsaved array: boxes are kept
    in memory only, and the panel says so)."""

    changed = Signal()  # boxes, proposals or the selection changed
    edited = Signal()  # the stored boxes changed (an edit, its undo or redo)
    message = Signal(str)

    def __init__(self, store, width: int, height: int, annotator: str | None, parent=None):
        super().__init__(parent)
        self.store = store
        self.width, self.height = int(width), int(height)
        self.annotator = annotator
        self.boxes: list[Box] = []
        self.proposals: list[Box] = []
        self.selected: Selection = None
        self.undo_stack = UndoStack(self)
        self.load_problem: str | None = None
        # mask undo depth at each box edit (done) and at each undo (undone), parallel to the
        # stack's own lists, so undo can go to whichever came last on the canvas
        self._done_depths: list[int] = []
        self._undone_depths: list[int] = []
        self.mask_depth = lambda: 0  # set by the panel: the mask editor's undo depth

    # -- loading --------------------------------------------------------------------------------
    def load(self) -> None:
        if self.store is None:
            return
        try:
            self.boxes = list(self.store.load())
        except UserFacingError as exc:
            self.load_problem = str(exc)
            self.boxes = []
        self.changed.emit()

    def describe(self) -> str:
        return "not stored (unsaved image)" if self.store is None else self.store.describe()

    # -- selection ------------------------------------------------------------------------------
    def select(self, selection: Selection) -> None:
        if selection is not None:
            kind, i = selection
            items = self.boxes if kind == "box" else self.proposals
            if not 0 <= i < len(items):
                selection = None
        if selection != self.selected:
            self.selected = selection
            self.changed.emit()

    def selected_box(self) -> Box | None:
        if self.selected is None:
            return None
        kind, i = self.selected
        return (self.boxes if kind == "box" else self.proposals)[i]

    # -- edits (each one store write, one undo step) --------------------------------------------
    def add(self, box: Box) -> bool:
        box = replace(box, annotator=box.annotator or self.annotator)
        if not self._edit([*self.boxes, box], f"draw box '{box.label}'", clip_index=-1):
            return False
        self.select(("box", len(self.boxes) - 1))
        return True

    def replace_box(self, index: int, box: Box, what: str) -> bool:
        boxes = list(self.boxes)
        boxes[index] = box
        return self._edit(boxes, what, clip_index=index)

    def relabel(self, index: int, label: str) -> bool:
        old = self.boxes[index]
        if old.label == label:
            return False
        return self.replace_box(index, replace(old, label=label), f"class '{label}'")

    def delete(self, index: int) -> bool:
        gone = self.boxes[index]
        boxes = [b for i, b in enumerate(self.boxes) if i != index]
        if not self._edit(boxes, f"delete box '{gone.label}'"):
            return False
        self.selected = None
        self.changed.emit()
        return True

    def _edit(self, boxes: list[Box], what: str, clip_index: int | None = None) -> bool:
        """Write ``boxes`` as one edit; False (and a message) if it was refused."""
        before = self.annotator
        if not self._may_edit():
            self.changed.emit()  # a refused drag springs back
            return False
        if self.annotator != before:  # the name was just given: this edit's new boxes are theirs
            new = self.annotator
            boxes = [
                replace(b, annotator=new) if b.annotator == before and b not in self.boxes else b
                for b in boxes
            ]
        try:
            if clip_index is not None:
                i = clip_index % len(boxes)
                boxes[i] = clip(boxes[i], self.width, self.height)
            token = self._write(boxes, what)
        except UserFacingError as exc:
            self.message.emit(str(exc))
            self.changed.emit()  # a refused drag springs back
            return False
        self.boxes = boxes
        self._push(what, token)
        self.changed.emit()
        self.edited.emit()
        return True

    def _may_edit(self) -> bool:
        """A project item's boxes: a shared project needs the annotator's name first (asked
        once; gui.annotator then gives the open sessions that name instead of the login's)."""
        project = getattr(self.store, "project", None)
        window = getattr(self.parent(), "window", None)
        if project is None or window is None:
            return True
        return may_edit(window, project.root, "drawn")

    def _write(self, boxes: list[Box], what: str):
        if self.store is None:
            return (list(self.boxes), list(boxes))
        return self.store.write(boxes, what)

    def _revert(self, token):
        if self.store is None:
            before, after = token
            self.boxes = list(before)
            return (after, before), None
        inverse, note = self.store.revert(token)
        self.boxes = list(self.store.load())
        return inverse, note

    def _push(self, what: str, token) -> None:
        state = {"token": token}

        def flip():
            state["token"], note = self._revert(state["token"])
            if self.selected is not None and self.selected[0] == "box":
                self.selected = None
            self.changed.emit()
            self.edited.emit()
            return note

        self.undo_stack.push(what, flip, flip)
        self._done_depths.append(self.mask_depth())
        del self._done_depths[: -self.undo_stack.limit]
        self._undone_depths.clear()

    # -- undo -----------------------------------------------------------------------------------
    def owns_next_undo(self) -> bool:
        """True when the last edit on the canvas was a box edit (no stroke made since)."""
        return bool(self._done_depths) and self._done_depths[-1] >= self.mask_depth()

    def owns_next_redo(self) -> bool:
        return bool(self._undone_depths) and self._undone_depths[-1] <= self.mask_depth()

    def undo(self):
        said = self.undo_stack.undo()
        self._undone_depths.append(self._done_depths.pop())
        return said

    def redo(self):
        said = self.undo_stack.redo()
        self._done_depths.append(self._undone_depths.pop())
        return said

    def forget_redo(self) -> None:
        """A stroke was made: box edits undone before it can no longer be redone."""
        if self._undone_depths:
            self._undone_depths.clear()
            self.undo_stack._undone.clear()

    # -- proposals ------------------------------------------------------------------------------
    def propose(self, previous: list[Box]) -> int:
        """Bring ``previous`` in as proposals (clipped to this image); how many."""
        proposals, dropped = copy_forward(previous, self.width, self.height)
        here = {_geometry(b) for b in self.boxes}
        kept = [p for p in proposals if _geometry(p) not in here]  # already there: not again
        present = len(proposals) - len(kept)
        proposals = self.proposals = kept
        self.selected = ("proposal", 0) if proposals else None
        note = f"{len(proposals)} box proposal(s): Enter accepts, Delete rejects"
        if dropped:
            note += f"; {dropped} fell outside this image and were left out"
        if present:
            note += f"; {present} already here and left out"
        self.message.emit(note)
        self.changed.emit()
        return len(proposals)

    def move_proposal(self, index: int, box: Box) -> None:
        """Adjust a proposal before accepting it (not saved)."""
        try:
            self.proposals[index] = clip(box, self.width, self.height)
        except BoxError as exc:
            self.message.emit(str(exc))
        self.changed.emit()

    def accept(self, indexes: list[int]) -> bool:
        """Accept proposals as boxes: one edit for all of them."""
        indexes = sorted(set(i for i in indexes if 0 <= i < len(self.proposals)))
        if not indexes:
            return False
        taken = [replace(self.proposals[i], annotator=self.annotator) for i in indexes]
        what = f"accept {len(taken)} proposal(s)"
        if not self._edit([*self.boxes, *taken], what):
            return False
        self.proposals = [p for i, p in enumerate(self.proposals) if i not in indexes]
        first = indexes[0]
        self.selected = (
            ("proposal", min(first, len(self.proposals) - 1)) if self.proposals else None
        )
        self.changed.emit()
        return True

    def reject(self, indexes: list[int]) -> None:
        drop = set(indexes)
        self.proposals = [p for i, p in enumerate(self.proposals) if i not in drop]
        if self.selected is not None and self.selected[0] == "proposal":
            first = min(drop) if drop else 0
            self.selected = (
                ("proposal", min(first, len(self.proposals) - 1)) if self.proposals else None
            )
        self.changed.emit()


def _geometry(box: Box) -> tuple:
    return (box.label, round(box.x, 3), round(box.y, 3), round(box.w, 3), round(box.h, 3))
