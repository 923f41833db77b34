"""The Boxes part of the Annotate dock that chooses classes (mixed into
:class:`~qbi_desktop.gui.annotate.boxes_dock.BoxesDock`): the class list and its number keys,
the Class field, and the drawn box that waits for its class when none was chosen.

No class is invented: until the user chooses one, a box drawn waits (dashed, tagged "class?")
while the Class field asks for it; Enter there stores it, Esc (or Delete / Backspace in the
empty field) drops it. The class chosen last is remembered per project (and for loose images)
across launches, so only a project's very first box asks. A project item's list is the
project's classes (a name chosen joins the project's class list), each saying whether image
labels or boxes use it; a loose image's the classes typed for loose images. A class chosen for
one project is never given, nor offered on a number key, in another.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt

from qbi_desktop.core.annotation.boxes import ItemBoxStore
from qbi_desktop.core.errors import UserFacingError

CLASSES_KEY = "annotate/box_classes"  # classes typed for loose images
LAST_KEY = "annotate/last_box_class/"  # + a project's folder, or "loose": the class last chosen
DROP_KEYS = (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)


class BoxClasses:
    """Mixed into BoxesDock: ``label`` (the class of new boxes, None until chosen), ``classes``
    (the list the keys 0-9 reach), ``pending`` (a drawn box waiting for its class)."""

    # -- classes ----------------------------------------------------------------------------------
    def _refresh_classes(self) -> None:
        # a stable order, so keys 0-9 keep their classes: a project item's are the project's
        # classes, then any other name its boxes use; a loose image's the classes typed for
        # loose images (another project's classes are never offered, nor given, here)
        names: list[str] = []
        session = self.session
        store = session.store if session is not None else None
        if isinstance(store, ItemBoxStore):
            names, used = _project_classes(store.project)
            names += used
            if self.label not in names:
                # chosen for another project's item or a loose image: not given here unasked
                self.label = None
        else:
            names += self.extra_classes
            own = {b.label for b in session.boxes + session.proposals} if session else set()
            if self.label not in self.extra_classes and self.label not in own:
                # chosen for a project's item: the project's class, not given here unasked
                self.label = None
        if session is not None:
            names += [b.label for b in session.boxes + session.proposals]
        if self.label is None:  # the class last chosen here (this project, or loose images)
            last = self._remembered()
            if last and last in names:
                self.label = last
        if self.label:
            names.append(self.label)
        self.classes = list(dict.fromkeys(n for n in names if n))
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        kinds = _kinds(store) if isinstance(store, ItemBoxStore) else {}
        for n, name in enumerate(self.classes):
            key = f"{n}: " if n < 10 else ""
            self.class_combo.addItem(f"{key}{name}{kinds.get(name, '')}", name)
        chosen = self.classes.index(self.label) if self.label in self.classes else -1
        self.class_combo.setCurrentIndex(chosen)
        self.class_combo.lineEdit().setPlaceholderText(
            "class of the new box: type or choose, Enter" if self.pending else "choose a class"
        )
        self.class_combo.blockSignals(False)

    def _ask_class(self, box) -> None:
        """A box was drawn before any class was chosen: it waits (dashed) while the Class field
        asks for its class; Enter there (or a number key) stores it, Esc drops it."""
        if self.session is None:
            return
        self.pending = (self.session, box)
        self.layer.show_draft(box)
        self._refresh_classes()
        self.class_combo.setEditText("")
        self.class_combo.setFocus()
        self._say(
            "Which class is the new box? Type it in the Class field, Enter (Esc, Delete: drop it)"
        )

    def cancel_pending(self) -> bool:
        """Drop a drawn box still waiting for its class; True if there was one."""
        if self.pending is None:
            return False
        self.pending = None
        self.layer.show_draft(None)
        self._refresh_classes()
        self._say("Box dropped: no class chosen")
        return True

    def _class_cleared(self, text: str) -> None:
        """The user emptied the Class field: it shows "choose a class", so no class is given
        to the next box until one is chosen (the last one was, silently)."""
        if text.strip() or self.label is None:
            return
        self.label = None
        self._remember(None)  # and not brought back by the next refresh or launch
        self._say("No class chosen: the next box asks for its class")

    def _class_typed(self) -> None:
        text = self.class_combo.currentText().strip()
        index = self.class_combo.findText(text, Qt.MatchFlag.MatchExactly)
        if index >= 0:
            name = self.class_combo.itemData(index)
        else:
            name = text.split(": ", 1)[1] if _numbered(text) else text
        popup = self.class_combo.completer().popup()
        if popup is not None:
            popup.hide()
        if not name:
            return
        self.canvas.setFocus()  # back to drawing: Delete, 0-9 and Enter act on boxes again
        # the class is for the waiting box's image (or the one shown): a project item's
        # classes are kept in its project, never in the loose images' list
        session = self.pending[0] if self.pending is not None else self.session
        store = session.store if session is not None else None
        if name not in self.classes and not isinstance(store, ItemBoxStore):
            self.extra_classes.append(name)  # a project's classes are kept in the project
            self.window.settings.setValue(CLASSES_KEY, self.extra_classes[-200:])
        self.set_class(name)

    def _join_project(self, name: str) -> bool:
        """A class chosen for a project item joins the project's class list (one list: the
        Browser's keys and these keep one order); False, and said, if it cannot."""
        store = self.session.store if self.session is not None else None
        if not isinstance(store, ItemBoxStore):
            return True
        from qbi_desktop.core.catalog import classes

        try:
            if name not in classes.class_list(store.project):
                classes.add_class(store.project, name)
                self._say(f"class {name!r} added")
        except UserFacingError as exc:
            self._say(str(exc))
            return False
        return True

    def set_class(self, name: str) -> None:
        """The class of new boxes, of a drawn box waiting for one, or else of the selected box
        if one is selected."""
        if not self._join_project(name):
            return
        self.label = name
        self._remember(name)
        if self.pending is not None:
            from dataclasses import replace

            session, box = self.pending
            self.pending = None
            self.layer.show_draft(None)
            if session is self.session:
                session.add(replace(box, label=name))
            self._refresh_classes()
            return
        session = self.session
        if session is not None and session.selected is not None:
            kind, i = session.selected
            if kind == "box":
                session.relabel(i, name)
            else:
                from dataclasses import replace

                session.move_proposal(i, replace(session.proposals[i], label=name))
        self._refresh_classes()

    # -- the class last chosen, per project (and for loose images), kept across launches --------
    def _last_key(self) -> str:
        store = self.session.store if self.session is not None else None
        if isinstance(store, ItemBoxStore):
            return LAST_KEY + str(store.project.root.resolve()).replace("/", "|")
        return LAST_KEY + "loose"

    def _remember(self, name: str | None) -> None:
        self.window.settings.setValue(self._last_key(), name or "")

    def _remembered(self) -> str | None:
        return str(self.window.settings.value(self._last_key(), "") or "") or None

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt naming
        """Delete or Backspace in an empty Class field drops the box waiting for its class (the
        field has the keys then: the canvas's Delete did not reach the box)."""
        if (
            event.type() == QEvent.Type.KeyPress
            and event.key() in DROP_KEYS
            and self.pending is not None
            and not self.class_combo.currentText().strip()
        ):
            self.cancel_pending()
            self.canvas.setFocus()
            return True
        return False

    def number_key(self, n: int) -> None:
        """Keys 0-9: the 1st-10th class of the list (key 0 = first, as in the Browser)."""
        index = n
        if index >= len(self.classes):
            self._say(f"no class on key {n}: type its name in the Class field")
            return
        self.set_class(self.classes[index])


def _numbered(text: str) -> bool:
    head = text.split(": ", 1)[0]
    return ": " in text and head.isdigit() and len(head) == 1


def _kinds(store: ItemBoxStore) -> dict[str, str]:
    """What each class of the item's project is used for, as the Class list says it: image
    classes and box classes share one list (and its keys), which confused newcomers."""
    from qbi_desktop.core.catalog import classes

    try:
        labels, boxes = classes.class_counts(store.project), classes.box_counts(store.project)
    except Exception:  # noqa: BLE001 - an older catalog without the count tables
        return {}
    out = {name: " — image labels only" for name in labels if name not in boxes}
    out.update({name: " — boxes" for name in boxes if name not in labels})
    out.update({name: " — images and boxes" for name in boxes if name in labels})
    return out


def _project_classes(project) -> tuple[list[str], list[str]]:
    """The project's class list (keys 0-9 order) and the classes its boxes use."""
    names: list[str] = []
    try:
        from qbi_desktop.core.catalog import classes

        names += classes.class_list(project)
    except (ImportError, AttributeError, UserFacingError):
        names += [str(v) for v in project.distinct("label") if v is not None]
    rows = project.db.execute("SELECT DISTINCT label FROM boxes ORDER BY label").fetchall()
    return names, [r[0] for r in rows]
