"""The window's menus and actions (File, View, Image, Help; the panels' menus, which they fill)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from qbi_desktop.gui.settings import recent_files

# The panels' top-level menus, made empty at start in their order: Edit after File (the undo
# router fills it), the rest between Image and Help.
PANEL_MENUS = (
    ("edit", "&Edit"),
    ("annotate", "&Annotate"),
    ("dataset", "&Dataset"),
    ("baselines", "&Baselines"),
    ("augment", "&Augment"),
    ("measure", "&Measure"),
)


# Standard keys of the common project actions, given where a panel adds the action without one
# (menu key, the action's text): Ctrl+N / Ctrl+E did nothing and New Project and Export had no
# key. None of them is bound elsewhere (Help > Keyboard Shortcuts lists them with the rest).
STANDARD_SHORTCUTS = {
    ("dataset", "&New Project…"): "Ctrl+N",
    ("dataset", "&Close Project"): "Ctrl+Shift+W",
    ("dataset", "&Export…"): "Ctrl+E",
}


def _keys(standard: QKeySequence.StandardKey, fallback: str) -> list[QKeySequence]:
    """The platform's keys for ``standard``, or ``fallback`` where it has none (the offscreen
    and some window-manager-less platforms give File > Quit no key at all)."""
    keys = QKeySequence.keyBindings(standard)
    return keys or [QKeySequence(fallback)]


class MenusMixin:
    """Menus of the main window; every action's shortcut works even with the menu bar hidden."""

    def _action(self, text, slot, shortcut=None, menu=None, tip=None) -> QAction:
        if shortcut is None and menu is not None:
            key = next((k for k, m in getattr(self, "menus", {}).items() if m is menu), None)
            shortcut = STANDARD_SHORTCUTS.get((key, text))
        action = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, list):
                action.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        if menu is not None:
            menu.addAction(action)
        self.addAction(action)  # shortcuts work even when the menu bar is hidden
        return action

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        # Every top-level menu from the first frame, in its place: the panels that fill most of
        # them are built after the first image is drawn (seconds on a busy machine), and a menu
        # bar of File, View, Image, Help that grew six menus later moved what the user aimed at.
        # Empty ones are disabled until their panel fills them (see enable_filled_menus).
        early = {key: menu.addMenu(title) for key, title in PANEL_MENUS[:1]}
        self._action("&Open…", self.open_dialog, QKeySequence.StandardKey.Open, file_menu)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self._action(
            "Open &Demo", self.open_demo, None, file_menu, "Simulated radiographs with spots"
        )
        file_menu.addSeparator()
        self._action("&Close Image", self.close_current, QKeySequence.StandardKey.Close, file_menu)
        file_menu.addSeparator()
        self._action("&Quit", self.close, _keys(QKeySequence.StandardKey.Quit, "Ctrl+Q"), file_menu)

        view = menu.addMenu("&View")
        self._action("&Fit to Window", self.canvas.fit, "Ctrl+0", view)
        self._action("Actual Size (&1:1)", lambda: self.canvas.zoom_to(1.0), "Ctrl+1", view)
        self._action("Zoom &In", lambda: self.canvas.zoom_by(1.25), ["Ctrl++", "Ctrl+="], view)
        self._action("Zoom &Out", lambda: self.canvas.zoom_by(0.8), "Ctrl+-", view)
        view.addSeparator()
        self.panels_menu = view.addMenu("&Panels")
        for dock in self.docks.values():
            self.panels_menu.addAction(dock.toggleViewAction())
        self._action("&Reset Layout", self.reset_layout, None, view)

        image = menu.addMenu("&Image")
        self._action("&Auto Levels", self.auto_levels, "Ctrl+Shift+A", image)
        self._action("&Next Slice", lambda: self.step_slice(1), [".", "PgDown"], image)
        self._action("&Previous Slice", lambda: self.step_slice(-1), [",", "PgUp"], image)
        self._action("First Slice", lambda: self.go_to_slice(0), "Home", image)
        self._action("Last Slice", lambda: self.go_to_slice(10**9), "End", image)

        early.update({key: menu.addMenu(title) for key, title in PANEL_MENUS[1:]})
        self.help_menu = help_menu = menu.addMenu("&Help")
        self.menus = {"file": file_menu, "view": view, "image": image, "help": help_menu, **early}
        for key in early:
            early[key].setEnabled(False)
        self._action(
            "QBI Desktop &Help", self.show_help, QKeySequence.StandardKey.HelpContents, help_menu
        )
        self._action("&Keyboard Shortcuts", self.show_shortcuts, "Ctrl+/", help_menu)
        help_menu.addSeparator()
        self._action("&About QBI Desktop", self.show_about, None, help_menu)
        self._refresh_recent_menu()

    def enable_filled_menus(self) -> None:
        """Enable each top-level menu that has entries (after the panels are built)."""
        for menu in self.menus.values():
            menu.setEnabled(not menu.isEmpty())

    def add_menu(self, key: str, title: str):
        """A top-level menu for a panel (placed before Help); the same menu for the same key."""
        if key not in self.menus:
            menu = self.menuBar().addMenu(title)
            self.menuBar().insertMenu(self.help_menu.menuAction(), menu)
            self.menus[key] = menu
        return self.menus[key]

    def add_action(self, text, slot, shortcut=None, menu=None, tip=None) -> QAction:
        """A menu action with shortcut(s) that work anywhere in the window."""
        return self._action(text, slot, shortcut, menu, tip)

    def add_session_actions(self) -> None:
        """Dataset > Reopen Last Project at Start (on by default), after Recent Projects; in
        the File menu when there is no Dataset menu (its panel failed to build)."""
        from qbi_desktop.gui.settings import read_setting
        from qbi_desktop.gui.window.opening import REOPEN_PROJECT_KEY

        dataset = self.menus.get("dataset")
        menu = dataset if dataset is not None and not dataset.isEmpty() else self.menus["file"]
        action = QAction("Reopen &Last Project at Start", self)
        action.setCheckable(True)
        action.setChecked(bool(read_setting(self.settings, REOPEN_PROJECT_KEY, True)))
        action.setStatusTip("Open the project that was open when QBI Desktop last closed")
        action.toggled.connect(lambda on: self.settings.setValue(REOPEN_PROJECT_KEY, bool(on)))
        entries = menu.actions()
        recent = next((a for a in entries if a.menu() is not None), None)
        after = entries[entries.index(recent) + 1] if recent in entries[:-1] else None
        if after is not None:
            menu.insertAction(after, action)
        else:
            menu.addAction(action)
        self.reopen_project_action = action

    # -- actions that need a project ---------------------------------------------------------
    def needs_project(self, action: QAction) -> QAction:
        """``action`` acts on the open project: it follows :meth:`set_project_open`, greyed
        while no project is open (one rule for every panel's project actions: an enabled
        entry that then refuses "open a project first" is a trap)."""
        actions = self.__dict__.setdefault("project_actions", [])
        actions.append(action)
        action.setEnabled(bool(getattr(self, "project_is_open", False)))
        return action

    def set_project_open(self, on: bool) -> None:
        """A project was opened (``on``) or closed: every project action follows."""
        self.project_is_open = bool(on)
        for action in getattr(self, "project_actions", []):
            action.setEnabled(self.project_is_open)

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = recent_files(self.settings)
        for path in files:
            action = self.recent_menu.addAction(path)
            # an item of the open project opens as that item (opening.open_path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_files([p]))
        self.recent_menu.setEnabled(bool(files))

    def show_help(self) -> None:
        from qbi_desktop.gui.help import ReadmeDialog

        dialog = ReadmeDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    def show_shortcuts(self) -> None:
        from qbi_desktop.gui.help import ShortcutsDialog

        dialog = ShortcutsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    def show_about(self) -> None:
        from qbi_desktop.gui.about import about_text

        QMessageBox.about(self, "About QBI Desktop", about_text())
