"""Any number of classes in the Browser: a class picker with type-ahead, rename and merge.

Keys 0-9 reach the first ten classes of the list; ``C`` or ``/`` opens the picker: type a few
letters, the list narrows (names starting with them first), Enter gives the highlighted class
to the selection and moves on; a name that is not in the list yet becomes a new class. The
Classes dialog (Dataset > Classes…) lists every class with what uses it (items' labels, boxes
only, or nothing) and renames, merges or removes unused ones (``core/catalog/classes.py``), each
undoable with Ctrl+Z in the Browser.

A number key in a project with no class yet asks what the user meant: create the classes
"0".."9" (key k then gives "k", as in MNIST's digit folders) and give the pressed one, or type
class names into the Classes box: Enter there makes them the project's classes and gives the
selection the class typed (the one name, or of several the one at the key's position). Creating
the list is its own undo step, before the label's.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
)

from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui.annotator import may_edit

NAME_ROLE = Qt.ItemDataRole.UserRole + 1
PICKER_OWN_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Up, Qt.Key.Key_Down)


def matches(classes: list[str], typed: str) -> list[str]:
    """Classes matching what was typed: names starting with it first, then containing it
    (case-insensitive), each group in class order."""
    t = typed.strip().casefold()
    if not t:
        return list(classes)
    starts = [c for c in classes if c.casefold().startswith(t)]
    inside = [c for c in classes if t in c.casefold() and c not in starts]
    return starts + inside


class ClassPicker(QDialog):
    """A small type-ahead list of the project's classes (with counts and their number keys).

    A popup, made once and shown again: a window-modal dialog blocks and unblocks every widget
    of the window on open and close (~0.25 s on a loaded machine), a popup does not."""

    chosen = Signal(str)

    def __init__(self, classes: list[str], counts: dict[str, int], parent=None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.setWindowTitle("Set class")
        self.classes = classes
        self.counts = counts
        self.typed = QLineEdit()
        self.typed.setPlaceholderText("type to find a class (a new name adds one)")
        self.typed.setAccessibleName("Class")
        self.list = QListWidget()
        self.hint = QLabel("")
        self.hint.setStyleSheet("color: gray")
        layout = QVBoxLayout(self)
        layout.addWidget(self.typed)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.hint)
        self.typed.textChanged.connect(self._filter)
        self.typed.installEventFilter(self)
        self.list.itemActivated.connect(lambda item: self._choose(item.data(NAME_ROLE)))
        self._filter("")
        self.resize(280, 360)

    def reset(self, classes: list[str], counts: dict[str, int]) -> None:
        """New classes and counts; the typed text cleared."""
        self.classes, self.counts = classes, counts
        self.typed.blockSignals(True)
        self.typed.clear()
        self.typed.blockSignals(False)
        self._filter("")

    def _filter(self, text: str) -> None:
        self.list.clear()
        for name in matches(self.classes, text):
            n = self.classes.index(name)
            key = f"{n}: " if n < 10 else "    "
            item = QListWidgetItem(f"{key}{name}  ({self.counts.get(name, 0):,})")
            item.setData(NAME_ROLE, name)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
            self.hint.setText("Enter: give this class · Esc: cancel")
        elif text.strip():
            self.hint.setText(f"Enter: new class {text.strip()!r}")
        else:
            self.hint.setText("no classes yet: type a name")

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if (
            obj is self.typed
            and event.type() == QEvent.Type.ShortcutOverride
            and event.key() in PICKER_OWN_KEYS
        ):
            event.accept()  # ours, not a window shortcut's (Enter accepts boxes on the canvas)
            return True
        if obj is self.typed and event.type() == QEvent.Type.KeyPress:
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                step = 1 if key == Qt.Key.Key_Down else -1
                row = min(max(0, self.list.currentRow() + step), self.list.count() - 1)
                self.list.setCurrentRow(row)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                item = self.list.currentItem()
                self._choose(item.data(NAME_ROLE) if item is not None else self.typed.text())
                return True
        return super().eventFilter(obj, event)

    def _choose(self, name: str) -> None:
        name = (name or "").strip()
        if not name:
            return
        self.chosen.emit(name)
        self.accept()


def uses_text(items: int, boxes: int) -> str:
    """What uses a class: items' labels (image classes), boxes only (detection classes, which
    share the list and its keys), both, or nothing (it can be removed)."""
    if items and boxes:
        return f"{items:,} item(s), {boxes:,} box(es)"
    if items:
        return f"{items:,} item(s)"
    if boxes:
        return f"boxes only: {boxes:,} box(es)"
    return "unused (Remove takes it out)"


class ClassesDialog(QDialog):
    """Every class with its count; rename one, or merge several into one (new or existing)."""

    def __init__(self, panel):
        super().__init__(panel)
        self.panel = panel
        self.setWindowTitle("Classes")
        self.list = QListWidget()
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("new name / class to merge into")
        self.rename_button = QPushButton("Rename")
        self.merge_button = QPushButton("Merge selected into")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip(
            "Take the selected classes out of the list: only classes no item and no box uses"
        )
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c33")
        close = self.close_button = QPushButton("Close")
        close.clicked.connect(self.accept)
        self.rename_button.clicked.connect(self.rename)
        self.merge_button.clicked.connect(self.merge)
        self.remove_button.clicked.connect(self.remove)
        self.list.currentItemChanged.connect(self._picked)
        row = QHBoxLayout()
        row.addWidget(self.new_name, 1)
        row.addWidget(self.rename_button)
        row.addWidget(self.merge_button)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Classes: image labels (a class per item) and box classes (Annotate's Boxes) share "
            "one list and its keys 0-9. Every change can be undone (Ctrl+Z in the Browser)."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addLayout(row)
        removal = QHBoxLayout()
        removal.addWidget(QLabel("Unused classes:"))
        removal.addWidget(self.remove_button)
        removal.addStretch(1)
        layout.addLayout(removal)
        layout.addWidget(self.problem)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        self.refresh()
        self.resize(420, 420)

    def refresh(self) -> None:
        project = self.panel.project
        self.list.clear()
        if project is None:
            return
        counts = C.class_counts(project)
        boxes = C.box_counts(project)
        for n, name in enumerate(C.class_list(project, counts)):
            key = f"{n}: " if n < 10 else ""
            item = QListWidgetItem(
                f"{key}{name} — {uses_text(counts.get(name, 0), boxes.get(name, 0))}"
            )
            item.setData(NAME_ROLE, name)
            self.list.addItem(item)

    def selected(self) -> list[str]:
        return [i.data(NAME_ROLE) for i in self.list.selectedItems()]

    def _picked(self, item, _old) -> None:
        if item is not None and not self.new_name.text().strip():
            self.new_name.setPlaceholderText(f"new name for {item.data(NAME_ROLE)}")

    def rename(self) -> bool:
        chosen = self.selected()
        if len(chosen) != 1:
            self.problem.setText("Rename: select exactly one class")
            return False
        return self._done(self.panel.rename_class(chosen[0], self.new_name.text()))

    def merge(self) -> bool:
        chosen = self.selected()
        if not chosen:
            self.problem.setText("Merge: select the classes to merge")
            return False
        return self._done(self.panel.merge_classes(chosen, self.new_name.text()))

    def remove(self) -> bool:
        """Remove the selected classes no item and no box uses (one undo step); the others are
        kept, and said with how many use them."""
        chosen = self.selected()
        if not chosen:
            self.problem.setText("Remove: select the classes to remove")
            return False
        said = self.panel.remove_classes(chosen)
        self.problem.setText(said or "")
        self.refresh()
        return said is None

    def _done(self, said: str | None) -> bool:
        self.problem.setText(said or "")
        if said is None:
            self.new_name.clear()
            self.refresh()
        return said is None


class BrowserClasses:
    """Mixed into BrowserPanel: the picker, clear label, rename and merge."""

    class_picker: ClassPicker | None = None
    classes_box: ClassesDialog | None = None
    class_question: QMessageBox | None = None  # open while a key waits for a class list
    pending_key: int | None = None  # the number key "Type class names…" answered (Enter gives)
    _pending_before: list[str] = []  # the class list stored when that key was pressed
    _fold_after_typing = False  # the filters were folded out for typing class names only

    def offer_classes(self, k: int) -> QMessageBox | None:
        """Key ``k`` with no class list: ask (window-modal, not blocking) whether to create the
        classes 0-9 and give ``k``, or to type class names. Esc changes nothing."""
        rows = self._target_rows()
        if self.project is None or not rows or self.class_question is not None:
            return None
        these = "this item" if len(rows) == 1 else f"these {len(rows):,} items"
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "No classes yet",
            f"Key {k} gives the class at position {k} of the class list, and this project has "
            "no classes yet.\n\nCreate the classes 0 to 9 (one per number key, as in MNIST's "
            f"digit folders) and give {these} class {k}? Or type your own class names "
            "(comma-separated, key 0 = the first). Ctrl+Z takes either back.",
            QMessageBox.StandardButton.Cancel,
            self.window,
        )
        digits = box.addButton(
            f"Create classes 0–9 and give {k}", QMessageBox.ButtonRole.AcceptRole
        )
        names = box.addButton("Type class names…", QMessageBox.ButtonRole.ActionRole)
        # Enter types names: the least surprising answer (the digits made ten classes that a
        # project of three then carried, until removed one by one)
        box.setDefaultButton(names)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(_result: int) -> None:
            self.class_question = None
            self.window.activateWindow()  # the keys work again without a click
            clicked = box.clickedButton()
            if clicked is digits:
                self.create_digit_classes(k)
            elif clicked is names:
                self.type_class_names(k)
            else:
                self.table.setFocus()

        box.finished.connect(answered)
        self.class_question = box
        box.open()
        return box

    def create_digit_classes(self, k: int) -> None:
        """The class list "0".."9" (one undo step), then class ``k`` for the selection (another)."""
        if self.project is None or not may_edit(self.window):
            return
        project = self.project
        before = C.stored_list(project.db)
        try:
            after = C.first_class_list(project)
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return
        self._push_class_list(project, "create classes 0–9", before, after)
        self._classes_changed([])
        self.label_key(k)
        self.table.setFocus()

    def _push_class_list(self, project, what: str, before: list[str], after: list[str]) -> None:
        """The class list's change from ``before`` to ``after`` (already stored) as one step of
        the Browser's undo stack."""

        def put(order: list[str], done: str) -> str:
            if self.project is not project:
                raise UserFacingError("the project this edit was made in is closed")
            C.set_class_list(project, order)
            self._classes_changed([])
            return f"{done} {what} (Browser)"

        self.undo_stack.push(what, lambda: put(before, "Undid"), lambda: put(after, "Redid"))

    def type_class_names(self, k: int | None = None) -> None:
        """Fold out the Classes box and put the cursor in it; after number key ``k`` found no
        class, Enter there also gives the selection the class typed (:meth:`classes_entered`)."""
        self.pending_key = k
        self._pending_before = C.stored_list(self.project.db) if self.project is not None else []
        # folded back when the names are in (classes_typed): open, the filters take half of
        # the table's rows on a laptop screen
        self._fold_after_typing = not self.filters_button.isChecked()
        self.show_filters(True)
        self.classes_edit.setFocus()
        # the filters scroll on a laptop screen: the Classes row in view once they are fitted
        QTimer.singleShot(0, lambda: self.filter_area.ensureWidgetVisible(self.classes_edit))
        # short: a long message ran under the status bar's Tool and Annotator fields
        these = "the item" if len(self._target_rows()) <= 1 else "the selection"
        self.window.statusBar().showMessage(
            "Type class names, comma-separated (key 0 = first), then Enter"
            if k is None
            else f"Type class names, comma-separated, Enter: {these} gets class {k} "
            "(0 = first) or the only one",
            8000,
        )

    def classes_entered(self) -> None:
        """Enter in the Classes box after "Type class names…": the names typed become the
        project's classes (one undo step) and the selection gets the class typed (the one
        name, or of several the one at the position of the key pressed; another undo step).
        Without a key waiting, Enter only stores the list (``_classes_edited``)."""
        k, self.pending_key = self.pending_key, None
        if self._fold_after_typing:  # opened for the typing only: the table gets its rows back
            self._fold_after_typing = False
            self.show_filters(False)
        names = self.classes()
        if k is None or self.project is None or not names or not may_edit(self.window):
            return
        project, before = self.project, list(self._pending_before)
        try:
            after = C.set_class_list(project, names)
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return
        if after != before:
            what = "classes " + ", ".join(after[:5]) + (", …" if len(after) > 5 else "")
            self._push_class_list(project, what, before, after)
        self._classes_changed([])
        chosen = after[0] if len(after) == 1 else after[k] if k < len(after) else None
        self.table.setFocus()
        if chosen is None:
            self.window.statusBar().showMessage(
                f"classes {', '.join(after)} made; key {k} has no class (key 0 = the first): "
                "press the key of the class to give",
                8000,
            )
            return
        self._edit(lambda p, ids: self._give_label(p, ids, chosen))

    def open_class_picker(self) -> ClassPicker | None:
        if self.project is None or not self._target_rows():
            return None
        counts = C.class_counts(self.project)
        picker = getattr(self, "_picker", None)
        if picker is None:
            picker = self._picker = ClassPicker(self._class_order(counts), counts, self)
            picker.chosen.connect(self.give_class)
            picker.finished.connect(lambda _r: self._picker_closed())
        else:
            picker.reset(self._class_order(counts), counts)
        # over the current row, where the eyes are
        rect = self.table.visualRect(self.table.currentIndex())
        corner = self.table.viewport().mapToGlobal(rect.bottomLeft())
        picker.move(corner.x() + 20, corner.y())
        self.class_picker = picker
        picker.show()
        picker.activateWindow()
        picker.typed.setFocus()
        return picker

    def _picker_closed(self) -> None:
        """Back to the table, keys and all (the window is active again: its Ctrl+Z works)."""
        self.class_picker = None
        self.window.activateWindow()
        self.table.setFocus()

    def _class_order(self, counts: dict[str, int]) -> list[str]:
        typed = self.classes()
        return typed + [c for c in C.class_list(self.project, counts) if c not in typed]

    def give_class(self, name: str) -> None:
        """Give ``name`` to the selection (a new name joins the class list) and move on."""
        try:
            name = C.check_name(name)
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return
        if name not in self.classes():
            self.classes_edit.setText(", ".join([*self.classes(), name]))
            self._classes_edited()
        self._edit(lambda p, ids: self._give_label(p, ids, name))
        self.table.setFocus()

    def classes_dialog(self) -> ClassesDialog | None:
        if self.project is None:
            return None
        dialog = ClassesDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: self._classes_box_closed())
        self.classes_box = dialog
        dialog.open()
        return dialog

    def _classes_box_closed(self) -> None:
        self.classes_box = None
        self.window.activateWindow()  # Ctrl+Z goes to the Browser again
        self.table.setFocus()

    def remove_classes(self, names: list[str]) -> str | None:
        """Take the classes of ``names`` that nothing uses out of the class list (one undoable
        step); None when all went, else what was refused (how many items/boxes use which)."""
        if self.project is None:
            return "no project open"
        if not may_edit(self.window):  # a shared project: the name first
            return "not changed: your annotator name is needed first"
        project = self.project
        self._classes_edited()  # the list as typed is the one the removal starts from
        before = C.stored_list(project.db)
        refused, removed = [], []
        for name in names:
            try:
                C.remove_class(project, name)
                removed.append(name)
            except UserFacingError as exc:
                refused.append(str(exc))
        if removed:
            after = C.stored_list(project.db)
            what = "remove class" + ("es " if len(removed) > 1 else " ") + ", ".join(removed)
            self._push_class_list(project, what, before, after)
            from qbi_desktop.gui.undo import undo_router

            undo_router(self.window).activate(self.undo_context)
            self._classes_changed([])
            self.window.statusBar().showMessage(f"{what} (Ctrl+Z in the Browser undoes)", 5000)
        return "; ".join(refused) or None

    def rename_class(self, old: str, new: str) -> str | None:
        """Rename a class (undoable); None when done, else what was refused."""
        return self._class_edit(lambda p: C.rename_class(p, old, new, self.annotator))

    def merge_classes(self, sources: list[str], into: str) -> str | None:
        return self._class_edit(lambda p: C.merge_classes(p, sources, into, self.annotator))

    def _class_edit(self, edit) -> str | None:
        if self.project is None:
            return "no project open"
        if not may_edit(self.window):  # a shared project: the name first
            return "not changed: your annotator name is needed first"
        project = self.project
        self._classes_edited()  # the list as typed is the order the edit keeps
        order = C.class_list(project)
        try:
            change = edit(project)
        except UserFacingError as exc:
            return str(exc)
        state = {"change": change}

        def revert(which: str, restore_order: list[str]) -> str:
            if self.project is not project:
                raise UserFacingError("the project this edit was made in is closed")
            back, restored = C.revert_class_edit(
                project, state["change"], restore_order, self.annotator
            )
            state["change"] = back
            self._classes_changed(list(back.ids))
            done = "Undid" if which == "undo" else "Redid"
            return f"{done} {change.what} on {restored:,} item(s) (Browser)"

        after = C.class_list(project)
        self.undo_stack.push(
            change.what, lambda: revert("undo", order), lambda: revert("redo", after)
        )
        from qbi_desktop.gui.undo import undo_router

        undo_router(self.window).activate(self.undo_context)
        self._classes_changed(list(change.ids))
        self.window.statusBar().showMessage(f"{change.what}: {len(change.ids):,} item(s)", 5000)
        return None

    def _classes_changed(self, ids: list[int]) -> None:
        self._load_classes()
        self._fill_filter_combos()
        self._items_changed(ids)
        if self.classes_box is not None:
            self.classes_box.refresh()
