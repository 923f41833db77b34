"""Review Disagreements: undoing a mask decision writes the mask back on a worker. The GUI
thread rewrote a 2048^2 mask's TIFF inside the Ctrl+Z (~100 ms); a second Ctrl+Z or a redo
pressed while the write runs is refused (said in the status line), never interleaved, and the
file on disk is the mask the stack says once the worker is done.

Real window, a real project with two annotators' 2048^2 masks; the catalog read back.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import tifffile
from PySide6.QtCore import Qt

from qbi_desktop.core.catalog import open_project

try:
    from tests.gui_disagreements_helpers import item_mask as _mask
    from tests.gui_disagreements_helpers import open_queue, two_annotator_project
except ImportError:  # pragma: no cover
    from gui_disagreements_helpers import item_mask as _mask
    from gui_disagreements_helpers import open_queue, two_annotator_project

SIZE = 2048


def _project(tmp_path: Path) -> tuple[Path, int, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    folder = tmp_path / "images" / "plate"
    folder.mkdir(parents=True)
    image = rng.integers(0, 60000, (SIZE, SIZE), dtype=np.uint16)
    tifffile.imwrite(folder / "big.tif", image)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    ada = ((yy - 1000) ** 2 + (xx - 900) ** 2 < 600**2).astype(np.uint8)
    bob = ((yy - 1040) ** 2 + (xx - 1000) ** 2 < 560**2).astype(np.uint8)
    bob[rng.random((SIZE, SIZE)) < 0.01] = 1  # a noisy edge: a TIFF that takes a while
    root, item = two_annotator_project(tmp_path, ada, bob)
    return root, item, ada, bob


def _key(qtbot, queue, key, modifier=Qt.KeyboardModifier.NoModifier) -> float:
    """Press ``key`` in the queue; the seconds the GUI thread spent on it."""
    queue.table.setFocus()
    start = time.perf_counter()
    qtbot.keyClick(queue.table, key, modifier)
    return time.perf_counter() - start


def test_undo_of_a_mask_decision_returns_at_once_and_writes_the_old_mask(
    qtbot, main_window, tmp_path
):
    root, item, ada, bob = _project(tmp_path)
    queue = open_queue(qtbot, main_window, root, timeout=30000)
    row = [(d.item, d.kind) for d in queue.shown()].index((item, "mask"))
    queue.table.setCurrentCell(row, 0)
    qtbot.waitUntil(lambda: queue.view.versions is not None, timeout=20000)

    by_bob, by_ada = (f"consensus of Ada, Bob by {p}'s version" for p in ("Bob", "Ada"))
    for key in (Qt.Key.Key_2, Qt.Key.Key_1):  # take Bob's, then Ada's: two decisions
        _key(qtbot, queue, key)
        qtbot.waitUntil(lambda: not queue.busy(), timeout=30000)
    assert _mask(root, item)[1] == by_ada

    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    spent, refused = [], 0
    steps = [(ctrl, bob, by_bob), (ctrl, ada, "Ada"), (ctrl | shift, bob, by_bob)]
    steps.append((ctrl | shift, ada, by_ada))
    for keys, expected, who in steps:
        spent.append(_key(qtbot, queue, Qt.Key.Key_Z, keys))
        assert queue.busy()  # the write goes on on a worker
        stack = (queue.undo_stack.undo_text(), queue.undo_stack.redo_text())
        # another undo or redo, or a new decision, meanwhile waits for the disk: refused
        for extra in (ctrl, ctrl | shift):
            _key(qtbot, queue, Qt.Key.Key_Z, extra)
            refused += "still being written" in queue.status.text()
        _key(qtbot, queue, Qt.Key.Key_2)
        assert (queue.undo_stack.undo_text(), queue.undo_stack.redo_text()) == stack
        qtbot.waitUntil(lambda: not queue.busy(), timeout=30000)
        mask, by = _mask(root, item)
        np.testing.assert_array_equal(mask, expected)
        assert by == who
    assert refused >= 4  # and said so
    # the GUI thread's part of Ctrl+Z / Ctrl+Shift+Z (the best of four: the machine is shared)
    assert min(spent) < 0.030, [f"{s * 1000:.0f} ms" for s in spent]
    with open_project(root) as project:  # one file per mask, none half-written
        stored = {p.name for p in (root / "masks").iterdir()}
        assert stored == {Path(project.db.execute("SELECT path FROM masks").fetchone()[0]).name}


def test_two_mask_decisions_are_undone_one_after_the_other(tmp_path):
    """Undoing the later decision writes the earlier result back as a new file; undoing the
    earlier one then was refused as 'changed since' (only its file name was compared)."""
    from qbi_desktop.core.quality.item_review import revert_mask, set_item_mask

    root, item, ada, bob = _project(tmp_path)
    with open_project(root) as project:
        first = set_item_mask(project, item, bob, "consensus of Ada, Bob by Bob's version", "1")
        second = set_item_mask(project, item, ada, "consensus of Ada, Bob by Ada's version", "2")
        assert revert_mask(project, second, "Cleo") is not None
        np.testing.assert_array_equal(project.mask(item), bob)
        back = revert_mask(project, first, "Cleo")
        assert back is not None
        np.testing.assert_array_equal(project.mask(item), ada)
        assert project.get(item)["mask"]["annotator"] == "Ada"
        # a mask edited since (another name or other labels) is still left alone
        set_item_mask(project, item, bob, "Dora", "3")
        assert revert_mask(project, back, "Cleo") is None
        np.testing.assert_array_equal(project.mask(item), bob)
