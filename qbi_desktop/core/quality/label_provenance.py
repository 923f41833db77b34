"""Labels given while a suggestion was shown, on the record: accepted or rejected, by which model.

:func:`label_items` writes a class label like ``Project.set_label`` (one transaction, undoable
through the :class:`~qbi_desktop.core.catalog.edits.Change` it returns) and, for every item that
showed a suggestion at the time, adds a ``suggestion`` entry to the item's history next to the
label's own entry: "suggestion accepted (kNN, confidence 0.93)" when the label given is the
suggested class, "suggestion rejected: kNN suggested '3' (confidence 0.82), given '5'" when the
user overrode it. A later audit (or a reviewer) can so tell labels a person chose from labels a
model proposed and a person only confirmed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qbi_desktop.core.catalog import Project
from qbi_desktop.core.catalog.edits import Change
from qbi_desktop.core.catalog.project import now

#: the history's ``what`` of these entries
SUGGESTION = "suggestion"


@dataclass(frozen=True)
class Shown:
    """The suggestion an item showed when it was labelled."""

    label: str
    confidence: float
    model: str  # "kNN", "logistic regression"


def said(shown: Shown, given: str) -> str:
    """The history's words for ``given`` against the suggestion shown."""
    if shown.label == given:
        return f"suggestion accepted ({shown.model}, confidence {shown.confidence:.2f})"
    return (
        f"suggestion rejected: {shown.model} suggested {shown.label!r} "
        f"(confidence {shown.confidence:.2f}), given {given!r}"
    )


def label_items(
    project: Project,
    ids: Sequence[int],
    label: str | None,
    annotator: str | None,
    shown: Mapping[int, Shown],
    what: str = "",
) -> Change:
    """Set (``None``: clear) the label of ``ids`` and say, for those in ``shown``, whether the
    suggestion was taken; one transaction. Clearing a label says nothing about suggestions."""
    ids = [int(i) for i in ids]
    with project.transaction() as tx:
        change = tx.set_label(ids, label, annotator, what=what)
        if label is not None:
            stamp = now()
            for item in ids:
                if item in shown:
                    tx._log([item], SUGGESTION, said(shown[item], label), annotator, stamp)
    return change
