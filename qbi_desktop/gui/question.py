"""A question whose safe answer is the default: a window-modal box with one action and a
refusal (Cancel or Close), answered later through a callback, never blocking the event loop."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def ask(
    parent: QWidget,
    title: str,
    text: str,
    action: str,
    on_action: Callable[[], object],
    on_refusal: Callable[[], object] | None = None,
    *,
    keep: Callable[[QMessageBox | None], object] = lambda _box: None,
    icon: QMessageBox.Icon = QMessageBox.Icon.Question,
    refusal: QMessageBox.StandardButton = QMessageBox.StandardButton.Cancel,
) -> QMessageBox:
    """Show ``text`` with a button ``action`` and the ``refusal`` button, which is the default
    (Enter does nothing harmful); call ``on_action`` or ``on_refusal`` with the answer.
    ``keep(box)`` is told the box while it is open and ``keep(None)`` once it is answered (a
    panel keeps it to be found, by tests and by a second request)."""
    box = QMessageBox(icon, title, text, refusal, parent)
    button = box.addButton(action, QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(refusal)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def answered(_result: int) -> None:
        keep(None)
        if box.clickedButton() is button:
            on_action()
        elif on_refusal is not None:
            on_refusal()

    box.finished.connect(answered)
    keep(box)
    box.open()  # window-modal, not blocking: the answer arrives through finished
    return box
