"""What the Browser repaints while suggestions come in and labels are typed: a new model
snapshot redraws the Suggested cells in view and nothing else, and a label key does not lay
the panel out again (its tab widget is not repainted); while the model's process reads
features after the first suggestions, it runs at a lower priority than the window. Real key
presses on the real window; scikit-learn's digits (and random images for a big project)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtGui import QRegion
from PySide6.QtWidgets import QApplication

try:
    from tests.gui_suggest_helpers import labelling_project, open_with_suggestions
except ImportError:  # pragma: no cover
    from gui_suggest_helpers import labelling_project, open_with_suggestions

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.gui.docks.browser_model import COL_LABEL, COL_SUGGESTED
from qbi_desktop.gui.docks.browser_suggest import CHILD_NICE

N, LABELLED = 300, 40


class Paints(QObject):
    """The regions painted on the widgets it watches, while it is on."""

    def __init__(self, *widgets):
        super().__init__()
        self.on = False
        self.regions: dict[QObject, list[QRegion]] = {w: [] for w in widgets}
        for w in widgets:
            w.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt API)
        if self.on and event.type() == QEvent.Type.Paint:
            self.regions[watched].append(QRegion(event.region()))
        return False


@pytest.fixture
def labelling(qtbot, main_window, tmp_path):
    root, ids, _truth = labelling_project(tmp_path, N, LABELLED)
    panel, suggest = open_with_suggestions(qtbot, main_window, root, store_classes=True)
    return main_window, panel, suggest, ids


def _settled(qtbot, window) -> None:
    """No task running or about to (thumbnails read, the model's update done) and every
    paint delivered."""
    model = window.panels["browser"].model
    for _ in range(3):
        qtbot.waitUntil(
            lambda: not window.tasks.active() and not model._thumb_timer.isActive(),
            timeout=30000,
        )
        qtbot.wait(50)


def test_a_new_model_snapshot_repaints_only_the_cells_showing_suggestions(qtbot, labelling):
    window, panel, suggest, ids = labelling
    table = panel.table
    row = panel.model.row_of(ids[LABELLED + 5])
    table.setCurrentIndex(panel.model.index(row, 1))
    viewport = table.viewport()
    # the suggestion shows in the Label column (and in the Suggested one, after the name)
    x = table.columnViewportPosition(COL_LABEL)
    assert 0 <= x and x + table.columnWidth(COL_LABEL) <= viewport.width()  # in view, docked
    column = QRegion()
    for shown_in in (COL_LABEL, COL_SUGGESTED):
        left, width = table.columnViewportPosition(shown_in), table.columnWidth(shown_in)
        column = column.united(QRegion(QRect(left, 0, width, viewport.height())))
    _settled(qtbot, window)
    paints = Paints(viewport)
    paints.on = True
    # a new snapshot from the model process: the other model's suggestions for every item
    suggest.model_actions["logistic"].trigger()
    qtbot.waitUntil(lambda: suggest.table.model == "logistic", timeout=30000)
    _settled(qtbot, window)
    paints.on = False
    painted = QRegion()
    for region in paints.regions[viewport]:
        painted = painted.united(region)
    assert not painted.isEmpty()  # the cells were drawn again, with the new model's words
    assert painted.subtracted(column).isEmpty(), (
        f"repainted {painted.boundingRect()} of the viewport, beyond the suggestions' columns "
        f"{column.boundingRect()}"
    )
    shown = panel.model.index(row, COL_SUGGESTED).data(Qt.ItemDataRole.ToolTipRole)
    assert "logistic regression" in shown


def test_label_keys_do_not_lay_the_panel_out_again(qtbot, labelling):
    window, panel, suggest, ids = labelling
    table = panel.table
    table.setCurrentIndex(panel.model.index(panel.model.row_of(ids[LABELLED]), 1))
    table.setFocus()
    _settled(qtbot, window)
    tab_bar = panel.tabs.tabBar()
    paints = Paints(tab_bar)
    paints.on = True
    for _ in range(8):
        item_id = panel.model.item_id(table.currentIndex().row())
        qtbot.keyClick(table, Qt.Key.Key_3)
        QApplication.processEvents()
        # the detail line follows the key: it names the next item, and the label was given
        current = panel.model.item_id(table.currentIndex().row())
        assert current != item_id and f"(id {current})" in panel.detail.text()
        assert panel.model.item(panel.model.row_of(item_id))["label"] == "3"
    qtbot.wait(400)  # the counter's refresh too (at most every 250 ms)
    _settled(qtbot, window)
    paints.on = False
    assert "48 / 300 labelled" in suggest.counter_text()
    # the detail line's and the counter's new text stayed in their own lines: no relayout
    # of the panel, whose tab widget then repaints the whole tab (tab bar, table frame,
    # header, scroll bars) at every key
    assert paints.regions[tab_bar] == []


def _nice(pid: int) -> tuple[int, int | None]:
    """A process's nice value and its autogroup's (None where the kernel has none)."""
    try:
        with open(f"/proc/{pid}/autogroup") as f:
            group = int(f.read().rsplit("nice", 1)[1])
    except (OSError, ValueError, IndexError):
        group = None
    return os.getpriority(os.PRIO_PROCESS, pid), group


def _autogroups() -> bool:
    """Whether the kernel groups processes by session for the scheduler (Linux autogroup)."""
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def test_the_model_process_reads_features_at_a_lower_priority_after_the_first_suggestions(
    qtbot, main_window, tmp_path
):
    """A big project: its features take minutes to read in the background, each key press
    must not wait behind that for a core. A small one, read at once, keeps full priority."""
    rng = np.random.default_rng(0)
    npz = tmp_path / "big.npz"
    np.savez(npz, x_train=rng.integers(0, 255, (60_000, 8, 8), np.uint8))
    root = tmp_path / "big"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "npz", [npz]))
        ids = project.ids()
        for c in range(3):
            project.set_label(ids[c:300:3], f"c{c}")
    panel = main_window.panels["browser"]
    suggest = panel.suggestions
    ours, _ = _nice(os.getpid())
    assert panel.open_project(root)
    qtbot.waitUntil(lambda: suggest.table is not None, timeout=60000)
    first = suggest.table
    assert first.pending > 0 and (first.suggested >= 0).any()  # shown before all are read
    pid = suggest.worker.pid
    # the first suggestions came at the priority the child started with; the reading after
    # them at a lower one
    qtbot.waitUntil(lambda: _nice(pid)[0] > ours, timeout=60000)
    nice, group = _nice(pid)
    assert nice == max(ours, CHILD_NICE)
    # Linux autogroup: the child leads a session of its own, and that session's share is what
    # the scheduler weighs against ours
    assert group == (CHILD_NICE if _autogroups() else None)
    # and it goes on reading and answering
    qtbot.waitUntil(lambda: suggest.table.pending < first.pending, timeout=60000)
    assert suggest.worker.pid == pid


def test_a_project_read_at_once_keeps_the_model_process_at_full_priority(qtbot, labelling):
    window, panel, suggest, ids = labelling
    updates = suggest.updates
    table = panel.table
    table.setCurrentIndex(panel.model.index(panel.model.row_of(ids[LABELLED]), 1))
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_3)  # a label: the model learns it in the background
    qtbot.waitUntil(lambda: suggest.updates > updates and not window.tasks.active(), timeout=30000)
    ours, _ = _nice(os.getpid())
    nice, group = _nice(suggest.worker.pid)
    # the child's own session has an autogroup of its own even where ours is the kernel's
    # root group (which /proc shows as nothing)
    assert (nice, group) == (ours, 0 if _autogroups() else None)
    assert suggest.suggestion_for(ids[LABELLED]) is None
