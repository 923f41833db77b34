"""Who is annotating: one name for the whole window, kept in the settings, shown in the status bar.

Every label, target, box, mask and review decision the window writes carries this name (the
catalog records it with each edit). The name is asked for once; the status bar button shows it
and switches it (Edit ▸ Annotator…). Panels read ``window.annotator.name`` when they write and
listen to ``changed`` if they show it.
"""

from __future__ import annotations

import getpass

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QInputDialog, QLineEdit, QPushButton

KEY = "annotator/name"
_LEGACY_KEY = "browser/annotator"  # where the Browser kept it before
MAX_LENGTH = 64


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some sandboxes
        return "annotator"


def clean_name(text: str) -> str:
    """The name as stored: one line, no surrounding blanks; refuses empty or over-long names."""
    name = " ".join(str(text).split())
    if not name:
        raise ValueError("an annotator name cannot be empty")
    if len(name) > MAX_LENGTH:
        raise ValueError(f"an annotator name has at most {MAX_LENGTH} characters")
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
        self.chosen = True
        self._settings.setValue(KEY, name)
        if name != self._name:
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
