"""The Browser's edits from the keyboard, their undo, and splits that are asked before replacing.

Keys in the table: 0-9 give the class at that position of the class list (in a project with
no class yet they offer one: the digits 0-9, or the Classes box to type names), C or / opens the
class picker for any class (browser_classes.py), Backspace or Delete clears the label, A
accepts, R rejects, F flags for editing, N edits the notes; the selection moves on. F2 (or Enter
on the Targets column) types a regression target (browser_targets.py).
Each edit is one catalog transaction that returns what it changed (``core/catalog/edits.py``);
the Browser keeps them on its own :class:`~qbi_desktop.gui.undo.UndoStack`, so Ctrl+Z in the
Browser takes back the last Browser edit - never a stroke on the canvas (``gui/undo.py``).

A split that would change existing assignments (MNIST's official 60 000 / 10 000) is asked
for first, naming how many change; the replaced split stays in the catalog, restorable by Undo
or Dataset > Restore Previous Split.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QInputDialog, QMenu, QMessageBox, QScrollArea

from qbi_desktop.core.catalog import Project
from qbi_desktop.core.catalog import classes as catalog_classes
from qbi_desktop.core.catalog.classes import sorted_classes
from qbi_desktop.core.catalog.edits import Change
from qbi_desktop.core.catalog.splits import (
    SplitPlan,
    apply_plan,
    plan_group,
    plan_stratified,
    restore_previous,
)
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.gui.annotator import may_edit
from qbi_desktop.gui.docks.browser_dialogs import SplitDialog
from qbi_desktop.gui.docks.browser_model import COL_TARGETS
from qbi_desktop.gui.question import ask
from qbi_desktop.gui.undo import UndoContext, UndoStack, undo_router

REVIEW_KEYS = {"A": "accepted", "R": "rejected", "F": "needs_edit"}
CLEAR_LABEL_KEYS = ("Backspace", "Delete")
PICKER_KEYS = ("C", "/")
BIG_CHANGE = 2000  # items: more are undone on a worker (a 70 000-item split takes ~1 s)


class BrowserEdits:
    """Mixed into BrowserPanel: labels, review, notes and splits, each undoable in the Browser."""

    split_question: QMessageBox | None = None  # open while a replacing split waits for an answer
    split_task = None  # the worker writing (or restoring) a split
    undo_task = None  # the worker taking back (or redoing) a large change

    # -- undo ------------------------------------------------------------------------------------
    def _install_undo(self) -> None:
        self.undo_stack = UndoStack(self)
        self.undo_context = undo_router(self.window).register(
            UndoContext(
                "Browser",
                lambda: [self, self.window.docks.get("browser")],
                self.undo_stack.undo_text,
                self.undo_stack.redo_text,
                self.undo_stack.undo,
                self.undo_stack.redo,
            )
        )

    def _record(self, change: Change) -> None:
        """Put an edit just made on the Browser's undo stack (and make the Browser current).

        Undoing a few items is instant on the GUI thread; a split of 70 000 items takes about a
        second to write back, so large changes are reverted on a worker (one at a time)."""
        if not change.ids:
            return
        project = self.project
        state = {"change": change}

        def said(done: str, result) -> str:
            text = f"{done} {change.what} on {result.restored:,} item(s) (Browser)"
            if result.skipped:
                text += f"; {result.skipped:,} item(s) edited since were left as they are"
            return text

        def revert(which: str) -> str:
            done = "Undid" if which == "undo" else "Redid"
            if self.project is not project:
                raise UserFacingError("the project this edit was made in is closed")
            if self.undo_task is not None:
                raise UserFacingError("the last undo is still being written; try again")
            if len(state["change"].ids) <= BIG_CHANGE:
                result = project.revert(state["change"], self.annotator)
                state["change"] = result.change
                self._items_changed(list(result.change.ids), select=True)
                return said(done, result)

            def finished(result) -> None:
                self.undo_task = None
                state["change"] = result.change
                self._items_changed(list(result.change.ids))
                self.window.statusBar().showMessage(said(done, result), 8000)

            def failed(message: str) -> None:
                self.undo_task = None
                self.undo_stack.took_back(which)
                self.window.report_error(f"{which} in Browser: {message}")

            self.undo_task = self._run(
                f"{which.capitalize()} {change.what}",
                lambda p: _job(p.revert, state["change"], self.annotator),
                finished,
                failed,
            )
            doing = "Undoing" if which == "undo" else "Redoing"
            return f"{doing} {change.what} on {len(state['change'].ids):,} items…"

        self.undo_stack.push(change.what, lambda: revert("undo"), lambda: revert("redo"))
        undo_router(self.window).activate(self.undo_context)

    def _items_changed(self, ids: list[int], select: bool = False) -> None:
        """Rows, filters, counts and charts follow an edit of ``ids``."""
        if self.project is None:
            return
        if len(ids) > 1000:  # a split: cheaper to reload than to refresh row by row
            self._data_changed()
        else:
            self.model.refresh_items(ids)
            self.balance_dirty = True
            if self._new_labels(ids):
                self._fill_filter_combos()
        if select and ids:
            rows = [r for r in (self.model.row_of(i) for i in ids[:1000]) if r is not None]
            if rows:
                self.select_rows(rows)

    def _new_labels(self, ids: list[int]) -> bool:
        """Whether ``ids`` now hold a label the label filter lacks (a new class). Reads only their
        labels: a DISTINCT over 100 000 items costs ~35 ms, too much for every key press. (A class
        whose last item changed stays in the filter until the next reload, matching nothing.)"""
        if len(ids) > 900:
            return True
        known = {self.label_filter.itemData(i) for i in range(self.label_filter.count())}
        marks = ",".join("?" * len(ids))
        rows = self.project.db.execute(
            f"SELECT DISTINCT label FROM items WHERE label IS NOT NULL AND id IN ({marks})", ids
        )
        return any(r[0] not in known for r in rows)

    # -- classes and keys ------------------------------------------------------------------------
    def _classes_key(self) -> str:
        if self.project is None:  # not "if self.project": a project without items is falsy
            return ""
        return "browser/classes/" + str(self.project.root).replace("/", "|")

    def _load_classes(self) -> None:
        """The class list kept in the catalog (older projects: the one typed into this
        computer's settings), then labels present that it lacks."""
        if self.project is None:
            self.classes_edit.setText("")
            return
        classes = catalog_classes.stored_list(self.project.db)
        if not classes:
            saved = self.window.settings.value(self._classes_key(), "")
            classes = [c.strip() for c in str(saved or "").split(",") if c.strip()]
        classes = list(dict.fromkeys(classes))
        # labels and box classes not typed in yet, in order (a class only boxes use included)
        used = set(self.project.distinct("label")) | set(catalog_classes.box_counts(self.project))
        listed = {catalog_classes.nfc(c) for c in classes}  # an older NFD label: that class
        for c in sorted_classes(used):
            if catalog_classes.nfc(c) not in listed:
                classes.append(c)
                listed.add(catalog_classes.nfc(c))
        self.classes_edit.setText(", ".join(classes))

    def _classes_edited(self) -> None:
        self.pending_key = None  # left without Enter: a later Enter gives no class unasked
        if self.project is None:
            return
        try:  # kept in the catalog: the same keys in every window and on the command line
            classes = self._keep_classes_in_use(self.classes())
            if classes != catalog_classes.stored_list(self.project.db):
                catalog_classes.set_class_list(self.project, classes)
        except UserFacingError as exc:
            self.window.report_error(str(exc))

    def _keep_classes_in_use(self, typed: list[str]) -> list[str]:
        """``typed``, with every class left out that item labels or boxes still use put back
        after the typed ones (the typed order gives the number keys; the field shows it again)
        and the refusal said, naming how many use it: a list without it hid a class only boxes
        use from every class list. Renaming or merging (Dataset > Classes…) changes a class."""
        before = catalog_classes.class_list(self.project)
        labels = catalog_classes.class_counts(self.project)
        boxes = catalog_classes.box_counts(self.project)
        # an older project's NFD spelling of a typed class is that class (the list stores NFC)
        given = {catalog_classes.nfc(t) for t in typed}
        kept = [
            c
            for c in before
            if catalog_classes.nfc(c) not in given and (labels.get(c) or boxes.get(c))
        ]
        if not kept:
            return typed
        classes = [*typed, *kept]
        self.classes_edit.setText(", ".join(classes))
        uses = "; ".join(f"{name!r}: {self._class_uses(name, labels, boxes)}" for name in kept)
        self.window.report_error(
            f"Class{'es' if len(kept) > 1 else ''} kept in the list, still in use ({uses}). "
            "To change a class, rename or merge it (Dataset > Classes…); to drop it, clear it "
            "from the items and boxes first."
        )
        return classes

    def _class_uses(self, name: str, labels: dict[str, int], boxes: dict[str, int]) -> str:
        """``2 labels, 3 boxes on 2 items``: what still uses class ``name``."""
        parts = []
        if labels.get(name):
            parts.append(f"{labels[name]:,} label{'s' if labels[name] != 1 else ''}")
        if boxes.get(name):
            on = self.project.db.execute(
                "SELECT COUNT(DISTINCT item_id) FROM boxes WHERE label = ?", (name,)
            ).fetchone()[0]
            parts.append(
                f"{boxes[name]:,} box{'es' if boxes[name] != 1 else ''} "
                f"on {on:,} item{'s' if on != 1 else ''}"
            )
        return ", ".join(parts)

    def classes(self) -> list[str]:
        return [c.strip() for c in self.classes_edit.text().split(",") if c.strip()]

    def _install_keys(self) -> None:
        ctx = Qt.ShortcutContext.WidgetWithChildrenShortcut
        self.shortcuts: list[QShortcut] = []

        def bind(key: str, slot: Callable[[], Any]) -> None:
            sc = QShortcut(QKeySequence(key), self.table, context=ctx)
            sc.activated.connect(slot)
            self.shortcuts.append(sc)

        for k in range(10):
            bind(str(k), lambda k=k: self.label_key(k))
        for key, state in REVIEW_KEYS.items():
            bind(key, lambda s=state: self.review_current(s))
        for key in CLEAR_LABEL_KEYS:
            bind(key, self.clear_label)
            self.shortcuts[-1].setWhatsThis("Clear the class label")
        for key in PICKER_KEYS:
            bind(key, self.open_class_picker)
            self.shortcuts[-1].setWhatsThis("Class picker: type a few letters, Enter gives it")
        bind("F2", self.edit_target)
        self.shortcuts[-1].setWhatsThis("Type the chosen regression target; Enter moves on")
        bind("N", self.notes_dialog)
        self.shortcuts[-1].setWhatsThis("Edit the notes of the selected items")
        for key in ("Return", "Enter"):
            bind(key, self.enter_key)

    def enter_key(self) -> None:
        """Enter on the Targets column types a target; elsewhere it opens the item."""
        if self.table.currentIndex().column() == COL_TARGETS:
            self.edit_target()
            return
        self.open_item(self.table.currentIndex().row())

    def _table_menu(self, pos) -> QMenu | None:
        """Right-click in the table: the edits the keys make, named with their keys."""
        if self.project is None:
            return None
        menu = QMenu(self.table)
        classes = self.classes()
        for k, name in enumerate(classes[:10]):
            menu.addAction(f"Class {name}\t{k}", lambda k=k: self.label_key(k))
        menu.addAction("Set class…\tC", self.open_class_picker)
        menu.addAction("Clear label\tBackspace", self.clear_label)
        menu.addSeparator()
        target = self.active_target()
        menu.addAction(
            f"Type {target}…\tF2" if target else "Define a regression target…", self.edit_target
        )
        menu.addAction("Classes (rename, merge, remove)…", self.classes_dialog)
        menu.addSeparator()
        for key, state in REVIEW_KEYS.items():
            menu.addAction(
                f"{state.replace('_', ' ').capitalize()}\t{key}",
                lambda s=state: self.review_current(s),
            )
        menu.addAction("Notes…\tN", self.notes_dialog)
        self.table_menu = menu
        menu.popup(self.table.viewport().mapToGlobal(pos))
        return menu

    def _target_rows(self) -> list[int]:
        """The rows a key acts on: the selected rows, or the current row."""
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        current = self.table.currentIndex().row()
        if len(rows) <= 1:
            rows = [current] if current >= 0 else []
        return rows

    def label_key(self, k: int) -> None:
        classes = self.classes()
        if not classes:  # nothing to give yet: offer a class list (browser_classes.py)
            self.offer_classes(k)
            return
        if k >= len(classes):
            self.window.statusBar().showMessage(
                f"key {k}: no class at position {k} ({len(classes)} classes, key 0 = the "
                "first); add names in the Classes box",
                5000,
            )
            return
        self._edit(lambda p, ids: self._give_label(p, ids, classes[k]))

    def _give_label(self, project: Project, ids: list[int], label: str) -> Change:
        """A class label; where a suggestion was shown, whether it was taken is on the record."""
        suggestions = getattr(self, "suggestions", None)  # browser_suggest.py
        if suggestions is None:
            return project.set_label(ids, label, self.annotator)
        return suggestions.give_label(project, ids, label)

    def clear_label(self) -> None:
        self._edit(lambda p, ids: p.set_label(ids, None, self.annotator))

    def review_current(self, state: str) -> None:
        self._edit(lambda p, ids: p.set_review(ids, state, self.annotator))

    def notes_dialog(self) -> None:
        rows = self._target_rows()
        if self.project is None or not rows:
            return
        item = self.model.item(rows[0])
        current = self.project.get(item["id"])["notes"]
        text, ok = QInputDialog.getText(self, "Notes", f"Notes on {item['name']}:", text=current)
        if ok:
            self.set_notes(text)

    def set_notes(self, text: str) -> None:
        """Notes of the current item (one undoable edit); the selection stays."""
        self._edit(lambda p, ids: p.set_notes(ids[0], text, self.annotator), advance=False)

    def _edit(self, change: Callable[[Project, list[int]], Change], advance: bool = True) -> None:
        if self.project is None:
            return
        rows = self._target_rows()
        if not rows or not may_edit(self.window):  # a shared project: the name first
            return
        if not self._rows_in_sight(rows):  # scrolled away: shown first, never edited unseen
            name = self.model.item(rows[0])["name"]
            self.select_rows(rows)
            self.window.statusBar().showMessage(
                f"{name} was out of view: not changed; press the key again to change it", 6000
            )
            return
        ids = [self.model.item_id(r) for r in rows]
        try:
            made = change(self.project, ids)
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return
        self._record(made)
        self._items_changed(ids)
        # the item by name: the canvas may show another one, and the selection moves on
        who = self.model.item(rows[0])["name"] if len(rows) == 1 else f"{len(made.ids)} items"
        said = f"{who}: {made.what}"
        if advance:
            self._advance(rows[-1])
            row = self.table.currentIndex().row()
            if row >= 0 and row != rows[-1]:
                said += f"; next: {self.model.item(row)['name']}"
        self.window.statusBar().showMessage(said, 4000)

    def _rows_in_sight(self, rows: list[int]) -> bool:
        """Whether one of ``rows`` shows in the table's viewport (or the table is not shown:
        an edit from a menu or a test)."""
        if not self.table.isVisible():
            return True
        height = self.table.viewport().height()
        for row in rows:  # at least half of it in view
            middle = self.table.rowViewportPosition(row) + self.table.rowHeight(row) // 2
            if 0 <= middle <= height:
                return True
        return False

    def _advance(self, last_row: int) -> None:
        self.select_rows([min(last_row + 1, self.model.rowCount() - 1)])

    def select_rows(self, rows: list[int], reveal: bool = True) -> None:
        """Exactly ``rows`` selected, the first current (in the current column), scrolled to.

        Every row the program moves to goes through here. ``table.setCurrentIndex`` would ask
        Qt which keys are held: Ctrl still down from Ctrl+Z toggled the row *into* the old
        selection (the next number key then labelled both), Shift extended it to a range."""
        rows = [r for r in rows if 0 <= r < self.model.rowCount()]
        if not rows:
            return
        index = self.model.index(rows[0], max(1, self.table.currentIndex().column()))
        selection = QItemSelection()
        for row in rows:
            selection.select(self.model.index(row, 0), self.model.index(row, 0))
        flags = QItemSelectionModel.SelectionFlag
        model = self.table.selectionModel()
        model.setCurrentIndex(index, flags.NoUpdate)
        model.select(selection, flags.ClearAndSelect | flags.Rows)
        if reveal:
            self.table.scrollTo(index)
            self._reveal(index)

    def _reveal(self, index) -> None:
        """Keep the row in sight when the panel itself scrolls inside its dock (a laptop screen:
        the table is taller than what the dock shows, so the table's own scrollTo is not enough)."""
        area = self.parentWidget()
        while area is not None and not isinstance(area, QScrollArea):
            area = area.parentWidget()
        if area is None or not area.verticalScrollBar().maximum():
            return
        rect = self.table.visualRect(index)
        centre = self.table.viewport().mapTo(area.widget(), rect.center())
        area.ensureVisible(centre.x(), centre.y(), 10, rect.height())

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.item_id(r) for r in rows]

    # -- splits ----------------------------------------------------------------------------------
    def _group_keys(self) -> list[str]:
        rows = self.project.db.execute(
            "SELECT DISTINCT j.key FROM (SELECT metadata FROM items LIMIT 5000) AS m, "
            "json_each(m.metadata) AS j ORDER BY j.key"
        ).fetchall()
        return [r[0] for r in rows]

    def split_dialog(self) -> None:
        if self.project is None:
            return
        dialog = SplitDialog(self._group_keys(), self.model.rowCount(), len(self.project), self)
        if dialog.exec():
            self.run_split(**dialog.values())

    def run_split(
        self,
        mode: str = "stratified",
        fractions: dict[str, float] | None = None,
        seed: int = 0,
        group_key: str = "",
        only_shown: bool = False,
    ):
        """Plan the split on a worker; ask before it replaces assignments; then write it."""
        fractions = fractions or {"train": 0.7, "val": 0.15, "test": 0.15}
        filters = self.current_filters() if only_shown else None
        if mode == "group" and not group_key:
            self.window.report_error("Group split: choose the metadata key that names the group")
            return None

        def make(project: Project) -> Job[SplitPlan]:
            yield Progress(0, 1, "assigning splits")
            if mode == "group":
                return plan_group(project, group_key, fractions, seed, filters)
            return plan_stratified(project, fractions, seed, filters)

        return self._run("Split", make, self._split_planned)

    def _split_planned(self, plan: SplitPlan) -> None:
        if not plan.replaces:
            self._write_split(plan)
            return
        ask(
            self.window,
            "Replace the existing split?",
            plan.question(),
            f"Replace ({plan.changes:,} change{'s' if plan.changes != 1 else ''})",
            lambda: self._write_split(plan),
            lambda: self.window.statusBar().showMessage("Split not changed", 5000),
            keep=lambda box: setattr(self, "split_question", box),
        )  # Cancel is the default: Enter keeps the split

    def _write_split(self, plan: SplitPlan):
        def done(change: Change) -> None:
            self._record(change)
            counts = ", ".join(f"{k} {v:,}" for k, v in plan.counts("new").items())
            self.window.statusBar().showMessage(
                f"Split written: {counts} ({change.changed:,} assignment(s) changed)", 8000
            )
            self._data_changed()

        self.split_task = self._run("Write split", lambda p: _job(apply_plan, p, plan), done)
        return self.split_task

    def restore_previous_split(self):
        """Bring back the split the last split replaced (kept in the catalog)."""
        if self.project is None:
            return None

        def done(change: Change) -> None:
            self._record(change)
            self.window.statusBar().showMessage(
                f"Previous split restored ({change.changed:,} assignment(s) changed)", 8000
            )
            self._data_changed()

        self.split_task = self._run(
            "Restore previous split", lambda p: _job(restore_previous, p), done
        )
        return self.split_task


def _job(function: Callable[..., Any], *args: Any) -> Job[Any]:
    yield Progress(0, 1, "writing splits")
    return function(*args)
