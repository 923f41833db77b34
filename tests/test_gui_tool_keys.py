"""A tool's key selects the tool and pressed again keeps it (W pressed on the Box tool turned it
off and the next drag drew nothing, without a word; B on the brush made the next stroke pan);
Esc goes back to Navigate. The status bar always names the tool of the left button and says
what a drag does, and the tool buttons agree."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from qbi_desktop.gui.docks.annotate import TOOL_KEYS, TOOL_TITLES
from tests.conftest import open_and_wait


def _viewport_pos(canvas, x: float, y: float):
    scene = canvas.view.mapViewToScene(QPointF(x, y))
    return canvas.viewportTransform().map(scene).toPoint()


def _drag(qtbot, canvas, start, end, steps: int = 6) -> None:
    vp = canvas.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=_viewport_pos(canvas, *start))
    for i in range(1, steps + 1):
        t = i / steps
        qtbot.mouseMove(
            vp,
            _viewport_pos(
                canvas, start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t
            ),
        )
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=_viewport_pos(canvas, *end))


@pytest.fixture
def image_window(qtbot, main_window, tmp_path):
    image = tmp_path / "radiograph.png"
    pixels = np.random.default_rng(3).integers(0, 255, (120, 160), dtype=np.uint8)
    Image.fromarray(pixels).save(image)
    open_and_wait(qtbot, main_window, image)
    main_window.canvas.fit()
    QApplication.processEvents()
    return main_window


def _press(qtbot, window, key: str) -> None:
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, key)


def _checked(panel) -> list:
    return [t for t, b in panel.tool_buttons.items() if b.isChecked()]


@pytest.mark.parametrize("tool", list(TOOL_KEYS))
def test_a_tool_key_twice_keeps_the_tool_and_esc_goes_back_to_navigate(qtbot, image_window, tool):
    window = image_window
    panel = window.panels["annotate"]
    bar = window.statusBar()
    assert window.tool_label.text() == "Tool: Navigate"
    key, title = TOOL_KEYS[tool], TOOL_TITLES[tool]

    _press(qtbot, window, key)
    assert panel.controller.tool == tool
    assert _checked(panel) == [tool]
    assert window.tool_label.text() == f"Tool: {title} ({key})"
    assert bar.currentMessage().startswith(f"{title} tool: a ")  # what a drag does now
    assert "Esc: Navigate" in bar.currentMessage()
    assert window.tool_label.isVisible()

    _press(qtbot, window, key)  # again: the tool stays
    assert panel.controller.tool == tool and _checked(panel) == [tool]
    assert window.tool_label.text() == f"Tool: {title} ({key})"

    qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    assert panel.controller.tool is None
    assert _checked(panel) == [None]
    assert window.tool_label.text() == "Tool: Navigate"
    message = bar.currentMessage()
    assert "a drag pans the image" in message
    assert f"The {title} tool is off ({key} selects it again)" in message

    # the next drag pans the image: it does something, and what it does was said
    before = window.canvas.view.viewRange()
    _drag(qtbot, window.canvas, (100, 60), (60, 40))
    QApplication.processEvents()
    assert window.canvas.view.viewRange() != before


def test_the_box_key_pressed_twice_still_draws_and_the_buttons_follow_every_key(
    qtbot, image_window
):
    window = image_window
    panel = window.panels["annotate"]
    boxes = panel.boxes
    _press(qtbot, window, "W")
    _press(qtbot, window, "B")  # another tool's key switches straight to it
    assert panel.controller.tool == "brush" and _checked(panel) == ["brush"]
    assert window.tool_label.text() == "Tool: Brush (B)"
    _press(qtbot, window, "W")
    _press(qtbot, window, "W")
    assert window.tool_label.text() == "Tool: Box (W)"
    before = window.canvas.view.viewRange()
    _drag(qtbot, window.canvas, (20, 20), (60, 50))
    QApplication.processEvents()
    assert window.canvas.view.viewRange() == before  # the drag drew, it did not pan
    assert boxes.session is not None and (boxes.session.boxes or boxes.pending is not None)
