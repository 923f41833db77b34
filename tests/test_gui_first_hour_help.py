"""What a first-time user reads and clicks first: Help > Keyboard Shortcuts says what every
panel key does, the empty window's hint names real menu entries, Open Demo says it is working."""

from __future__ import annotations

from PySide6.QtCore import Qt


def _shortcut_table(main_window) -> list[tuple[str, str, str]]:
    from qbi_desktop.gui.help import ShortcutsDialog

    help_menu = main_window.menus["help"]
    action = next(
        a for a in help_menu.actions() if a.text().replace("&", "") == "Keyboard Shortcuts"
    )
    action.trigger()
    dialog = next(d for d in main_window.findChildren(ShortcutsDialog) if d.isVisible())
    table = dialog.table
    rows = [tuple(table.item(r, c).text() for c in range(3)) for r in range(table.rowCount())]
    dialog.close()
    return rows


def _what(rows, where: str, key: str) -> str:
    found = [what for w, what, keys in rows if w == where and key in keys.split(", ")]
    assert len(found) == 1, (where, key, found)
    return found[0]


def test_every_panel_key_of_annotate_augment_and_browser_is_described(qtbot, main_window):
    rows = _shortcut_table(main_window)
    described = ("Annotate panel", "Augment panel", "Dataset Browser panel")
    vague = [r for r in rows if r[0] in described and r[1] == "(panel shortcut)"]
    assert not vague, vague
    annotate = "Annotate panel"
    assert "mask" in _what(rows, annotate, "V").lower()  # was listed as "Copy from previous item"
    assert "smaller" in _what(rows, annotate, "[").lower()
    assert "larger" in _what(rows, annotate, "]").lower()
    assert "next item" in _what(rows, annotate, "D").lower()
    assert "previous item" in _what(rows, annotate, "A").lower()
    assert "delete" in _what(rows, annotate, "Del").lower()
    assert "accept" in _what(rows, annotate, "Return").lower()
    assert "first class" in _what(rows, annotate, "0").lower()
    assert "re-roll" in _what(rows, "Augment panel", "R").lower()
    assert "notes" in _what(rows, "Dataset Browser panel", "N").lower()


def test_the_empty_window_hint_names_menu_entries_that_exist(qtbot, main_window):
    """The hint a first start shows sends the user to real menu entries (it said "File >
    Open Project…", which is in the Dataset menu)."""
    import re

    from PySide6.QtGui import QTextDocument

    doc = QTextDocument()
    doc.setHtml(main_window.canvas.empty_hint.text.text())
    text = doc.toPlainText()
    menus = {
        a.text().replace("&", ""): a.menu() for a in main_window.menuBar().actions() if a.menu()
    }
    paths = re.findall(r"\b([A-Z]\w+) > ([^,;\n]+)", text)
    assert len(paths) >= 3, text  # File > Open…, Help > …
    for menu_name, rest in paths:
        assert menu_name in menus, (menu_name, rest)
        entries = [a.text().replace("&", "") for a in menus[menu_name].actions() if a.text()]
        assert any(rest.startswith(entry) for entry in entries), (menu_name, rest, entries)


def test_open_demo_says_it_is_being_made_and_is_made_once(qtbot, main_window):
    """The first start makes the demo (seconds on a busy machine) under a hint that offered
    "Open Demo" all along: a new user clicked it again and got a second job."""
    hint = main_window.canvas.empty_hint
    qtbot.mouseClick(hint.demo_button, Qt.MouseButton.LeftButton)
    assert not hint.demo_button.isEnabled() and "Making" in hint.demo_button.text()
    qtbot.mouseClick(hint.demo_button, Qt.MouseButton.LeftButton)  # ignored while disabled
    main_window.open_demo()  # File > Open Demo while it runs: the same job
    made = [t for t in main_window.tasks.tasks if t.title == "Make demo radiographs"]
    assert len(made) == 1
    qtbot.waitUntil(lambda: main_window.current is not None, timeout=60000)
    assert not hint.isVisible()
    while main_window.documents:
        main_window.close_current()
    assert hint.isVisible()
    assert hint.demo_button.isEnabled() and hint.demo_button.text() == "Open Demo"


def test_the_simulate_panel_says_what_its_empty_preview_is_for(qtbot, main_window):
    """Before the first preview the panel showed a large black area and no word about it."""
    dock = next(d for d in main_window.docks.values() if d.windowTitle() == "Simulate")
    panel = main_window.panels["simulate"]
    dock.show()
    dock.raise_()
    qtbot.waitUntil(panel.status.isVisible)
    assert "Preview" in panel.status.text() and "truth" in panel.status.text()
    qtbot.mouseClick(panel.preview_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.status.text().startswith("Preview "), timeout=30000)
    assert panel.open_button.isEnabled()


def test_the_status_bar_progress_shows_a_long_task_title_on_one_line(qtbot, main_window):
    """'Baseline run 1: kNN k=3 L2 uniform on MNIST mnist' wrapped to two lines in the status
    bar's progress bar, the second cut off; now cut with '…', the whole title its tooltip."""
    import threading

    from qbi_desktop.core.jobs import Progress

    stop = threading.Event()

    def job():
        for i in range(600):
            if stop.is_set():
                return None
            yield Progress(i, 600, "comparing test rows")
            stop.wait(0.05)
        return None

    title = "Baseline run 1: kNN k=3 L2 uniform on MNIST mnist (70,000 items, 784 features)"
    main_window.tasks.submit(title, job)
    bar = main_window.task_bar
    try:
        qtbot.waitUntil(lambda: bar.isVisible() and bar.value() > 0, timeout=10000)
        shown = bar.text()
        assert shown.endswith("…") and title.startswith(shown[:-1])
        assert bar.fontMetrics().horizontalAdvance(shown) <= bar.width()
        assert bar.toolTip() == f"{title}: comparing test rows"
    finally:
        stop.set()
