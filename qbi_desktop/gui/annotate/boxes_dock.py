"""The Annotate dock's boxes: the Box tool (W), the class for new boxes, the box list, proposals
copied forward from the previous item, and next/previous item keys.

One :class:`BoxSession` per shown image plane (like the mask sessions). Where its boxes live:

* a project item opened from the Browser (its document has a ProjectItemStore): the catalog's
  ``boxes`` table, every edit one transaction (``Project.set_boxes``) on a connection of our own;
* a loose image file: a JSON file per plane in ``<user data>/boxes`` (beside the default masks
  folder, never in the raw-data folder; see ``core.annotation.boxes.loose_boxes_path``);
* an array that is no file (a simulation not yet saved): in memory only, and the list says so.

Keys (canvas and this dock): W the Box tool; 0-9 give the selected box (or the next new box)
the 1st-10th class of the list (key 0 = first, as in the Browser); the class field
(type-ahead) reaches any class and adds new ones. No class is invented: until the user chooses
one (for this project: a class chosen for another project's item does not carry over), a box
drawn waits, dashed and tagged "class?", while the Class field asks for its class (Enter stores
it; Esc, or Delete / Backspace in the empty field, drops it); the class last chosen is
remembered per project and for loose images;
Delete removes the selected box or rejects
the selected proposal; Ctrl+Shift+V copies the previous item's boxes as proposals, Enter
accepts the selected proposal, Shift+Enter all of them; D / A
(settings ``annotate/next_item_key`` and ``annotate/previous_item_key``) open the next /
previous item in the Browser's current order, saving the mask on the way (boxes are saved
with every edit).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from qbi_desktop.core.annotation.boxes import FileBoxStore, ItemBoxStore, size_text
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.opinions import is_consensus
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui.annotate.boxes_classes import CLASSES_KEY, BoxClasses
from qbi_desktop.gui.annotate.boxes_overlay import BoxLayer
from qbi_desktop.gui.annotate.boxes_session import BoxSession
from qbi_desktop.gui.annotate.boxes_tool import BoxController
from qbi_desktop.gui.annotate.prepare import plane_dataset, plane_file
from qbi_desktop.gui.settings import read_list

log = logging.getLogger("qbi_desktop")

NEXT_KEY, PREVIOUS_KEY = "annotate/next_item_key", "annotate/previous_item_key"
COPY_KEY = "Ctrl+Shift+V"  # paste the previous item's boxes as proposals


class BoxesDock(BoxClasses, QObject):
    """Owned by the AnnotatePanel (``panel.boxes``)."""

    boxes_changed = Signal()  # the shown plane's stored boxes changed, or another plane shown

    def __init__(self, panel):
        super().__init__(panel)
        self.panel = panel
        self.window = panel.window
        self.canvas = panel.canvas
        self.sessions: dict[tuple[int, int], BoxSession] = {}
        self.session: BoxSession | None = None
        self.previous: BoxSession | None = None  # the plane shown before this one
        self._projects: dict[Path, object] = {}
        self.extra_classes: list[str] = read_list(self.window.settings, CLASSES_KEY, 200)
        # the class of new boxes: none until the user chooses one (no class is invented); the
        # first of the classes the user typed for loose images, which a project's item takes
        # only if the project has it (see _refresh_classes)
        self.label: str | None = self.extra_classes[0] if self.extra_classes else None
        self.pending: tuple[BoxSession, object] | None = None  # a drawn box waiting for a class
        self.classes: list[str] = []
        self.layer = BoxLayer()
        self.canvas.view.addItem(self.layer, ignoreBounds=True)
        self.controller = BoxController(
            self.canvas, panel.controller, self.layer, lambda: self.session, lambda: self.label
        )
        self.controller.message.connect(self._say)
        self.controller.unnamed.connect(self._ask_class)
        self.widget = self._build()
        self.canvas.plane_changed.connect(self._plane_changed)

    # -- widgets ----------------------------------------------------------------------------------
    def _build(self) -> QGroupBox:
        box = QGroupBox("Boxes (W)")
        v = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Class"))
        self.class_combo = QComboBox()
        self.class_combo.setEditable(True)
        self.class_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.class_combo.setToolTip(
            "Class of new boxes and of the selected box: type to find any class, or a new name "
            "and Enter to add it; keys 0-9 pick the first ten"
        )
        completer = self.class_combo.completer()
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        # matched on the class names (the item data), not the shown "0: a — image labels
        # only": typing "o" offered every class whose kind said "only"
        completer.setCompletionRole(Qt.ItemDataRole.UserRole)
        self.class_combo.activated.connect(lambda _i: self._class_typed())
        completer.activated.connect(lambda _text: self._class_typed())
        self.class_combo.lineEdit().returnPressed.connect(self._class_typed)
        # a Class field emptied by the user is no class: the next box asks for one
        self.class_combo.lineEdit().textEdited.connect(self._class_cleared)
        # Delete / Backspace in the empty field drop a box waiting for its class
        self.class_combo.installEventFilter(self)
        self.class_combo.lineEdit().installEventFilter(self)
        row.addWidget(self.class_combo, 1)
        v.addLayout(row)
        self.list = QTreeWidget()
        self.list.setHeaderLabels(["Class", "Size", "By", "State"])
        self.list.setRootIsDecorated(False)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setMaximumHeight(150)
        self.list.itemClicked.connect(self._list_clicked)
        v.addWidget(self.list)
        row = QHBoxLayout()
        self.copy_button = QPushButton("Copy from previous item")
        self.copy_button.setToolTip(
            f"The previous item's boxes as proposals (dashed), {COPY_KEY}: Enter accepts, "
            "Delete rejects, drag to adjust first"
        )
        self.copy_button.clicked.connect(self.copy_previous)
        self.accept_button = QPushButton("Accept all")
        self.accept_button.setToolTip("Accept every proposal (Shift+Enter)")
        self.accept_button.clicked.connect(self.accept_all)
        self.reject_button = QPushButton("Reject all")
        self.reject_button.clicked.connect(self.reject_all)
        v.addWidget(self.copy_button)  # alone on its row: the dock column stays narrow
        for b in (self.accept_button, self.reject_button):
            row.addWidget(b)
        v.addLayout(row)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        v.addWidget(self.info)
        return box

    def install_shortcuts(self, shortcuts: list) -> None:
        """Keys on the canvas and the box list (not the whole dock: the class field types)."""
        s = self.window.settings
        # (key, slot, what Help > Keyboard Shortcuts says; empty: the button's own text)
        delete, accept = "Delete the selected box", "Accept the selected proposed box"
        accept_all = "Accept every proposed box"
        bindings = [
            ("Delete", self.delete_selected, delete),
            ("Backspace", self.delete_selected, delete),
            ("Return", self.accept_selected, accept),
            ("Enter", self.accept_selected, accept),
            ("Shift+Return", self.accept_all, accept_all),
            ("Shift+Enter", self.accept_all, accept_all),
            (COPY_KEY, self.copy_previous, ""),
        ]
        for owner in (self.canvas, self.list):
            for key, slot, what in bindings:
                shortcuts.append(self._shortcut(owner, key, slot, what))
        for owner in (self.panel, self.canvas):
            shortcuts.append(
                self._shortcut(
                    owner, str(s.value(NEXT_KEY, "D")), self.next_item, "Next item of the Browser"
                )
            )
            shortcuts.append(
                self._shortcut(
                    owner,
                    str(s.value(PREVIOUS_KEY, "A")),
                    self.previous_item,
                    "Previous item of the Browser",
                )
            )

    def _shortcut(self, owner, key: str, slot, what: str | None = None) -> QShortcut:
        sc = QShortcut(QKeySequence(key), owner)
        sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        sc.setWhatsThis(what or "")  # listed in Help > Keyboard Shortcuts
        sc.activated.connect(slot)
        return sc

    def _say(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 6000)

    # -- sessions ---------------------------------------------------------------------------------
    def annotator(self, fallback: str | None = None) -> str | None:
        who = getattr(self.window, "annotator", None)
        name = getattr(who, "name", None)
        return name or fallback

    def _project(self, root: Path):
        project = self._projects.get(root)
        if project is None:
            project = self._projects[root] = open_project(root)
        return project

    def close(self) -> None:
        for project in self._projects.values():
            try:
                project.close()
            except Exception:  # noqa: BLE001 - closing at exit
                log.exception("closing a project's box connection failed")
        self._projects.clear()

    def _store_for(self, document):
        item = self.panel.store_of(document)
        if item is not None and (document.source.n_slices == 1 or document.index == 0):
            project = self._project(item.root)
            # a consensus opened to edit keeps its provenance; anything else is the person's
            who = item.annotator if is_consensus(item.annotator) else self.annotator(item.annotator)
            return ItemBoxStore(project, item.item_id, who, blind=getattr(item, "blind", False))
        path, index, _n = plane_file(document.source, document.index)  # a series frame's file
        if path.is_file():
            # an HDF5/NeXus file holds several stacks: slice i of each has its own boxes
            dataset = plane_dataset(document.source)  # as the plane's mask is keyed
            return FileBoxStore(path, index, self.annotator(), dataset=dataset)
        return None

    def _plane_changed(self, plane) -> None:
        document = self.window.current
        if plane is None or document is None:
            self._show(None)
            return
        key = (id(document), int(document.index))
        session = self.sessions.get(key)
        if session is None:
            try:
                store = self._store_for(document)
            except UserFacingError as exc:
                self.window.report_error(f"boxes of {document.title}: {exc}")
                store = None
            who = getattr(store, "annotator", None)  # a consensus being edited keeps its name
            who = who if is_consensus(who) else self.annotator()
            session = BoxSession(store, plane.width, plane.height, who, self)
            session.mask_depth = lambda key=key: self._mask_depth(key)
            session.changed.connect(lambda s=session: self._session_changed(s))
            session.message.connect(self._say)
            session.edited.connect(lambda s=session: self._edited(s))
            session.load()
            if session.load_problem:
                self.window.report_error(session.load_problem)
            self.sessions[key] = session
        if session is not self.session:
            if self.session is not None:
                self.previous = self.session
            self._show(session)

    def boxes_shown(self, document) -> list | None:
        """The boxes of ``document``'s current plane, if that is the plane shown (Augment)."""
        session = self.sessions.get((id(document), int(document.index)))
        return list(session.boxes) if session is not None and session.boxes else None

    def _edited(self, session: BoxSession) -> None:
        """The Browser's row (Boxes column, thumbnail) follows a project item's box edit."""
        if session is self.session:
            self.boxes_changed.emit()
        store = session.store
        browser = self._browser()
        if not isinstance(store, ItemBoxStore) or browser is None or browser.project is None:
            return
        if browser.project.root == store.project.root:
            browser.model.refresh_items([store.item_id])

    def forget_document(self, document) -> None:
        for key in [k for k in self.sessions if k[0] == id(document)]:
            session = self.sessions.pop(key)
            if session is self.session:
                self._show(None)

    def _mask_depth(self, key) -> int:
        mask = self.panel.sessions.get(key)
        return mask.editor.undo_depth if mask is not None else 0

    def _show(self, session: BoxSession | None) -> None:
        self.controller.cancel()
        if self.pending is not None and self.pending[0] is not session:
            self.pending = None  # drawn on the plane left: dropped (the draft is hidden below)
            self.layer.show_draft(None)
        self.session = session
        self._refresh_classes()
        self._session_changed(session)
        self.boxes_changed.emit()

    def _session_changed(self, session) -> None:
        if session is not self.session:
            return
        if session is None:
            self.layer.show_boxes([], [])
            self.layer.select(None, None)
            self.list.clear()
            self.info.setText("No image")
            return
        self.layer.show_boxes(session.boxes, session.proposals)
        kind, index = session.selected if session.selected is not None else (None, None)
        self.layer.select(kind, index)
        self._fill_list(session)
        known = set(self.classes)
        if any(b.label not in known for b in session.boxes + session.proposals):
            self._refresh_classes()
        self.accept_button.setEnabled(bool(session.proposals))
        self.reject_button.setEnabled(bool(session.proposals))
        text = f"{len(session.boxes)} box(es)"
        if session.proposals:
            text += f", {len(session.proposals)} proposal(s)"
        self.info.setText(f"{text} · {session.describe()}")

    def _fill_list(self, session: BoxSession) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        rows = [("box", i, b) for i, b in enumerate(session.boxes)]
        rows += [("proposal", i, b) for i, b in enumerate(session.proposals)]
        for kind, i, b in rows:
            state = "proposal" if kind == "proposal" else "saved"
            if session.store is None and kind == "box":
                state = "not stored"
            item = QTreeWidgetItem([b.label, size_text(b), b.annotator or "", state])
            item.setData(0, Qt.ItemDataRole.UserRole, (kind, i))
            self.list.addTopLevelItem(item)
            if session.selected == (kind, i):
                item.setSelected(True)
                self.list.setCurrentItem(item)
        for c in range(4):
            self.list.resizeColumnToContents(c)
        self.list.blockSignals(False)

    def _list_clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        session = self.session
        if session is None:
            return
        kind, i = item.data(0, Qt.ItemDataRole.UserRole)
        session.select((kind, i))
        box = session.selected_box()
        if box is not None:
            self.centre_on(box)

    def centre_on(self, box) -> None:
        """Put ``box`` in the middle of the view, zooming out if it does not fit."""
        view = self.canvas.view
        rect = view.viewRect()
        w, h = max(rect.width(), box.w * 1.2), max(rect.height(), box.h * 1.2)
        cx, cy = box.x + box.w / 2, box.y + box.h / 2
        view.setRange(QRectF(cx - w / 2, cy - h / 2, w, h), padding=0)

    # -- edits ------------------------------------------------------------------------------------
    def delete_selected(self) -> None:
        if self.cancel_pending():  # a drawn box waiting for its class goes first
            return
        session = self.session
        if session is None or session.selected is None:
            return
        kind, i = session.selected
        if kind == "box":
            session.delete(i)
        else:
            session.reject([i])

    def accept_selected(self) -> None:
        session = self.session
        if session is None or not session.proposals:
            return
        if session.selected is not None and session.selected[0] == "proposal":
            session.accept([session.selected[1]])
        else:
            session.accept([0])

    def accept_all(self) -> None:
        if self.session is not None:
            self.session.accept(list(range(len(self.session.proposals))))

    def reject_all(self) -> None:
        if self.session is not None:
            self.session.reject(list(range(len(self.session.proposals))))

    def copy_previous(self) -> int:
        """Proposals from the previous item (the Browser's order) or the image shown before."""
        session = self.session
        if session is None:
            self._say("Open an image first")
            return 0
        source, where = self._previous_boxes(session)
        if not source:
            self._say(f"No boxes to copy: {where} has none")
            return 0
        return session.propose(source)

    def _previous_boxes(self, session: BoxSession):
        store = session.store
        browser = self._browser()
        if isinstance(store, ItemBoxStore) and _shows_project_of(browser, store):
            row = browser.model.row_of(store.item_id)
            if row is not None and row > 0:
                prev = int(browser.model.item(row - 1)["id"])
                return store.project.boxes(prev), f"item {prev}"
            return [], "the first item"
        if self.previous is not None and self.previous is not session:
            return list(self.previous.boxes), "the image shown before"
        return [], "no image shown before this one"

    # -- undo (the canvas context: box edits and strokes in the order made) ----------------------
    def can_undo(self) -> bool:
        return self.session is not None and self.session.owns_next_undo()

    def can_redo(self) -> bool:
        return self.session is not None and self.session.owns_next_redo()

    def undo(self):
        return self.session.undo() if self.can_undo() else None

    def redo(self):
        return self.session.redo() if self.can_redo() else None

    def undo_text(self) -> str | None:
        return self.session.undo_stack.undo_text() if self.can_undo() else None

    def redo_text(self) -> str | None:
        return self.session.undo_stack.redo_text() if self.can_redo() else None

    def stroke_made(self) -> None:
        if self.session is not None:
            self.session.forget_redo()

    # -- next / previous item ---------------------------------------------------------------------
    def _browser(self):
        return getattr(self.window, "panels", {}).get("browser")

    def next_item(self) -> None:
        self.step_item(1)

    def previous_item(self) -> None:
        self.step_item(-1)

    def step_item(self, step: int):
        """Open the item ``step`` rows away in the Browser's current order (saving the mask)."""
        browser = self._browser()
        session = self.session
        store = session.store if session is not None else None
        if browser is None or browser.project is None or not isinstance(store, ItemBoxStore):
            self._say("Next/previous item works on project items opened from the Browser")
            return None
        if not _shows_project_of(browser, store):  # item ids repeat from project to project
            self._say(f"This item is of project {store.project.root.name}, not the Browser's")
            return None
        row = browser.model.row_of(store.item_id)
        if row is None:
            self._say("This item is not in the Browser's current list (filter)")
            return None
        target = row + step
        if not 0 <= target < browser.model.rowCount():
            self._say("Last item of the list" if step > 0 else "First item of the list")
            return None
        mask = self.panel.session
        if mask is not None and mask.store is not None and mask.modified and mask.ready:
            self.panel.save_to_project(mask)
        # exactly that row (selectRow would add it to the selection while Ctrl or Shift is
        # held, and a Browser key would then act on both); open_item gives the canvas the keys
        browser.select_rows([target])
        return browser.open_item(target)


def _shows_project_of(browser, store: ItemBoxStore) -> bool:
    """Whether the Browser shows the project of ``store``'s item (its rows are that project's)."""
    project = getattr(browser, "project", None)
    return project is not None and project.root.resolve() == store.project.root.resolve()
