"""The Dataset menu: its actions (enabled while a project is open) and the recent projects
(mixed into the Browser panel)."""

from __future__ import annotations

from pathlib import Path

from qbi_desktop.gui.settings import read_list

RECENT_KEY = "browser/recent_projects"


class BrowserMenu:
    """Mixed into BrowserPanel: Dataset menu entries calling the panel's slots."""

    def build_menu(self) -> None:
        w = self.window
        menu = w.add_menu("dataset", "&Dataset")
        self.menu = menu
        w.add_action(
            "&New Project…",
            self.new_project_dialog,
            None,
            menu,
            "Create a project folder with a catalog",
        )
        w.add_action("&Open Project…", self.open_project_dialog, "Ctrl+Shift+O", menu)
        self.recent_menu = menu.addMenu("Recent &Projects")
        self.close_action = w.add_action("&Close Project", self.close_project_asked, None, menu)
        w.add_action(
            "&Repair Project…",
            self.repair_project_dialog,
            None,
            menu,
            "Check the open project's catalog (or a folder's) and mend it if it is damaged: "
            "a copy of its rows with the indexes rebuilt",
        )
        menu.addSeparator()
        self.import_action = w.add_action(
            "&Import…",
            self.import_dialog,
            "Ctrl+Shift+I",
            menu,
            "Import images, labels, masks, boxes",
        )
        self.export_action = w.add_action("&Export…", self.export_dialog, None, menu)
        menu.addSeparator()
        self.metadata_action = w.add_action(
            "Project &Metadata…",
            self.metadata_dialog,
            None,
            menu,
            "Title, creators, license, instrument …",
        )
        self.split_action = w.add_action(
            "&Split…",
            self.split_dialog,
            None,
            menu,
            "Stratified or group-aware train/val/test split",
        )
        self.restore_split_action = w.add_action(
            "&Restore Previous Split",
            self.restore_previous_split,
            None,
            menu,
            "Bring back the split the last split replaced (kept in the project)",
        )
        self.verify_action = w.add_action(
            "&Verify Files", self.verify_files, None, menu, "Find moved or changed image files"
        )
        menu.addSeparator()
        self.classes_action = w.add_action(
            "C&lasses…", self.classes_dialog, None, menu, "Class counts; rename or merge classes"
        )
        self.targets_action = w.add_action(
            "Regression &Target…",
            self.target_definition_dialog,
            None,
            menu,
            "Name, unit, allowed range and decimals of a regression target",
        )
        for action in (
            self.close_action,
            self.import_action,
            self.export_action,
            self.metadata_action,
            self.split_action,
            self.restore_split_action,
            self.verify_action,
            self.classes_action,
            self.targets_action,
        ):
            w.needs_project(action)
        self._refresh_recent_menu()
        self._enable_actions()

    def _enable_actions(self) -> None:
        """Every project action of the window (these and other panels') follows the project
        (``window.needs_project``)."""
        self.window.set_project_open(self.project is not None)

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self._recent()
        for path in paths:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_project(p))
        self.recent_menu.setEnabled(bool(paths))

    def _recent(self) -> list[str]:
        return read_list(self.window.settings, RECENT_KEY, 10)

    def _remember_recent(self, path: Path) -> None:
        paths = [str(path)] + [p for p in self._recent() if p != str(path)]
        self.window.settings.setValue(RECENT_KEY, paths[:10])
        self._refresh_recent_menu()
