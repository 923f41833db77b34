"""Undo by context: Ctrl+Z acts on the panel you are working in, never on something unseen.

Each panel that edits something registers an :class:`UndoContext`: its widgets (a subtree of
the window) and what its undo/redo would do. The window's Edit > Undo / Redo (Ctrl+Z,
Ctrl+Shift+Z, Ctrl+Y) go to the *current* context: the one you last worked in - gave the focus
to, clicked into, or made an edit in. When that context has nothing to undo, nothing happens
and the status bar says so ("nothing to undo in Browser"); the menu names what would be undone
and where ("Undo label '3' (Browser)").

:class:`UndoStack` is a small command stack for contexts whose edits are records applied
through a function (the Browser's catalog edits; later box and target editors). Contexts with
their own history (the mask editor's stroke deltas) just describe and call it.

Text fields keep their own Ctrl+Z: a focused line edit takes the key before the window does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QWidget

from qbi_desktop.core.errors import UserFacingError

UNDO_KEYS = ("Ctrl+Z",)
REDO_KEYS = ("Ctrl+Shift+Z", "Ctrl+Y")
STACK_LIMIT = 200  # edits kept per context


@dataclass
class UndoContext:
    """A panel's undo: ``undo_text()``/``redo_text()`` say what the next undo/redo would do
    (None: nothing), ``undo()``/``redo()`` do it (and may return the status-bar message),
    ``roots()`` are the widgets it owns."""

    name: str
    roots: Callable[[], Iterable[QWidget | None]]
    undo_text: Callable[[], str | None]
    redo_text: Callable[[], str | None]
    undo: Callable[[], object]
    redo: Callable[[], object]

    def owns(self, widget: QWidget | None) -> bool:
        while widget is not None:
            if any(root is widget for root in self.roots() if root is not None):
                return True
            widget = widget.parentWidget()
        return False


_serials = itertools.count(1)


@dataclass
class _Command:
    text: str
    undo: Callable[[], object]
    redo: Callable[[], object]
    # which edit this is: a stack at its limit keeps its length while edits come in
    serial: int = field(default_factory=lambda: next(_serials))


class UndoStack(QObject):
    """Edits already done, each with the functions that undo and redo it."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None, limit: int = STACK_LIMIT):
        super().__init__(parent)
        self.limit = limit
        self._done: list[_Command] = []
        self._undone: list[_Command] = []

    def push(self, text: str, undo: Callable[[], object], redo: Callable[[], object]) -> None:
        """Record an edit that was just made (a new edit forgets what was undone)."""
        self._done.append(_Command(text, undo, redo))
        del self._done[: -self.limit]
        self._undone.clear()
        self.changed.emit()

    def undo_text(self) -> str | None:
        return self._done[-1].text if self._done else None

    def redo_text(self) -> str | None:
        return self._undone[-1].text if self._undone else None

    def undo(self) -> object:
        """Undo the last edit; what its undo function returned (a message, or None)."""
        if not self._done:
            return None
        command = self._done[-1]
        said = command.undo()  # raises: the edit stays on the stack, nothing half-done
        self._undone.append(self._done.pop())
        self.changed.emit()
        return said

    def redo(self) -> object:
        if not self._undone:
            return None
        command = self._undone[-1]
        said = command.redo()
        self._done.append(self._undone.pop())
        self.changed.emit()
        return said

    def took_back(self, which: str) -> None:
        """An undo (or redo) that finished later, on a worker, failed: its edit goes back to
        where it was, so the next Ctrl+Z tries it again."""
        source, target = (
            (self._undone, self._done) if which == "undo" else (self._done, self._undone)
        )
        if source:
            target.append(source.pop())
            self.changed.emit()

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self.changed.emit()

    def __len__(self) -> int:
        return len(self._done)

    @property
    def top(self) -> int:
        """Which edit the stack stands at (0: none): it changes with every push, undo and
        redo, and comes back when an undo is redone (or a redo undone)."""
        return self._done[-1].serial if self._done else 0


class UndoRouter(QObject):
    """The window's Edit > Undo / Redo, sent to the current context."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.contexts: list[UndoContext] = []
        self.current: UndoContext | None = None
        self.menu = self._edit_menu()
        self.undo_action = self._action("&Undo", self.undo, UNDO_KEYS)
        self.redo_action = self._action("&Redo", self.redo, REDO_KEYS)
        self.menu.aboutToShow.connect(self.refresh)
        QApplication.instance().focusChanged.connect(self._focus_changed)
        # A press (mouse or pen) into a panel makes it current even when it takes no focus.
        window.window_input.add(
            (QEvent.Type.MouseButtonPress, QEvent.Type.TabletPress), self._pressed
        )
        self.refresh()

    def _edit_menu(self):
        menus = self.window.menus
        if "edit" not in menus:  # after File, as in every other program
            bar = self.window.menuBar()
            menu = bar.addMenu("&Edit")
            before = menus.get("view")
            if before is not None:
                bar.insertMenu(before.menuAction(), menu)
            menus["edit"] = menu
        return menus["edit"]

    def _action(self, text: str, slot: Callable, keys: tuple[str, ...]) -> QAction:
        action = QAction(text, self.window)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.triggered.connect(slot)
        self.menu.addAction(action)
        self.window.addAction(action)
        return action

    # -- contexts ------------------------------------------------------------------------------
    def register(self, context: UndoContext) -> UndoContext:
        self.contexts.append(context)
        return context

    def context_of(self, widget: QWidget | None) -> UndoContext | None:
        for context in self.contexts:
            if context.owns(widget):
                return context
        return None

    def activate(self, context: UndoContext | None) -> None:
        """Make ``context`` the one Undo acts on (a panel calls this when it makes an edit)."""
        if context is not None and context is not self.current:
            self.current = context
            self.refresh()

    def active(self) -> UndoContext | None:
        return self.current

    def _focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        self.activate(self.context_of(new))

    def _pressed(self, target: QWidget, _event: QEvent) -> bool:
        self.activate(self.context_of(target))
        return False

    # -- actions -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Name what Undo and Redo would do, and where."""
        ctx = self.current
        if ctx is None:
            self.undo_action.setText("&Undo")
            self.redo_action.setText("&Redo")
            return
        undo, redo = ctx.undo_text(), ctx.redo_text()
        self.undo_action.setText(
            f"&Undo {undo} ({ctx.name})" if undo else f"&Undo (nothing in {ctx.name})"
        )
        self.redo_action.setText(
            f"&Redo {redo} ({ctx.name})" if redo else f"&Redo (nothing in {ctx.name})"
        )

    def undo(self) -> bool:
        return self._run("undo")

    def redo(self) -> bool:
        return self._run("redo")

    def _run(self, which: str) -> bool:
        ctx = self.current
        bar = self.window.statusBar()
        if ctx is None:
            bar.showMessage(f"nothing to {which} here: click the panel you are working in", 4000)
            return False
        text = ctx.undo_text() if which == "undo" else ctx.redo_text()
        if not text:
            bar.showMessage(f"nothing to {which} in {ctx.name}", 4000)
            self.refresh()
            return False
        try:
            said = (ctx.undo if which == "undo" else ctx.redo)()
        except UserFacingError as exc:  # e.g. the catalog is busy: said, nothing changed
            self.window.report_error(f"{which} in {ctx.name}: {exc}")
            return False
        finally:
            self.refresh()
        done = "Undid" if which == "undo" else "Redid"
        # a context may say more itself (e.g. items left alone because edited since)
        bar.showMessage(said if isinstance(said, str) else f"{done} {text} ({ctx.name})", 5000)
        return True


def undo_router(window) -> UndoRouter:
    """The window's router (made on first use by the first panel that registers a context)."""
    router = getattr(window, "undo_router", None)
    if router is None:
        router = UndoRouter(window)
        window.undo_router = router
    return router
