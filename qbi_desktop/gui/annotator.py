"""Who is annotating: one name for the whole window, kept in the settings, shown in the status bar.

Every label, target, box, mask and review decision the window writes carries this name (the
catalog records it with each edit). The name is asked for once; the status bar button shows it
and switches it (Edit ▸ Annotator…). Panels read ``window.annotator.name`` when they write and
listen to ``changed`` if they show it.

A shared project never gets edits under the login name silently: every place that edits (the
Browser's keys and dialogs, targets, suggestions, audit actions, mask strokes, boxes, spot
decisions) first calls :func:`may_edit`, which asks for the name once when the project holds
another person's work or is marked shared (Edit ▸ Shared Project); Cancel refuses the edit and
the status bar says why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import sqlite3
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QLineEdit, QPushButton

from qbi_desktop.core.catalog import opinions
from qbi_desktop.core.catalog.classes import MAX_ANNOTATOR_NAME, annotator_name_problem
from qbi_desktop.core.catalog.connection import open_read_only

KEY = "annotator/name"
_LEGACY_KEY = "browser/annotator"  # where the Browser kept it before
MAX_LENGTH = MAX_ANNOTATOR_NAME


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some sandboxes
        return "annotator"


def clean_name(text: str) -> str:
    """The name as stored: one line, no surrounding blanks; refuses empty or over-long names
    and names the core's rule refuses (a control character: the stored setting may hold one)."""
    name = " ".join(str(text).split())
    if not name:
        raise ValueError("an annotator name cannot be empty")
    if len(name) > MAX_LENGTH:
        raise ValueError(f"an annotator name has at most {MAX_LENGTH} characters")
    problem = annotator_name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


class Annotator(QObject):
    """The current annotator's name; ``chosen`` tells whether the person gave it (or it is the
    login name, a default that is fine alone but should be confirmed for shared projects)."""

    changed = Signal(str)

    def __init__(self, settings, parent=None):
        super().__init__(parent)
        self._settings = settings
        stored = str(settings.value(KEY, "") or settings.value(_LEGACY_KEY, "") or "")
        try:
            self._name = clean_name(stored)
            self.chosen = True
        except ValueError:
            self._name = login_name()
            self.chosen = False

    @property
    def name(self) -> str:
        return self._name

    def set_name(self, text: str) -> str:
        """Switch to ``text`` (cleaned); saved at once. Raises ValueError for a bad name."""
        name = clean_name(text)
        confirmed = not self.chosen  # the login name confirmed is news too (the red button)
        self.chosen = True
        self._settings.setValue(KEY, name)
        if name != self._name or confirmed:
            self._name = name
            self.changed.emit(name)
        return name

    def ask(self, parent, why: str = "") -> bool:
        """Ask for the name (prefilled); True when the person gave one."""
        prompt = "Your name, recorded with every label, box, mask and review you make:"
        if why:
            prompt = f"{why}\n\n{prompt}"
        while True:
            text, ok = QInputDialog.getText(
                parent, "Annotator", prompt, QLineEdit.EchoMode.Normal, self._name
            )
            if not ok:
                return False
            try:
                self.set_name(text)
                return True
            except ValueError as exc:
                prompt = f"{exc}.\n\nYour name:"


class AnnotatorButton(QPushButton):
    """Status bar button: shows the annotator; a click switches."""

    def __init__(self, annotator: Annotator, parent=None):
        super().__init__(parent)
        self.annotator = annotator
        self.setFlat(True)
        self.setToolTip("Who is annotating: recorded with every edit. Click to switch.")
        self.clicked.connect(lambda: annotator.ask(self.window()))
        annotator.changed.connect(self._show)
        self._show(annotator.name)

    def _show(self, name: str) -> None:
        self.setText(f"Annotator: {name}")


# -- the gate before every edit ------------------------------------------------------------------


def may_edit(window, root: str | Path | None = None, what: str = "edited") -> bool:
    """Whether an edit of the project at ``root`` (None: the Browser's project) may go ahead
    now: True at once when the person gave their name or the project is not shared; otherwise
    the name is asked for (Cancel: False, nothing to write). Call it before writing anything."""
    gate = getattr(window, "edit_gate", None)
    return gate is None or gate.check(root, what)


class EditGate(QObject):
    """``window.edit_gate``: the one check every GUI edit path makes (see :func:`may_edit`),
    and Edit ▸ Shared Project, which marks the Browser's project shared in its catalog."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self._asking = False
        self._root: str | None = None
        self.refused = 0  # edits refused for want of a name (tests and the status bar read it)
        # (project or root, name) -> (when read, people, marked): reading who else worked on
        # the project costs ~3 ms of GUI time, and without a name it is asked at every key
        # press; another person's work arriving from outside is seen within ``fresh_for`` s
        self.fresh_for = 5.0
        self._known: dict[tuple[object, str], tuple[float, list[str], bool]] = {}
        self.action = QAction("&Shared Project (each annotator gives a name)", self)
        self.action.setCheckable(True)
        self.action.setEnabled(False)
        self.action.setToolTip(
            "Several people annotate this project: everyone gives their own name before their "
            "first edit, so each one's work is kept apart (kept in the project)"
        )
        self.action.toggled.connect(self._toggled)
        window.annotator.changed.connect(lambda _name: self._known.clear())
        browser = self._browser()
        if browser is not None:
            browser.model.reloaded.connect(self._project_seen)

    def _browser(self):
        return getattr(self.window, "panels", {}).get("browser")

    def check(self, root: str | Path | None = None, what: str = "edited") -> bool:
        annotator = self.window.annotator
        if annotator.chosen:
            return True
        people, marked = self.sharing(root)
        if not people and not marked:
            return True
        if self._asking:  # an edit arriving while the question is open waits for no one
            return False
        shown = ", ".join(people[:5]) + (" …" if len(people) > 5 else "")
        why = (
            f"This project is shared: {shown} annotated it too."
            if people
            else "This project is marked as shared."
        )
        old = annotator.name
        self._asking = True
        try:
            given = annotator.ask(
                self.window, f"{why} Please give your own name before your first edit."
            )
        finally:
            self._asking = False
        if not given:
            self.refused += 1
            self.window.statusBar().showMessage(
                f"Not {what}: this project is shared and your annotator name is needed first "
                "(status bar button, or Edit > Annotator…). Nothing was written.",
                15000,
            )
            return False
        self._rebind(old, annotator.name)
        return True

    def sharing(self, root: str | Path | None = None) -> tuple[list[str], bool]:
        """(the other people whose work the project holds, whether it is marked shared), read
        at most once every ``fresh_for`` seconds per project and name."""
        name = self.window.annotator.name
        project = getattr(self._browser(), "project", None)
        mine = root is None or (project is not None and Path(root) == project.root)
        if mine and project is None:
            return [], False
        key = (project if mine else str(Path(root).absolute()), name)
        now = time.monotonic()
        known = self._known.get(key)
        if known is not None and now - known[0] < self.fresh_for:
            return list(known[1]), known[2]
        people, marked = self._read_sharing(project.db if mine else Path(root), name)
        self._known[key] = (now, people, marked)
        return list(people), marked

    def forget_sharing(self) -> None:
        """Read who else worked on the project afresh at the next edit."""
        self._known.clear()

    def _read_sharing(self, where: sqlite3.Connection | Path, name: str):
        if isinstance(where, sqlite3.Connection):
            return opinions.shared_with(where, name), opinions.marked_shared(where)
        root = where
        # an item of a project the Browser no longer shows: read its catalog on the side
        path = Path(root) / "catalog.sqlite"
        try:
            db = open_read_only(path)
        except sqlite3.Error:
            return [], False
        try:
            return opinions.shared_with(db, name), opinions.marked_shared(db)
        except sqlite3.Error:
            return [], False
        finally:
            db.close()

    def _rebind(self, old: str, new: str) -> None:
        """Items opened before the name was given were to be saved under the login name:
        their masks and boxes are now saved under the name given."""
        if old == new:
            return
        panels = getattr(self.window, "panels", {})
        annotate = panels.get("annotate") or getattr(self.window, "annotate_panel", None)
        if annotate is None:
            return
        stores = getattr(annotate, "stores", {})
        for key, (document, store) in list(stores.items()):
            if store.annotator == old:
                stores[key] = (document, dataclasses.replace(store, annotator=new))
        for session in getattr(annotate, "sessions", {}).values():
            store = getattr(session, "store", None)
            if store is not None and store.annotator == old:
                session.store = dataclasses.replace(store, annotator=new)
        boxes = getattr(annotate, "boxes", None)
        for session in getattr(boxes, "sessions", {}).values():
            if session.annotator == old:
                session.annotator = new
            store = session.store
            if store is not None and getattr(store, "annotator", None) == old:
                store.annotator = new

    # -- Edit > Shared Project -----------------------------------------------------------------
    def _project_seen(self) -> None:
        project = getattr(self._browser(), "project", None)
        root = None if project is None else str(project.root)
        if root == self._root:
            return
        self._root = root
        self._known.clear()
        self.action.setEnabled(project is not None)
        self.action.blockSignals(True)
        self.action.setChecked(project is not None and opinions.marked_shared(project.db))
        self.action.blockSignals(False)

    def _toggled(self, on: bool) -> None:
        project = getattr(self._browser(), "project", None)
        if project is None:
            return
        self._known.clear()
        try:
            opinions.mark_shared(project, on)
        except Exception as exc:  # noqa: BLE001 - a read-only or busy catalog: say so
            self.action.blockSignals(True)
            self.action.setChecked(not on)
            self.action.blockSignals(False)
            self.window.report_error(f"{project.root}: could not mark the project: {exc}")
            return
        self.window.statusBar().showMessage(
            "Shared project: every annotator gives a name before their first edit"
            if on
            else "The project is no longer marked as shared",
            6000,
        )
        blind = getattr(self.window, "blind", None)
        if on and not self.window.annotator.chosen and blind is not None:
            with contextlib.suppress(RuntimeError):
                blind.name_needed([])


def install_gate(window) -> EditGate:
    gate = EditGate(window)
    window.edit_gate = gate
    edit = getattr(window, "menus", {}).get("edit")
    if edit is not None:
        edit.addAction(gate.action)
    return gate
