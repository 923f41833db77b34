"""Painting in the GUI: per dab and per stroke on 2048^2 and 8192^2, side by side with napari.

Ours, per dab, in a real ImageCanvas showing the image (view ~1:1 around the stroke):
core dab (mask + undo record) + recolour of the changed rectangle in the tiled overlay + the
repaint Qt does for it (``processEvents``: the scene repaints the dirty region, the overlay
tile draws its QImage). Then a 200-dab stroke end to end on 8192^2 through the real input path:
200 QTabletEvents sent to the viewport (coalesced per frame, joined with the core's line),
release, the journal append (write + fdatasync) and the last repaint.

napari (if installed: ``pip install napari`` — a benchmark-only peer, not a dependency; it needs
an OpenGL context: run under Xvfb), per dab: ``layer.paint(coord, 1)`` (which refreshes the
layer) and then the canvas render (``processEvents`` + ``_scene_canvas.render()``, which uploads
the texture and draws), with the same image shown under its labels layer. Same image sizes, same
brush (diameter 10), same dab positions. Undo is timed with its repaint on both sides.

The two sides run in interleaved rounds (``--rounds``, the order alternating), the load average
is recorded, and each ratio is the median (range) of per-round ratios (sidebyside.py).

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python tests/benchmarks/bench_paint_gui.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HOME = tempfile.mkdtemp(prefix="bench-paint-")
os.environ["QBI_DESKTOP_HOME"] = HOME  # journals go to a scratch folder

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QInputDevice, QPointingDevice, QTabletEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from sidebyside import SideBySide, load_text  # noqa: E402  (this folder)

pg.setConfigOption("mouseRateLimit", -1)
app = QApplication.instance() or QApplication(sys.argv)

from qbi_desktop.core.annotation.journal import ImageIdentity  # noqa: E402
from qbi_desktop.core.io import Plane  # noqa: E402
from qbi_desktop.gui.annotate.overlay import MaskOverlay  # noqa: E402
from qbi_desktop.gui.annotate.session import MaskSession  # noqa: E402
from qbi_desktop.gui.annotate.tools import PaintController  # noqa: E402
from qbi_desktop.gui.canvas import ImageCanvas  # noqa: E402

DIAMETER = 10
N_DABS = 200


def dab_positions(size: int) -> list[tuple[float, float]]:
    """200 dabs 2.5 px apart (a spot-sized brush stroke) near the image centre."""
    c = size / 2
    return [(c + 40 * np.sin(i / 25), c - 250 + 2.5 * i) for i in range(N_DABS)]


def image_of(size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(20000, 30000, (size, size), dtype=np.uint16)


def ours(size: int) -> dict[str, float]:
    image = image_of(size)
    canvas = ImageCanvas()
    canvas.resize(1200, 900)
    canvas.show()
    canvas.set_levels(20000, 30000)
    canvas.set_plane(Plane(image))
    overlay = MaskOverlay()
    canvas.view.addItem(overlay, ignoreBounds=True)
    session = MaskSession(image, None)
    session.identity = ImageIdentity.of(image)
    session._open_journal(overwrite=True)
    overlay.set_mask(session.editor.mask, session.labels)
    controller = PaintController(canvas, overlay, lambda: session)
    controller.set_tool("brush")
    controller.min_size = controller.max_size = DIAMETER
    c = size / 2
    canvas.view.setRange(xRange=(c - 600, c + 600), yRange=(c - 450, c + 450), padding=0)
    for _ in range(3):
        app.processEvents()
    pts = dab_positions(size)

    # per dab: core dab + overlay recolour of its rectangle + the repaint
    from qbi_desktop.gui.annotate import overlay as overlay_module

    paints = [0]
    tile_paint = overlay_module._Tile.paint

    def counting_paint(self, painter, option, widget=None):
        paints[0] += 1
        tile_paint(self, painter, option, widget)

    overlay_module._Tile.paint = counting_paint
    editor = session.editor
    times, core_times = [], []
    editor.begin_stroke(1)
    for y, x in pts:
        t0 = time.perf_counter()
        rect = editor.dab(y, x, DIAMETER / 2)
        t1 = time.perf_counter()
        overlay.update_rect(rect)
        app.processEvents()
        t2 = time.perf_counter()
        times.append(t2 - t0)
        core_times.append(t1 - t0)
    editor.end_stroke()
    overlay_module._Tile.paint = tile_paint
    assert paints[0] >= N_DABS, f"the overlay was drawn {paints[0]} times for {N_DABS} dabs"
    t0 = time.perf_counter()
    rect = editor.undo()
    if rect is not None:
        overlay.update_rect(rect)
    app.processEvents()  # the repaint of what the undo changed
    undo = time.perf_counter() - t0

    # a 200-dab stroke end to end through the real input path
    vp = canvas.viewport()
    device = QPointingDevice(
        "pen",
        7,
        QInputDevice.DeviceType.Stylus,
        QPointingDevice.PointerType.Pen,
        QInputDevice.Capability.Position | QInputDevice.Capability.Pressure,
        1,
        3,
    )

    def send(kind, y, x):
        pos = canvas.viewportTransform().map(canvas.view.mapViewToScene(QPointF(x + 30.5, y + 0.5)))
        buttons = (
            Qt.MouseButton.NoButton
            if kind == QEvent.Type.TabletRelease
            else Qt.MouseButton.LeftButton
        )
        ev = QTabletEvent(
            kind, device, pos, pos, 0.6, 0.0, 0.0, 0.0, 0.0, 0.0,
            Qt.KeyboardModifier.NoModifier, Qt.MouseButton.LeftButton, buttons,
        )  # fmt: skip
        QApplication.sendEvent(vp, ev)

    t0 = time.perf_counter()
    send(QEvent.Type.TabletPress, *pts[0])
    for y, x in pts[1:]:
        send(QEvent.Type.TabletMove, y, x)
        app.processEvents()  # the frame timer paints what has queued
    send(QEvent.Type.TabletRelease, *pts[-1])
    app.processEvents()
    stroke = time.perf_counter() - t0
    # (the journal counts what a replay restores: the undone stroke is taken back)
    assert editor.undo_depth == 1 and session.journal.n_strokes >= 1
    controller.detach()
    canvas.close()
    session.close()
    return {
        "dab_ms": 1000 * statistics.median(times),
        "dab_core_ms": 1000 * statistics.median(core_times),
        "stroke_s": stroke,
        "undo_ms": 1000 * undo,
        "rendered_px": overlay.rendered_pixels,
        "tile_paints": paints[0],
    }


def napari_side(size: int, shown: bool) -> dict[str, float] | str:
    """``shown``: a visible window, a frame = paint + processEvents (vispy draws on the widget);
    hidden: a frame = paint + ``_scene_canvas.render()`` (offscreen draw + read-back)."""
    try:
        import napari
    except ImportError as e:
        return f"napari not installed ({e})"
    try:
        viewer = napari.Viewer(show=shown)
        # the same image under the labels, as in ours (a labels layer alone draws less)
        viewer.add_image(image_of(size), contrast_limits=(20000, 30000))
        layer = viewer.add_labels(np.zeros((size, size), dtype=np.uint8))
        layer.brush_size = DIAMETER
        layer.selected_label = 1
        canvas = viewer.window._qt_viewer.canvas
        c = size / 2
        # napari >= 0.9 keeps the camera on viewer.scene (viewer.camera is deprecated there)
        scene = getattr(viewer, "scene", None)
        camera = scene.camera if scene is not None else viewer.camera
        camera.center = (c, c)
        camera.zoom = 1.0
        canvas._scene_canvas.render()
        for _ in range(5):
            app.processEvents()
        pts = dab_positions(size)
        paint, full = [], []
        for y, x in pts:
            t0 = time.perf_counter()
            layer.paint((y, x), 1)
            t1 = time.perf_counter()
            app.processEvents()
            if not shown:
                canvas._scene_canvas.render()
            t2 = time.perf_counter()
            paint.append(t1 - t0)
            full.append(t2 - t0)
        painted = int((np.asarray(layer.data) > 0).sum())
        t0 = time.perf_counter()
        layer.undo()  # napari's undo history groups a drag; here each paint() is one entry
        app.processEvents()
        if not shown:
            canvas._scene_canvas.render()
        undo = time.perf_counter() - t0
        viewer.close()
        return {
            "dab_ms": 1000 * statistics.median(full),
            "paint_only_ms": 1000 * statistics.median(paint),
            "painted_px": painted,
            "undo_ms": 1000 * undo,
        }
    except Exception as e:  # report why, do not hide it
        return f"napari failed: {type(e).__name__}: {e}"


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2048, 8192])
    a = ap.parse_args()
    print(
        f"Qt platform: {app.platformName()}, brush diameter {DIAMETER}, {N_DABS} dabs; "
        f"{load_text()}"
    )
    shown = app.platformName() != "offscreen"  # napari draws on a real window under Xvfb
    how = "window shown, paint + processEvents" if shown else "hidden, paint + render()"
    for size in a.sizes:
        sbs = SideBySide(
            f"{size}^2, per dab and undo (with repaint), {a.rounds} interleaved rounds"
        )
        undo = SideBySide(f"{size}^2 undo of the stroke, with its repaint")
        last: dict = {}
        for r in range(a.rounds):
            before = os.getloadavg()[0]
            sides = ["ours", "napari"] if r % 2 == 0 else ["napari", "ours"]
            for side in sides:
                res = ours(size) if side == "ours" else napari_side(size, shown)
                if isinstance(res, str):
                    last[side] = res
                    continue
                last[side] = res
                sbs.record(f"{side} per dab", r, res["dab_ms"] / 1000)
                undo.record(f"{side} undo", r, res["undo_ms"] / 1000)
            sbs.note_load(before)
        o = last.get("ours")
        print(
            f"\n{size}^2 ours (last round): core dab {o['dab_core_ms']:.3f} ms; overlay "
            f"recoloured {o['rendered_px']} px in total, overlay tiles drawn {o['tile_paints']} "
            f"times; 200-dab stroke end to end {o['stroke_s'] * 1000:.1f} ms"
        )
        n = last.get("napari")
        if isinstance(n, str):
            print(f"{size}^2 napari ({how}): {n}")
        elif n:
            print(
                f"{size}^2 napari ({how}, last round): layer.paint incl. refresh alone "
                f"{n['paint_only_ms']:.3f} ms"
            )
        sbs.summary()
        sbs.ratio("napari per dab", "ours per dab", "napari / ours per dab")
        undo.loads = sbs.loads
        undo.summary()
        undo.ratio("napari undo", "ours undo", "napari / ours undo with repaint")


if __name__ == "__main__":
    main()
