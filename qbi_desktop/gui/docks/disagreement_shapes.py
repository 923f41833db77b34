"""Review Disagreements: the decisions on masks and boxes (a mixin of the queue dialog).

Take one annotator's version (keys 1..n), merge them (masks by majority vote, STAPLE, union or
intersection; boxes by matching, core.quality.merge), or open the merged or taken result in the
canvas to edit it: what is saved there is written as "consensus of A, B by <method>/edited by
<you>". Each decision is one undoable change: boxes through the catalog's revert (as the
Browser), masks through core.quality.item_review's mask change, written back on a worker (a
2048^2 mask's TIFF took ~100 ms on the GUI thread); until it is written no other decision,
undo or redo starts, so writes never interleave and the undo stack says what the disk holds.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from shiboken6 import isValid

from qbi_desktop.core.catalog import Box, open_project
from qbi_desktop.core.catalog.opinions import is_consensus
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Progress
from qbi_desktop.core.quality import merge
from qbi_desktop.core.quality.item_review import (
    ItemVersions,
    item_versions,
    revert_mask,
    set_item_mask,
)
from qbi_desktop.gui.annotator import may_edit
from qbi_desktop.gui.docks.disagreement_view import mask_codes

SHAPES = ("mask", "boxes")
EDITED = "/edited by "


def versions_job(root: Path, item: int, kind: str):
    """Job: the item's versions of ``kind`` (its own connection: runs on a worker)."""
    yield Progress(0, 1, f"reading the {kind} of item {item}")
    project = open_project(root)
    try:
        versions = item_versions(project, item, kind)
    finally:
        project.close()
    # the drawing codes of each mask here, not on the GUI thread (~40 ms per 2048^2 mask)
    return versions, {a: mask_codes(m) for a, m in versions.masks.items()}


def mask_decision_job(root: Path, item: int, make, who: str, text: str):
    """Job: compute a mask (``make()``: a version taken or a merge) and write it as the item's
    consensus; returns (mask, MaskChange). On a worker: a 2048^2 merge and its TIFF take a
    few hundred ms."""
    yield Progress(0, 1, text)
    try:
        mask = make()
    except ValueError as exc:  # masks that cannot be merged: said, nothing written
        raise UserFacingError(f"item {item}: not merged: {exc}") from exc
    project = open_project(root)
    try:
        return mask, set_item_mask(project, item, mask, who, text)
    finally:
        project.close()


def mask_revert_job(root: Path, change, annotator: str | None):
    """Job: put back the mask ``change`` replaced (see :func:`revert_mask`; None when the
    item's mask changed again since), on a worker with the worker's own connection."""
    yield Progress(0, 1, f"putting back the mask of item {change.item}")
    project = open_project(root)
    try:
        return revert_mask(project, change, annotator)
    finally:
        project.close()


class ShapeDecisions:
    """Needs the dialog's window, project, view, method, status, undo_stack, current(),
    _push() and _refresh()."""

    def _load_view(self) -> None:
        """Read the current item's versions on a worker; the view shows them when they come."""
        d = self.current()
        if d is None or self.project is None:
            self.view.show_versions(None, "")
            return
        self.generation += 1
        key = (d.item, d.kind, self.generation)
        self.view.message.setText("Reading the annotators' versions…")

        def wanted() -> bool:  # still the item shown, and no decision made since
            if not isValid(self):  # the queue was closed meanwhile
                return False
            current = self.current()
            return current is not None and (current.item, current.kind, self.generation) == key

        def shown(outcome: tuple[ItemVersions, dict]) -> None:
            if wanted():
                versions, codes = outcome
                self.view.show_versions(versions, codes=codes)

        def failed(message: str) -> None:
            if wanted():
                self.view.show_versions(None, message)

        root = self.project.root
        self.loading = self.window.tasks.submit(
            f"Versions of item {d.item}",
            lambda: versions_job(root, d.item, d.kind),
            on_result=shown,
            on_error=failed,
            listed=False,
        )

    def _versions(self) -> ItemVersions | None:
        """The shown item's versions, or None (and a note) while they are being read."""
        d, v = self.current(), self.view.versions
        if d is None or v is None or (v.item, v.kind) != (d.item, d.kind):
            self.status.setText("The annotators' versions are still being read.")
            return None
        return v

    def busy(self) -> bool:
        """A mask decision (or its undo or redo) is still being computed and written."""
        return self.deciding is not None

    def take_shape(self, person: str, then=None) -> None:
        v = self._versions()
        if v is None:
            return
        if v.kind == "mask":
            self.decide_shape(lambda m=v.masks[person]: m, f"{person}'s version", then)
        else:
            self.decide_shape(lambda b=v.boxes[person]: b, f"{person}'s version", then)

    def merge_shapes(self, then=None) -> None:
        v = self._versions()
        if v is None:
            return
        if v.kind == "mask":
            method = self.method.currentData()
            masks = [v.masks[a] for a in v.annotators]
            self.decide_shape(lambda: merge.merge_masks(masks, method, v.instances), method, then)
        else:
            self.decide_shape(lambda: merge.merge_boxes(v.boxes), "matching", then)

    def decide_shape(self, make, how: str, then=None) -> None:
        """Write ``make()`` (a mask, or boxes (label, x, y, w, h)) as the item's consensus by
        ``how``: one undoable change (a mask on a worker); ``then(who)`` once it is written."""
        d, v = self.current(), self._versions()
        if d is None or v is None or self.project is None:
            return
        if not may_edit(self.window, self.project.root):  # a shared project: the name first
            return
        if self.busy():
            self.status.setText("Still writing the last decision…")
            return
        who = merge.provenance(v.annotators, how)
        text = f"{merge.METHOD_WORDS.get(how, how)} for {d.name}"
        self.generation += 1  # a reading started before this decision is out of date

        def written(result, push) -> None:
            push()
            shown = self.view.versions
            if shown is not None and (shown.item, shown.kind) == (d.item, d.kind):
                self.view.set_result(result, who)
            self._refresh(d.item)
            self.status.setText(f"{d.name}: {d.kind} written as {who}")
            if then is not None:
                then(who)

        def failed(message: str) -> None:
            if not isValid(self):
                return
            self.deciding = None
            self.status.setText(f"{d.name}: nothing was written: {message}")
            self.window.report_error(message)

        if v.kind == "boxes":
            result = make()
            boxes = [Box(str(b[0]), *(float(x) for x in b[1:5])) for b in result]
            try:
                change = self.project.set_boxes(d.item, boxes, who, text)
            except UserFacingError as exc:
                failed(str(exc))
                return
            written(result, lambda: self._push(text, change, d))
            return

        def done(outcome) -> None:
            if not isValid(self):  # closed meanwhile: written, but nothing left to show
                return
            self.deciding = None
            mask, change = outcome
            written(mask, lambda: self._push_mask(text, change, d))

        root = self.project.root
        self.status.setText(f"{d.name}: writing {text}…")
        self.deciding = self.window.tasks.submit(
            f"Decision on item {d.item}",
            lambda: mask_decision_job(root, d.item, make, who, text),
            on_result=done,
            on_error=failed,
        )

    def _push_mask(self, text: str, change, d) -> None:
        state = {"change": change}

        def flip(which: str) -> str:
            """Start writing the mask back on a worker; the stack moves at once and moves back
            (``took_back``) if the write fails."""
            if self.busy():  # (the stack refuses: the edit stays where it is)
                raise UserFacingError("the last mask decision is still being written; try again")
            if self.project is None:
                raise UserFacingError("the project this decision was made in is closed")
            done = "Undone" if which == "undo" else "Redone"

            def finished(back) -> None:
                if not isValid(self):  # closed meanwhile: written, nothing left to show
                    return
                self.deciding = None
                if back is None:
                    self.status.setText(f"{d.name}: its mask changed since; left as it is")
                    return
                state["change"] = back
                self._refresh(d.item)
                self._load_view()
                self.status.setText(f"{done}: {text}")

            def failed(message: str) -> None:
                if not isValid(self):
                    return
                self.deciding = None
                self.undo_stack.took_back(which)
                self.status.setText(f"Not {done.lower()}: {message}")
                self.window.report_error(f"{which} of {text}: {message}")

            root, me, before = self.project.root, self.window.annotator.name, state["change"]
            self.deciding = self.window.tasks.submit(
                f"{which.capitalize()} {text}",
                lambda: mask_revert_job(root, before, me),
                on_result=finished,
                on_error=failed,
                listed=False,
            )
            return f"{'Undoing' if which == 'undo' else 'Redoing'} {text}…"

        # reverting the revert redoes it
        self.undo_stack.push(text, lambda: flip("undo"), lambda: flip("redo"))

    def _consensus_by(self, item: int, kind: str) -> str | None:
        """Who the item's mask or boxes are written as, when that is a consensus."""
        if kind == "mask":
            row = self.project.db.execute(
                "SELECT annotator FROM masks WHERE item_id = ?", (item,)
            ).fetchone()
            who = {row[0]} if row is not None else set()
        else:
            who = {b.annotator for b in self.project.boxes(item)}
        return next(iter(who)) if len(who) == 1 and is_consensus(next(iter(who))) else None

    def edit_in_canvas(self):
        """Open the item's consensus (merged now by the chosen method if it has none) in the
        canvas; saving there writes it as "<its provenance>/edited by <you>". Returns what the
        Browser's opening returned (a Task or a document), or None."""
        d, v = self.current(), self._versions()
        if d is None or v is None or d.kind not in SHAPES:
            return None
        who = self._consensus_by(d.item, d.kind)
        if not who:  # none yet: merge first, then open it
            self.merge_shapes(then=lambda _who: self.edit_in_canvas())
            return None
        me = self.window.annotator.name
        editor = who.split(EDITED, 1)[0] + EDITED + (me or "unknown")
        browser = self.window.panels.get("browser")
        rows = self.project.query({"ids": [d.item]}, limit=None)
        if not rows:
            self.status.setText(f"{d.name} is no longer in the project")
            return None
        item = rows[0]
        store = replace(browser.mask_store(item), annotator=editor, blind=False)
        annotate = browser.annotate
        document = annotate.document_for(store) if annotate is not None else None
        if document is not None:  # open with the mask it had: close it, it must read the new one
            self.window.files_list.setCurrentRow(self.window.documents.index(document))
            self.window.close_current()
            if document in self.window.documents:
                self.status.setText(f"{d.name} is open with unsaved work: close it first")
                return None
        opened = browser.open_with_store(item, store)
        self.status.setText(
            f"{d.name} is open in the canvas: what you save there is written as {editor}"
        )
        return opened
