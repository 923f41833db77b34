"""Acting on an audit's rows: each action is one catalog transaction, undoable, on the record.

The audit itself changes nothing (audit.py); the user acts row by row:

* ``accept``: give the item the suggested class (label and unlabelled rows);
* ``keep``: the label is right after all - the item's review becomes "accepted";
* ``reject``: the item's review becomes "rejected" (left out of exports that skip rejects);
* ``merge``: of a duplicate (or leak) pair keep the other item, this one is rejected with a
  note naming the item it duplicates - nothing is deleted, so it can be taken back;
* ``move``: a leaked item goes to the split of the item it leaks from, so the pair no longer
  sits on both sides of the evaluation.

Each returns the :class:`~qbi_desktop.core.catalog.edits.Change` it made (``Project.revert``
takes it back: Ctrl+Z in the Browser), named "... (audit)", and writes an ``audit`` entry in
the item's history next to the edit's own, saying which action on which finding.
"""

from __future__ import annotations

import dataclasses

from qbi_desktop.core.catalog import Project
from qbi_desktop.core.catalog.edits import Change
from qbi_desktop.core.catalog.project import now
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.quality.audit import Issue

ACTIONS = ("accept", "keep", "reject", "merge", "move")
#: which actions make sense for which kind of row
ALLOWED: dict[str, tuple[str, ...]] = {
    "label": ("accept", "keep", "reject"),
    "unlabelled": ("accept", "reject"),
    "duplicate": ("merge", "keep", "reject"),
    "leak": ("move", "merge", "keep", "reject"),
    "outlier": ("keep", "reject"),
}
PROVENANCE = "audit"


def allowed(issue: Issue) -> tuple[str, ...]:
    """The actions a row offers (accept only with a suggested class)."""
    actions = ALLOWED.get(issue.kind, ())
    if not issue.suggested_label:
        actions = tuple(a for a in actions if a != "accept")
    return actions


def apply_action(
    project: Project, issue: Issue, action: str, annotator: str | None = None
) -> Change:
    """Do ``action`` on the audit row ``issue`` (see the module docstring)."""
    if action not in allowed(issue):
        raise UserFacingError(
            f"audit row {issue.item} ({issue.kind}): '{action}' does not apply; "
            f"choose one of {', '.join(allowed(issue)) or 'none'}"
        )
    item = int(issue.item_id)
    with project.transaction() as tx:
        if not project.db.execute("SELECT 1 FROM items WHERE id = ?", (item,)).fetchone():
            raise UserFacingError(f"audit row {issue.item}: the item is no longer in the project")
        if action == "accept":
            change = tx.set_label(
                [item], issue.suggested_label, annotator, what=f"label {issue.suggested_label!r}"
            )
            said = f"accepted suggestion {issue.suggested_label!r} ({issue.kind}, "
            said += f"score {issue.score:.3g})"
        elif action == "keep":
            change = tx.set_review([item], "accepted", annotator, None)
            said = f"kept as it is ({issue.kind}, score {issue.score:.3g})"
        elif action == "reject":
            change = tx.set_review([item], "rejected", annotator, None)
            said = f"rejected ({issue.kind}, score {issue.score:.3g})"
        elif action == "merge":
            note = f"duplicate of {issue.related_item} (audit)"
            change = tx.set_review([item], "rejected", annotator, note)
            said = f"merged into {issue.related_item} ({issue.kind}): rejected as its duplicate"
        else:  # move
            row = project.db.execute(
                "SELECT split FROM items WHERE id = ?", (int(issue.related_id),)
            ).fetchone()
            if row is None:
                raise UserFacingError(
                    f"audit row {issue.item}: the item it leaks from ({issue.related_item}) is no "
                    "longer in the project"
                )
            change = tx.set_split([item], row[0])
            said = f"moved to split {row[0] or 'unassigned'}, beside {issue.related_item} (leak)"
        tx._log([item], PROVENANCE, said, annotator, now())  # the history says why
    return dataclasses.replace(change, what=f"{_short(action, issue, change)} (audit)")


def _short(action: str, issue: Issue, change: Change) -> str:
    if action == "accept":
        return f"label {issue.suggested_label!r}"
    if action == "move":
        return change.what  # "split train"
    return {"keep": "keep", "reject": "reject", "merge": "merge duplicate"}[action]
