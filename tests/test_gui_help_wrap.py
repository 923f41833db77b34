"""Help > QBI Desktop Help wraps between words: a file name, an option or a key combination is
never broken over two lines (``--leave-out-`` / ``unlabelled``, ``Ctrl+S`` / ``hift+Z`` in the
shortcut table's narrow cells); a token longer than the line may scroll instead."""

from __future__ import annotations

import re

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QApplication

from qbi_desktop.gui.help import WORD_JOINER, ReadmeDialog

TOKEN_CHARS = re.compile(r"[\w+./\\-]")  # characters of a name, an option, a key combination


def _lines(browser) -> list[tuple[str, str]]:
    """Each place where a block of the shown text continues on a next line: (before, after)."""
    cuts = []
    block = browser.document().begin()
    while block.isValid():
        layout, text = block.layout(), block.text()
        for i in range(1, layout.lineCount()):
            start = layout.lineAt(i).textStart()
            cuts.append((text[:start].replace(WORD_JOINER, ""), text[start:]))
        block = block.next()
    return cuts


def _shown_whole(browser, token: str) -> bool:
    """``token`` shows on one line wherever it occurs."""
    for before, after in _lines(browser):
        tail = before[-len(token) :]
        for k in range(1, len(token)):
            if tail.endswith(token[:k]) and after.replace(WORD_JOINER, "").startswith(token[k:]):
                return False
    return True


def test_help_never_breaks_a_token_over_two_lines(qtbot, main_window):
    dialog = ReadmeDialog(main_window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    text = dialog.browser.toPlainText()
    # the guide and its shortcut table name these (the table from the window's own actions)
    for token in ("--leave-out-unlabelled", "Ctrl+Shift+Z", "qbi-desktop"):
        assert token in text, token
    for width in (520, 640, 820, 1000):
        dialog.resize(QSize(width, 680))
        QApplication.processEvents()
        cuts = _lines(dialog.browser)
        assert cuts  # the text does wrap at this width
        inside = [
            (before[-20:], after[:20])
            for before, after in cuts
            if before
            and not before[-1].isspace()
            and TOKEN_CHARS.match(before[-1])
            and after
            and TOKEN_CHARS.match(after[0])
        ]
        assert not inside, (width, inside[:5])
        for token in ("--leave-out-unlabelled", "Ctrl+Shift+Z", "Ctrl+Y"):
            assert _shown_whole(dialog.browser, token), (width, token)
    dialog.close()


def test_help_text_copied_is_the_text_shown(qtbot, main_window):
    """What keeps tokens whole is invisible and stays out of a copy: an option copied from the
    help runs in a terminal."""
    dialog = ReadmeDialog(main_window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    browser = dialog.browser
    browser.selectAll()
    browser.copy()
    copied = QApplication.clipboard().text()
    # (emptied again: data left on the offscreen platform's clipboard made the interpreter
    # crash at its exit, after the last test)
    QApplication.clipboard().clear()
    assert "--leave-out-unlabelled" in copied
    assert WORD_JOINER not in copied
    dialog.close()
