"""The Annotate dock's crash recovery: offer a pending journal (recover / discard, or answered
by ``annotate/auto_recover`` or ``QBI_ANNOTATE_AUTO_RECOVER``), report journal failures, and at
start-up tell the user what a killed run left (:mod:`qbi_desktop.core.annotation.leftovers`)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QMessageBox,
)

from qbi_desktop.core.annotation.leftovers import Leftovers, clean_leftovers_job, has_candidates
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui.annotate.session import MaskSession

log = logging.getLogger("qbi_desktop")

AUTO_RECOVER_ENV = "QBI_ANNOTATE_AUTO_RECOVER"


class RecoveryMixin:
    """Part of :class:`~qbi_desktop.gui.docks.annotate.AnnotatePanel`: recovery of journals."""

    # -- recovery ---------------------------------------------------------------------------------
    def _auto_recover(self) -> str:
        answer = os.environ.get(AUTO_RECOVER_ENV) or self.settings.value(
            "annotate/auto_recover", ""
        )
        return str(answer or "").strip().lower()

    def _offer_recovery(self, session: MaskSession) -> None:
        info = session.recovery
        answer = self._auto_recover()
        if answer == "recover":
            self.recover(session)
            return
        if answer == "discard":
            self.discard_recovery(session)
            return
        if session.store is not None:
            name = session.store.describe()
        else:
            name = session.image_path.name if session.image_path else "this image"
        text = (
            f"Unsaved work was found for {name}"
            f": {info.describe()} from {info.created}, kept in {info.path}.\n\n"
            "Recover it (the mask as after the last completed stroke) or discard it?"
        )
        if info.problems:
            text += "\n\nNote: " + "\n".join(info.problems)
        box = QMessageBox(
            QMessageBox.Icon.Question, "Recover unsaved mask", text, parent=self.window
        )
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(recover)
        box.setModal(False)
        recover.clicked.connect(lambda: self.recover(session))
        discard.clicked.connect(lambda: self.discard_recovery(session))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.recovery_box = box
        box.show()

    def recover(self, session: MaskSession | None = None) -> list[str]:
        """Replay the session's pending journal into its mask; returns what could not be."""
        session = session or self.session
        if session is None or session.recovery is None:
            return []
        try:
            problems = session.recover()
        except UserFacingError as e:
            self.window.report_error(str(e))
            return [str(e)]
        for p in problems:
            self.window.report_error(p)
        self.window.statusBar().showMessage("Recovered the unsaved strokes", 8000)
        if session is self.session:
            self._show_session(self._key, session)
        return problems

    def discard_recovery(self, session: MaskSession | None = None) -> None:
        session = session or self.session
        if session is None:
            return
        session.discard_recovery()
        self._update_status()

    def _journal_error(self, message: str) -> None:
        self.window.report_error(message)

    def check_leftovers(self):
        """At start: clean what a killed run left (unfinished mask files, journal copies) and
        tell the user which images still have unsaved strokes (offered when opened). Nothing
        is started (None) when the recovery folder holds nothing to look at."""
        if not has_candidates():
            self.leftovers, self.leftovers_task = Leftovers(), None
            return None

        def done(result: Leftovers) -> None:
            self.leftovers = result
            text = result.message()
            if not text:
                return
            log.warning(text)
            self.window.statusBar().showMessage(text.split("\n")[0], 15000)
            box = QMessageBox(
                QMessageBox.Icon.Information,
                "Unsaved work from an earlier run",
                text,
                parent=self.window,
            )
            # each image once; a NeXus/HDF5 file's journal opens the dataset its strokes are on
            images = list(
                dict.fromkeys(
                    (u.image, u.dataset)
                    for u in result.unsaved
                    if u.image
                    and not u.journal.name.startswith("project-")
                    and Path(u.image).is_file()
                )
            )
            if images:
                button = box.addButton("Open these images", QMessageBox.ButtonRole.AcceptRole)
                button.clicked.connect(lambda: self._open_leftover_images(images))
            box.addButton(QMessageBox.StandardButton.Close)
            box.setModal(False)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.leftovers_box = box
            box.show()

        self.leftovers_task = self.window.tasks.submit(
            "Look for unsaved masks", clean_leftovers_job, on_result=done, on_error=log.warning
        )
        return self.leftovers_task

    def _open_leftover_images(self, images: list[tuple[str, str | None]]) -> None:
        radiography = self.window.panels.get("radiography")
        for image, dataset in images:
            if dataset and radiography is not None:
                radiography.open_nexus(image, dataset)
            else:
                self.window.open_file(image)
