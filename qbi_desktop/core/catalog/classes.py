"""The project's classes: their order (key 0 = first), counts, rename, merge and removal of an
unused class.

The class list is kept in the catalog's ``meta`` table (key ``classes``), so keys 0-9 mean the
same classes in every window and on the command line; classes present in the items' labels or
boxes but not in the list follow it in :func:`sorted_classes` order. Rename and merge are each
one catalog transaction over the items' labels *and* their boxes' labels; they return a
:class:`ClassEdit` (two :class:`~qbi_desktop.core.catalog.edits.Change` records) that
:func:`revert_class_edit` takes back with the class list it had. Who gave each label
(``label_by``) and drew each box is kept; the rename is logged in each item's history under the
renaming annotator.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from qbi_desktop.core.catalog import edits
from qbi_desktop.core.catalog.edits import Change
from qbi_desktop.core.errors import UserFacingError

META_KEY = "classes"
MAX_CLASS_NAME = 200
#: the longest annotator name (the GUI's Annotator dialog takes as many)
MAX_ANNOTATOR_NAME = 64
DIGITS = tuple(str(d) for d in range(10))  # MNIST's classes, one per number key


def sorted_classes(labels: Iterable[str]) -> list[str]:
    """Class names in key order: numbers numerically ("2" before "10"), then text."""

    def key(s: str):
        try:
            return (0, float(s), s)
        except ValueError:
            return (1, 0.0, s)

    return sorted(labels, key=key)


def nfc(name: Any) -> Any:
    """``name`` in the one form every class name is stored in: Unicode's composed form (NFC),
    without surrounding spaces. macOS file systems deliver folder names decomposed (NFD: "e" +
    combining accent), which looks the same as the composed "é" but is another string; a COCO
    category " spot " looks like the class "spot" that a command strips its argument to.
    Anything not text is given back as it is."""
    if not isinstance(name, str):
        return name
    if name[:1].isspace() or name[-1:].isspace():
        name = name.strip()
    if unicodedata.is_normalized("NFC", name):
        return name
    return unicodedata.normalize("NFC", name)


def folder_key(name: str) -> str:
    """The form under which two names are one folder on Windows and macOS (case-insensitive,
    and macOS also ignores the Unicode normalisation): case-folded NFC."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


class NfcNames:
    """An import's class-name normaliser: ``names(label)`` gives the label in NFC (:func:`nfc`)
    and remembers the ones it changed, which :meth:`note` reports."""

    def __init__(self) -> None:
        self.changed: dict[str, str] = {}

    def __call__(self, name: Any) -> Any:
        out = nfc(name)
        if out is not name and out != name:
            self.changed.setdefault(name, out)
        return out

    def note(self) -> str | None:
        """The import report's note, or None when no name changed."""
        if not self.changed:
            return None
        pairs = list(self.changed.items())
        shown = ", ".join(
            f"{new!r} ({len(old)} -> {len(new)} code points)" for old, new in pairs[:5]
        )
        more = f" and {len(pairs) - 5} more" if len(pairs) > 5 else ""
        return (
            f"{len(pairs)} class name(s) in decomposed Unicode (NFD, as macOS disks deliver "
            f"folder names) stored composed (NFC), so they are the classes they look like: "
            f"{shown}{more}"
        )


def check_name(name: Any) -> str:
    """A class name as stored (stripped, NFC: :func:`nfc`); refuses what
    :func:`class_name_problem` refuses, as every import does."""
    if not isinstance(name, str) or not name.strip():
        raise UserFacingError(f"class name {name!r}: give a non-empty name")
    name = nfc(name.strip())
    problem = class_name_problem(name)
    if problem is not None:
        raise UserFacingError(problem)
    return name


def class_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a class name (a short reason that names it, truncated and
    escaped), or None. The caller puts the file and the record in front."""
    return _name_problem("class name", name, MAX_CLASS_NAME)


def annotator_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be an annotator's name (the same rule as class names: text, not
    blank, at most :data:`MAX_ANNOTATOR_NAME` characters, no control character such as a line
    break or tab, which would break the TSV and CSV lines it is printed in), or None. Every
    place that takes an annotator (command options, the GUI's setting, imports) asks this."""
    return _name_problem("annotator name", name, MAX_ANNOTATOR_NAME)


def refuse_bad_annotators(named: Iterable[tuple[Any, str]]) -> None:
    """The catalog's last guard for annotator names: ``named`` gives (annotator or None, where
    it comes from); the first one :func:`annotator_name_problem` refuses raises a
    :class:`UserFacingError` naming where it came from."""
    _refuse_first(named, annotator_name_problem)


def _name_problem(what: str, name: Any, limit: int) -> str | None:
    if not isinstance(name, str):
        return f"{what} {name!r} is not text"
    shown = repr(name[:40]) + ("…" if len(name) > 40 else "")
    if not name.strip():
        return f"{what} {shown} is empty"
    if len(name) > limit:
        article = "an" if what[0] in "aeiou" else "a"
        return (
            f"{what} {shown} has {len(name):,} characters, more than the {limit} "
            f"{article} {what} may have"
        )
    for k, c in enumerate(name):
        if 0xD800 <= ord(c) < 0xE000:  # a file name's byte that is not UTF-8 (surrogateescape)
            byte = f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) < 0xDD00 else f"U+{ord(c):04X}"
            return (
                f"{what} {shown} holds a byte that is not UTF-8 ({byte}) at position {k}: "
                "rename the folder or file it comes from"
            )
        if unicodedata.category(c) in ("Cc", "Zl", "Zp"):
            return (
                f"{what} {shown} holds a control character (U+{ord(c):04X}) at position "
                f"{k}: it would show blank or break the line"
            )
    return None


def refuse_bad_names(named: Iterable[tuple[Any, str]]) -> None:
    """The catalog's last guard: ``named`` gives (class name or None, where it comes from,
    e.g. ``"item 'a.png'"``) for every class name about to enter the catalog (an item's label,
    a box's label, a mask class); the first name :func:`class_name_problem` refuses raises a
    :class:`UserFacingError` naming where it came from. Each distinct name is checked once."""
    _refuse_first(named, class_name_problem)


def _refuse_first(named: Iterable[tuple[Any, str]], problem_of) -> None:
    """Raise for the first name ``problem_of`` refuses, naming where it came from; each
    distinct name is asked once (an import gives the same few names thousands of times)."""
    seen: set[str] = set()
    for name, where in named:
        if name is None or (isinstance(name, str) and name in seen):
            continue
        problem = problem_of(name)
        if problem is not None:
            raise UserFacingError(f"{where}: {problem}")
        seen.add(name)


def class_counts(project: Any) -> dict[str, int]:
    """{class: number of items with that label} for every label present, from the count table
    the triggers keep (schema v5): the class picker opens on every C press, and grouping the
    items took 45-110 ms of GUI time at 100 000 items."""
    rows = project.db.execute(
        "SELECT label, SUM(n) FROM item_counts WHERE label IS NOT NULL GROUP BY label "
        "HAVING SUM(n) > 0"
    ).fetchall()
    return {str(label): int(n) for label, n in rows}


def box_counts(project: Any) -> dict[str, int]:
    """{class: number of boxes with that label}, from the count table the triggers keep
    (schema v8)."""
    rows = project.db.execute("SELECT label, n FROM box_label_counts WHERE n > 0").fetchall()
    return {str(label): int(n) for label, n in rows}


@dataclass(frozen=True)
class ClassEdit:
    """A rename or merge: what it did to item labels and to box labels (None: no boxes)."""

    what: str
    labels: Change
    boxes: Change | None = None

    @property
    def ids(self) -> tuple[int, ...]:
        """Every item touched (labels or boxes)."""
        extra = self.boxes.ids if self.boxes is not None else ()
        return tuple(dict.fromkeys((*self.labels.ids, *extra)))

    @property
    def changed(self) -> int:
        """Items whose label changed."""
        return self.labels.changed


def stored_list(db: Any) -> list[str]:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
    if row is None:
        return []
    try:
        value = json.loads(row[0])
    except ValueError:
        value = None
    if not isinstance(value, list):  # hand-edited: fall back to the labels present
        return []
    return [str(v) for v in value if isinstance(v, str) and v.strip()]


def class_list(project: Any, counts: dict[str, int] | None = None) -> list[str]:
    """The classes in key order: the stored list, then labels (items, boxes) it lacks."""
    stored = list(dict.fromkeys(stored_list(project.db)))
    present = set(class_counts(project) if counts is None else counts) | set(box_counts(project))
    return stored + sorted_classes(c for c in present if c not in stored)


def _known(project: Any) -> set[str]:
    return set(class_counts(project)) | set(box_counts(project)) | set(stored_list(project.db))


def spellings(known: Iterable[str], name: str) -> list[str]:
    """Every spelling of class ``name`` in ``known``: the name itself and its twins in another
    Unicode form (an older project's NFD 'cafe\u0301' is the class 'caf\u00e9'), sorted."""
    want = nfc(name)
    return sorted(k for k in known if k == name or nfc(k) == want)


def set_class_list(project: Any, names: Sequence[str]) -> list[str]:
    """Store the class order (duplicates and blanks dropped); the list stored."""
    clean = list(dict.fromkeys(check_name(n) for n in names if str(n).strip()))
    with project.transaction() as tx:
        tx.set_metadata(**{META_KEY: clean or None})
    return clean


def order_classes(project: Any, names: Sequence[str], new: Sequence[str] = ()) -> list[str]:
    """Store the class order ``names`` (key 0 = first), as ``classes --order`` does: a name
    given twice (after NFC) is refused, and so is a name the project does not have unless it
    is also in ``new`` (a typo would otherwise become an empty class); classes left out of
    ``names`` follow it, the ``new`` ones it lacks are appended. The list stored."""
    clean = [check_name(n) for n in names if str(n).strip()]
    seen: set[str] = set()
    twice = [n for n in clean if n in seen or seen.add(n)]  # type: ignore[func-returns-value]
    if twice:
        raise UserFacingError(f"class {twice[0]!r} is given twice in the order; give it once")
    added = list(dict.fromkeys(check_name(n) for n in new if str(n).strip()))
    known = {nfc(k) for k in _known(project)}  # an older project's NFD name is the class
    unknown = [n for n in clean if n not in known and n not in added]
    if unknown:
        raise UserFacingError(
            f"{', '.join(map(repr, unknown[:10]))}: not a class of the project (a typo?); "
            "to start a new empty class, add it (classes --add NAME)"
        )
    return set_class_list(project, [*clean, *(n for n in added if n not in seen)])


def first_class_list(project: Any, names: Sequence[str] = DIGITS) -> list[str]:
    """Start the class list of a project that has no class yet (no stored list, no label on an
    item or box): ``names`` in key order, by default "0".."9" so that key k gives class "k", as
    in MNIST's digit folders. Refuses when classes exist: a list someone made is never replaced
    behind their back (:func:`set_class_list` changes one on purpose)."""
    existing = class_list(project)
    if existing:
        shown = ", ".join(existing[:10]) + (", …" if len(existing) > 10 else "")
        raise UserFacingError(f"the project already has classes ({shown}); not replaced")
    return set_class_list(project, names)


def add_class(project: Any, name: str) -> list[str]:
    """Append a new class to the stored list (no-op when it is there)."""
    name = check_name(name)
    current = class_list(project)
    if name in current or any(nfc(c) == name for c in current):  # an older project's NFD twin
        return current
    return set_class_list(project, [*current, name])


def remove_class(project: Any, name: str) -> list[str]:
    """Take class ``name`` (every spelling of it) out of the class list, when no item's label
    and no box uses it: a class made by mistake (the ten digit classes 0-9 of a project that
    has three). A class in use is refused, saying how many items and boxes use it (merge it
    into another class first). Returns the list stored; the caller keeps the list it had for
    undo (:func:`set_class_list`)."""
    names = spellings(_known(project), name)
    if not names:
        raise UserFacingError(f"class {name!r} is not in the project")
    labels, boxes = class_counts(project), box_counts(project)
    items = sum(labels.get(n, 0) for n in names)
    boxed = sum(boxes.get(n, 0) for n in names)
    if items or boxed:
        uses = []
        if items:
            uses.append(f"{items:,} item{'s' if items != 1 else ''}")
        if boxed:
            uses.append(f"{boxed:,} box{'es' if boxed != 1 else ''}")
        raise UserFacingError(
            f"class {name!r} is not removed: {' and '.join(uses)} use it; merge it into "
            "another class, or clear those labels and boxes first"
        )
    return set_class_list(project, [c for c in class_list(project) if c not in names])


def rename_class(project: Any, old: str, new: str, annotator: str | None = None) -> ClassEdit:
    """Rename class ``old`` to ``new`` on every item and box; refuses a name already in use
    (that is a merge: :func:`merge_classes`). Every spelling of ``old`` (an older project's
    NFD twin too) takes the new name: no twin is left behind."""
    new = check_name(new)
    known = _known(project)
    olds = spellings(known, old)
    if not olds:
        raise UserFacingError(f"class {old!r} is not in the project")
    if nfc(old) == new:  # the same name: only its other spellings have anything to change
        if olds == [new]:
            raise UserFacingError(f"class {old!r}: the new name is the same")
        what = f"rename class {new!r} (its decomposed spelling, NFD) to {new!r}"
        return _relabel(project, [o for o in olds if o != new], new, annotator, what)
    if new in known:
        raise UserFacingError(
            f"class {new!r} already exists: merge {old!r} into it instead of renaming"
        )
    twin = next((k for k in spellings(known, new) if k != new), None)
    if twin is not None:  # an older project's NFD name: the same look, another string
        raise UserFacingError(
            f"class {new!r} already exists (as {twin!r}, the same name in decomposed Unicode, "
            f"NFD): merge {old!r} into it instead of renaming"
        )
    return _relabel(project, olds, new, annotator, f"rename class {old!r} to {new!r}")


def merge_classes(
    project: Any, sources: Sequence[str], into: str, annotator: str | None = None
) -> ClassEdit:
    """Give every item and box labelled with one of ``sources`` the label ``into`` (which may be
    new or one of the sources); the sources leave the class list. Every spelling of a source
    and of ``into`` in another Unicode form (an older project's NFD 'cafe\u0301') is the same
    class: all of them end up as ``into`` (NFC), no twin is left in the class list."""
    into = check_name(into)
    known = _known(project)
    twins = [k for k in spellings(known, into) if k != into]
    named = list(dict.fromkeys(sources))
    missing = [s for s in named if not spellings(known, s)]
    if missing:
        raise UserFacingError(f"class {missing[0]!r} is not in the project")
    others = [s for s in named if nfc(s) != into]
    if not others and not twins:
        raise UserFacingError(f"merge into {into!r}: choose at least one other class to merge")
    relabel = [k for s in others for k in spellings(known, s)] + twins
    relabel = [k for k in dict.fromkeys(relabel) if k != into]
    what = f"merge {', '.join(map(repr, others or named))} into {into!r}"
    return _relabel(project, relabel, into, annotator, what)


def _relabel(
    project: Any, sources: list[str], into: str, annotator: str | None, what: str
) -> ClassEdit:
    from qbi_desktop.core.catalog.project import now

    with project.transaction() as tx:
        order = class_list(project)  # before the labels change
        marks = ",".join("?" * len(sources))
        ids = [
            int(r[0])
            for r in tx.db.execute(f"SELECT id FROM items WHERE label IN ({marks})", sources)
        ]
        ids, before = edits.capture(tx.db, "label", ids)
        tx.db.execute(f"UPDATE items SET label = ? WHERE label IN ({marks})", [into, *sources])
        stamp = now()
        tx.db.executemany(
            "INSERT INTO annotation_log(item_id, what, value, annotator, at) VALUES (?,?,?,?,?)",
            [(i, "label", into, annotator, stamp) for i in ids],
        )
        labels = edits.finish(tx.db, "label", what, ids, before)
        boxed = [
            int(r[0])
            for r in tx.db.execute(
                f"SELECT DISTINCT item_id FROM boxes WHERE label IN ({marks})", sources
            )
        ]
        boxes = None
        if boxed:
            boxed, old_boxes = edits.capture(tx.db, edits.BOXES, boxed)
            tx.db.execute(f"UPDATE boxes SET label = ? WHERE label IN ({marks})", [into, *sources])
            tx.db.executemany(
                "INSERT INTO annotation_log(item_id, what, value, annotator, at) "
                "VALUES (?,?,?,?,?)",
                [(i, "boxes", what, annotator, stamp) for i in boxed],
            )
            boxes = edits.finish(tx.db, edits.BOXES, what, boxed, old_boxes)
        tx.set_metadata(**{META_KEY: _merged_order(order, sources, into)})
        return ClassEdit(what, labels, boxes)


def _merged_order(order: list[str], sources: list[str], into: str) -> list[str]:
    """The class list after a merge: ``into`` takes the place of the first of the merged
    classes (so the number keys of the classes around it do not move)."""
    gone = {*sources, into}
    places = [n for n, c in enumerate(order) if c in gone]
    at = places[0] if places else len(order)
    out = []
    for n, c in enumerate(order):
        if n == at:
            out.append(into)
        if c not in gone:
            out.append(c)
    if at == len(order):
        out.append(into)
    return out


def revert_class_edit(
    project: Any, edit: ClassEdit, order: Sequence[str], annotator: str | None = None
) -> tuple[ClassEdit, int]:
    """Undo (or redo) a rename/merge: item labels, box labels and the class list ``order`` it
    had, in one transaction. Returns the edit that redoes it and how many items were restored
    (items edited again since are left alone)."""
    from qbi_desktop.core.catalog.project import now

    with project.transaction() as tx:
        stamp = now()
        labels = edits.revert(tx, edit.labels, annotator, stamp)
        boxes = edits.revert(tx, edit.boxes, annotator, stamp) if edit.boxes else None
        tx.set_metadata(**{META_KEY: list(order) or None})
    back = ClassEdit(edit.what, labels.change, boxes.change if boxes else None)
    return back, len(back.ids)
