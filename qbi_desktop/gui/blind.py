"""Several annotators in the window: "Annotate blind", the name asked for in a shared project, and
the Browser's "by annotator" / "needs a second opinion" item sets.

* Edit ▸ Annotate blind (checkable, remembered per project): the Browser's label, review,
  targets, boxes and mask columns show only the current annotator's own opinions
  (core.annotation.own_view); switching annotator shows the new person's own work, so each
  one's edits stay apart (the catalog keeps one opinion per person, core.catalog.opinions).
  The Browser's filters, sorts and count then follow that person's own opinions too
  (core.catalog.own_order): "(unlabelled)" lists what *they* have not labelled.
* A project someone else annotated (or marked shared, Edit ▸ Shared Project) is shared: when
  it opens with only the login name, the status bar's annotator button turns red and asks for
  the person's name (a click gives it); the first edit asks for it (gui/annotator.may_edit).
* Dataset ▸ Annotators ▸ shows the items one person annotated, or those with exactly one
  annotator (they need a second opinion), through the Browser's "show these items".
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction

from qbi_desktop.core.annotation import own_view
from qbi_desktop.core.catalog import opinions, own_pages
from qbi_desktop.gui.annotator import install_gate

SETTINGS_PREFIX = "blind/"  # + the project's folder: whether that project is labelled blind


class BlindMode(QObject):
    def __init__(self, window, browser):
        super().__init__(window)
        self.window = window
        self.browser = browser
        self._root: str | None = None
        self.action = QAction("Annotate &blind", self)
        self.action.setCheckable(True)
        self.action.setEnabled(False)
        self.action.setToolTip(
            "Show only your own labels, targets, boxes and masks while you annotate "
            "(the other annotators' work is hidden, not changed)"
        )
        self.action.toggled.connect(self._toggled)
        browser.model.row_overlay = self._overlay
        browser.model.id_source = self._own_ids
        browser.model.reloaded.connect(self._project_seen)
        window.annotator.changed.connect(self._annotator_changed)

    @property
    def active(self) -> bool:
        return self.action.isChecked() and self.browser.project is not None

    def _overlay(self, rows) -> None:
        if self.active:
            own_view.own_rows(self.browser.project.db, rows, self.window.annotator.name)

    def _own_ids(self) -> own_pages.Own | None:
        """Blind: the Browser's filters, sorts and count by this person's own opinions
        (core.catalog.own_pages: a window of rows, the count on the Browser's worker), not by
        the item's latest edit, which may be another's."""
        return own_pages.Own(self.window.annotator.name) if self.active else None

    def _project_seen(self) -> None:
        project = self.browser.project
        root = None if project is None else str(project.root)
        if root == self._root:
            return
        self._root = root
        self.action.setEnabled(project is not None)
        blind = root is not None and _truthy(self.window.settings.value(SETTINGS_PREFIX + root))
        self.action.blockSignals(True)
        self.action.setChecked(blind)
        self.action.blockSignals(False)
        if blind:  # the rows just read are everyone's: read them again as this person's
            QTimer.singleShot(0, self.browser.model.reload)
        if project is not None and not self.window.annotator.chosen:
            people = opinions.shared_with(project.db, self.window.annotator.name)
            if people or opinions.marked_shared(project.db):
                self.name_needed(people)

    def name_needed(self, people: list[str]) -> None:
        """A shared project and only the login name: say so where the name is shown (the
        status bar button, which asks for it) instead of recording edits under it silently.
        Not a modal dialog here: opening a project must never stop on one."""
        shown = ", ".join(people[:5]) + (" …" if len(people) > 5 else "")
        who = f" ({shown} annotated it)" if people else ""
        button = getattr(self.window, "annotator_button", None)
        if button is not None:
            button.setText(f"Annotator: {self.window.annotator.name}? (click: your name)")
            button.setStyleSheet("color: #c03030; font-weight: bold")
            button.setToolTip(
                f"This project is shared{who}: give your own name so your edits are kept "
                "apart from the others'"
            )
            self.window.annotator.changed.connect(self._name_given)
        self.window.statusBar().showMessage(
            f"Shared project{f' ({shown})' if people else ''}: please give your annotator name "
            "(status bar button, or Edit > Annotator…) before you edit",
            15000,
        )

    def _name_given(self, name: str) -> None:
        button = getattr(self.window, "annotator_button", None)
        if button is not None:
            button.setStyleSheet("")
            button.setText(f"Annotator: {name}")
        try:
            self.window.annotator.changed.disconnect(self._name_given)
        except (RuntimeError, TypeError):
            pass

    def _toggled(self, on: bool) -> None:
        if self._root is not None:
            self.window.settings.setValue(SETTINGS_PREFIX + self._root, bool(on))
        self._refresh()
        self.window.statusBar().showMessage(
            "Annotating blind: only your own work is shown"
            if on
            else "Everyone's annotations are shown",
            4000,
        )

    def _annotator_changed(self, _name: str) -> None:
        if self.active:
            self._refresh()

    def _refresh(self) -> None:
        browser = self.browser
        if browser.project is None:
            return
        current = browser.table.currentIndex()
        item_id = browser.model.item_id(current.row()) if current.isValid() else None
        browser.model.reload()
        row = None if item_id is None else browser.model.row_of(item_id)
        if row is not None:
            browser.table.setCurrentIndex(browser.model.index(row, max(1, current.column())))

    # -- item sets -----------------------------------------------------------------------------
    def fill_menu(self, menu) -> None:
        menu.clear()
        project = self.browser.project
        if project is None:
            menu.addAction("No project open").setEnabled(False)
            return
        second = menu.addAction("Needing a second opinion")
        second.triggered.connect(self.show_needing_second_opinion)
        menu.addSeparator()
        people = own_view.others(project.db, "")
        if not people:
            menu.addAction("Nobody has annotated yet").setEnabled(False)
        for person in people:
            action = menu.addAction(f"By {person}")
            action.triggered.connect(lambda _c=False, p=person: self.show_items_by(p))

    def show_items_by(self, person: str) -> list[int]:
        ids = own_view.items_by(self.browser.project.db, person)
        self._show(ids, f"{len(ids)} item(s) annotated by {person}")
        return ids

    def show_needing_second_opinion(self) -> list[int]:
        ids = own_view.needing_second_opinion(self.browser.project.db)
        self._show(ids, f"{len(ids)} item(s) annotated by one person only")
        return ids

    def _show(self, ids: list[int], message: str) -> None:
        self.browser.show_ids(ids)
        self.window.statusBar().showMessage(message, 6000)


def _truthy(value) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def install(window) -> BlindMode | None:
    browser = window.panels.get("browser")
    if browser is None:
        return None
    blind = BlindMode(window, browser)
    edit = window.menus.get("edit")
    if edit is not None:
        edit.addAction(blind.action)
    dataset = window.menus.get("dataset")
    if dataset is not None:
        menu = dataset.addMenu("Show items by annotator")
        menu.aboutToShow.connect(lambda: blind.fill_menu(menu))
    window.blind = blind
    install_gate(window)  # the name asked before the first edit of a shared project
    # the review queue of what several annotators disagree on (Dataset menu)
    from qbi_desktop.gui.docks import disagreements

    window.panels["disagreements"] = disagreements.install(window)
    # calibration on simulated truth, labelled blind (Dataset > Calibrate Annotator)
    from qbi_desktop.gui import calibrate

    window.panels["calibrate"] = calibrate.install(window)
    return blind
