"""Long messages in one-line places: the status bar's temporary message is cut with "…" to the
room left of its permanent fields (the whole text in the tooltip), and a suggestion error with
a line break is one line in the Browser's footer."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QStatusTipEvent
from PySide6.QtWidgets import QLabel, QStatusBar

LONG = (
    "cannot split 8 items: The test_size = 2 should be greater or equal to the number of "
    "classes = 3 (1 of 9 items have no class label and were left out); raise Test fraction, "
    "label more items, or choose k-fold cross-validation in the Split list"
)


def _drawn(bar) -> str:
    """The text the status bar paints (QStatusBar's own, not what was asked to be said)."""
    return QStatusBar.currentMessage(bar)


def _fields_left(main_window) -> int:
    return min(w.x() for w in (main_window.tool_label, main_window.annotator_button))


def test_a_long_message_stops_before_the_tool_field_whole_in_the_tooltip(qtbot, main_window):
    main_window.resize(1366, 768)
    main_window.readout.setText("x 120  y 45   value 31245")
    qtbot.wait(50)
    bar = main_window.statusBar()
    bar.showMessage(LONG, 8000)
    drawn = _drawn(bar)
    assert drawn.endswith("…") and LONG.startswith(drawn[:-1])
    # it ends before "Tool: …", with a gap: no more running under the permanent fields
    assert 6 + bar.fontMetrics().horizontalAdvance(drawn) < _fields_left(main_window) - 4
    assert bar.toolTip() == LONG
    assert bar.currentMessage() == LONG  # what was said, for whoever asks
    # a wider window shows more of it; it still goes when its time is up
    main_window.resize(1900, 768)
    qtbot.waitUntil(lambda: len(_drawn(bar)) > len(drawn))
    bar.clearMessage()
    assert _drawn(bar) == "" and bar.toolTip() == ""


def test_a_message_that_fits_is_shown_whole_and_goes_on_time(qtbot, main_window):
    main_window.resize(1366, 768)
    bar = main_window.statusBar()
    bar.showMessage("Saved mask", 300)
    assert _drawn(bar) == "Saved mask" and bar.toolTip() == "Saved mask"
    main_window.resize(1300, 768)  # re-fitted on a resize, with the time it had left
    qtbot.waitUntil(lambda: _drawn(bar) == "", timeout=2000)
    assert bar.toolTip() == ""


def test_a_status_tip_and_a_line_break_are_fitted_too(qtbot, main_window):
    main_window.resize(1366, 768)
    bar = main_window.statusBar()
    # Qt shows an action's status tip itself (not through our showMessage): fitted all the same
    QCoreApplication.sendEvent(main_window, QStatusTipEvent(LONG))
    assert _drawn(bar).endswith("…") and bar.toolTip() == LONG
    bar.showMessage("first line\nsecond line", 5000)
    assert _drawn(bar) == "first line second line"
    assert bar.currentMessage() == "first line\nsecond line"


def test_a_suggestion_error_with_a_line_break_is_one_line_in_the_footer(
    qtbot, main_window, tmp_path
):
    from qbi_desktop.core.catalog import open_project

    open_project(tmp_path / "p", create=True).close()
    panel = main_window.panels["browser"]
    assert panel.open_project(tmp_path / "p")
    suggestions = panel.suggestions
    message = "the suggestions worker stopped:\nMemoryError: cannot allocate 2.1 GiB"
    suggestions._failed(suggestions.generation, message)  # what the task's on_error calls
    footer = suggestions.counter_detail
    drawn = QLabel.text(footer)  # the label's own text: what is painted
    assert "\n" not in drawn  # one line in its one-line holder: nothing printed over itself
    assert footer.text() == f"Suggestions: {' '.join(message.splitlines())}"
    assert footer.toolTip() == f"Suggestions: {message}"
    assert "MemoryError" in suggestions.counter_text()
