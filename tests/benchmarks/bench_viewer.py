"""Viewer figures of the foundation issue, with napari and a plain pyqtgraph ImageView side by side.

Run: ``.venv/bin/python tests/benchmarks/bench_viewer.py [--quick] [--no-napari] [--no-big]``.
It re-runs itself under Xvfb when there is no display (napari needs an OpenGL context, so all
three viewers are measured on the same X server). Files are written to a scratch folder and read
once before timing, so every "open" is from the page cache, as the issue specifies.

Figures printed (medians):
  * open-to-first-frame, 600^2, 2048^2, 4096^2 uint16 TIFF: ours, pyqtgraph ImageView fed
    row-major data (its fast path) and with its defaults, napari; interleaved rounds, load
    recorded, quiet and (--load) under two busy processes; per-round ratios
  * 16384^2 uint16 uncompressed: first frame, resident memory growth
  * 16384^2 uint16 LZW tiled: first tiles shown, overview complete, vs tifffile.imread alone
  * 4 GB uint16 stack: first frame, slice step
  * pan/zoom re-render at several zoom levels on 16384^2
  * cold start to a usable window with the demo loaded
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _ensure_display() -> None:
    if os.environ.get("DISPLAY") or os.environ.get("QBI_BENCH_UNDER_XVFB"):
        return
    if shutil.which("xvfb-run") is None:
        sys.exit("bench_viewer needs a display or xvfb-run (apt-get install xvfb)")
    env = dict(os.environ, QBI_BENCH_UNDER_XVFB="1", QT_QPA_PLATFORM="xcb")
    command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv]
    sys.exit(subprocess.call(command, env=env))


def median_ms(values) -> str:
    return f"{statistics.median(values) * 1000:8.1f} ms"


def rss_bytes() -> dict[str, int]:
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS", "RssAnon", "RssFile")):
                key, value = line.split(":")
                fields[key] = int(value.split()[0]) * 1024
    return fields


def warm(path: Path) -> None:
    with open(path, "rb") as stream:
        while stream.read(64 * 1024**2):
            pass


def make_radiograph(size: int, seed: int = 0) -> np.ndarray:
    from qbi_desktop.core.simulate import SimulationParams, simulate_radiograph

    return simulate_radiograph(SimulationParams(height=size, width=size), seed=seed).image


def big_image(size: int) -> np.ndarray:
    """A 16384^2 radiograph-like image built by tiling a simulated 2048^2 one (fast to make)."""
    tile = make_radiograph(2048, seed=1)
    reps = -(-size // 2048)
    return np.tile(tile, (reps, reps))[:size, :size]


class Harness:
    def __init__(self):
        import pyqtgraph as pg
        from PySide6.QtWidgets import QApplication

        os.environ.setdefault("QBI_DESKTOP_HOME", tempfile.mkdtemp(prefix="qbi-bench-home-"))
        self.app = QApplication.instance() or QApplication([])
        pg.setConfigOptions(imageAxisOrder="row-major")
        from qbi_desktop.gui.main_window import MainWindow

        self.window = MainWindow()
        self.window.resize(1400, 900)
        self.window.show()
        self.process(0.3)

    def process(self, seconds: float = 0.0) -> None:
        end = time.perf_counter() + seconds
        self.app.processEvents()
        while time.perf_counter() < end:
            self.app.processEvents()

    def open_until_drawn(self, path: Path) -> float:
        """Time from File > Open to the end of the canvas's first paint of the new image.

        Waits in a real event loop (a busy processEvents() loop would hold the GIL and slow the
        worker thread down); an event filter sees the canvas paint once the plane is set.
        """
        from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer

        window = self.window
        loop = QEventLoop()
        previous = window.current

        painted_at: list[float] = []

        class FirstPaint(QObject):
            def eventFilter(self, _obj, event):  # noqa: N802 - Qt naming
                shown = window.current is not None and window.current is not previous
                if event.type() == QEvent.Type.Paint and shown and not painted_at:
                    # Timed after the paint has been drawn (the event loop, or a small image
                    # opened in the GUI thread that painted before open_file returned).
                    QTimer.singleShot(0, lambda: painted_at.append(time.perf_counter()))
                    QTimer.singleShot(0, loop.quit)
                return False

        watch = FirstPaint()
        viewport = window.canvas.viewport()
        viewport.installEventFilter(watch)
        start = time.perf_counter()
        window.open_file(path)
        loop.exec()
        elapsed = painted_at[0] - start
        viewport.removeEventFilter(watch)
        return elapsed

    def wait_task(self, task) -> None:
        from PySide6.QtCore import QEventLoop

        if task is None or task.finished:
            return
        loop = QEventLoop()
        task.ended.connect(loop.quit)
        if not task.finished:
            loop.exec()

    def close_all(self) -> None:
        while self.window.documents:
            self.window.close_current()
        self.window.tasks.cancel_all()
        self.window.tasks.wait(10000)
        self.process(0.05)


def _first_paint_timer(h: Harness, viewport, show: Callable[[], object]) -> float:
    """Seconds from ``show()`` (queued into the event loop, as a click would be) to the end of
    the first paint of ``viewport`` after it."""
    from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer

    loop = QEventLoop()
    painted_at: list[float] = []

    class FirstPaint(QObject):
        def eventFilter(self, _obj, event):  # noqa: N802 - Qt naming
            if event.type() == QEvent.Type.Paint and not painted_at:
                QTimer.singleShot(0, lambda: painted_at.append(time.perf_counter()))
                QTimer.singleShot(0, loop.quit)
            return False

    watch = FirstPaint()
    viewport.installEventFilter(watch)
    start = time.perf_counter()
    QTimer.singleShot(0, show)
    loop.exec()
    viewport.removeEventFilter(watch)
    return painted_at[0] - start


class NapariPeer:
    """napari's viewer.open of the same file, timed to the end of its canvas render."""

    def __init__(self, h: Harness):
        import napari

        self.h = h
        self.viewer = napari.Viewer(show=False)
        self.canvas = self.viewer.window._qt_viewer.canvas
        self.viewer.window._qt_window.resize(1400, 900)

    def open(self, path: Path) -> float:
        start = time.perf_counter()
        layers = self.viewer.open(str(path), plugin="napari")
        self.h.app.processEvents()
        native = self.canvas.native
        native.repaint() if hasattr(native, "repaint") else None
        if hasattr(self.canvas, "_scene_canvas"):
            self.canvas._scene_canvas.render()
        elapsed = time.perf_counter() - start
        for layer in layers:
            self.viewer.layers.remove(layer)
        self.h.process(0.02)
        return elapsed

    def close(self) -> None:
        self.viewer.close()


def bench_open(
    h: Harness, folder: Path, sizes: list[int], runs: int, with_napari: bool, load: int
) -> None:
    """Open a uint16 TIFF to its first drawn frame: QBI, pyqtgraph ImageView fed row-major data
    (its fast path), ImageView with its defaults (column-major: it transposes), napari;
    interleaved rounds, the same file, page cache warm."""
    import pyqtgraph as pg
    import tifffile
    from sidebyside import SideBySide, busy

    views = {}
    for order in ("row-major", "col-major"):
        pg.setConfigOptions(imageAxisOrder=order)
        view = pg.ImageView()
        view.resize(1100, 800)
        view.show()
        views[order] = view
    pg.setConfigOptions(imageAxisOrder="row-major")
    h.process(0.2)
    napari_peer = None
    if with_napari:
        try:
            napari_peer = NapariPeer(h)
        except ImportError as exc:
            print(f"  napari not installed ({exc}); skipped (pip install napari[pyqt6] to compare)")

    def qbi(path: Path) -> float:
        seconds = h.open_until_drawn(path)
        h.close_all()
        return seconds

    def imageview(order: str, path: Path) -> float:
        view = views[order]

        def show() -> None:
            # pyqtgraph reads the axis order from its global options in setImage: the defaults
            # peer sees "col-major" (pyqtgraph's default), QBI's windows keep "row-major".
            pg.setConfigOptions(imageAxisOrder=order)
            try:
                view.setImage(tifffile.imread(path))
            finally:
                pg.setConfigOptions(imageAxisOrder="row-major")

        seconds = _first_paint_timer(h, view.ui.graphicsView.viewport(), show)
        view.clear()
        h.process(0.02)
        return seconds

    base = make_radiograph(2048)
    try:
        for size in sizes:
            image = np.tile(base, (-(-size // 2048),) * 2)[:size, :size]
            path = folder / f"radiograph_{size}.tif"
            tifffile.imwrite(path, image)
            warm(path)
            workloads = {
                "QBI Desktop": lambda p=path: qbi(p),
                "pyqtgraph ImageView row-major": lambda p=path: imageview("row-major", p),
                "pyqtgraph ImageView defaults": lambda p=path: imageview("col-major", p),
            }
            if napari_peer is not None:
                workloads["napari viewer.open"] = lambda p=path: napari_peer.open(p)
            where = f"{load} added busy processes" if load else "no added load"
            s = SideBySide(f"Open {size}x{size} uint16 TIFF to first drawn frame ({where})")
            with busy(load):
                s.run(workloads, rounds=runs, warmup=1, timer=lambda f: f())
            s.summary()
            s.ratio(
                "QBI Desktop",
                "pyqtgraph ImageView row-major",
                "QBI / ImageView row-major",
                "<= 1.0",
            )
            s.ratio("QBI Desktop", "pyqtgraph ImageView defaults", "QBI / ImageView defaults")
            if napari_peer is not None:
                s.ratio("QBI Desktop", "napari viewer.open", "QBI / napari")
    finally:
        for view in views.values():
            view.close()
        if napari_peer is not None:
            napari_peer.close()


def bench_big(h: Harness, folder: Path, size: int) -> None:
    import tifffile

    from qbi_desktop.gui.canvas import ImageCanvas  # noqa: F401 - import cost not in the timing

    image = big_image(size)
    path = folder / f"big_{size}.tif"
    tifffile.imwrite(path, image)
    lzw_path = folder / f"big_{size}_lzw_tiled.tif"
    tifffile.imwrite(lzw_path, image, compression="lzw", tile=(512, 512), maxworkers=2)
    del image
    warm(path)
    warm(lzw_path)

    print(f"\n{size}x{size} uint16, uncompressed ({path.stat().st_size / 1e6:.0f} MB)")
    before = rss_bytes()
    first = h.open_until_drawn(path)
    after = rss_bytes()
    print(f"  first frame             {first * 1000:8.1f} ms")
    print(
        f"  resident growth         {(after['VmRSS'] - before['VmRSS']) / 1e6:8.1f} MB "
        f"(anonymous {(after['RssAnon'] - before['RssAnon']) / 1e6:.1f} MB, "
        f"file pages {(after['RssFile'] - before['RssFile']) / 1e6:.1f} MB)"
    )
    task = h.window._pyramid_task
    start = time.perf_counter()
    h.wait_task(task)
    if task is not None:
        print(
            f"  overview pyramid built  {(time.perf_counter() - start) * 1000:8.1f} ms later "
            "(background)"
        )
    h.process(2.5)  # the window drops mapped pages 1.5 s after its last task
    settled = rss_bytes()
    print(
        f"  resident growth settled {(settled['VmRSS'] - before['VmRSS']) / 1e6:8.1f} MB "
        f"(file pages {(settled['RssFile'] - before['RssFile']) / 1e6:.1f} MB; "
        "bench_memory.py compares napari)"
    )
    bench_pan_zoom(h)
    h.close_all()

    print(
        f"\n{size}x{size} uint16, LZW, 512x512 tiles, no pyramid in file "
        f"({lzw_path.stat().st_size / 1e6:.0f} MB)"
    )
    from sidebyside import SideBySide

    stages: dict[str, list[float]] = {"shows": [], "first tiles": []}

    def reference() -> float:
        start = time.perf_counter()
        tifffile.imread(lzw_path)
        return time.perf_counter() - start

    def ours() -> float:
        first_tiles: list[float] = []
        window = h.window

        def first_region(progress) -> None:
            if progress.detail and not first_tiles:
                window.canvas.viewport().repaint()
                first_tiles.append(time.perf_counter())

        start = time.perf_counter()
        stages["shows"].append(h.open_until_drawn(lzw_path))
        task = window._decode_task
        task.progress.connect(first_region)
        h.wait_task(task)
        window.canvas.viewport().repaint()
        complete = time.perf_counter() - start
        if first_tiles:
            stages["first tiles"].append(first_tiles[0] - start)
        h.close_all()
        return complete

    # alternating rounds, so that the ratio compares times taken under the same load
    s = SideBySide(f"{size}^2 LZW tiled: overview complete against tifffile.imread alone")
    s.run(
        {"QBI overview complete": ours, "tifffile.imread alone": reference},
        rounds=2,
        warmup=0,
        timer=lambda f: f(),  # each returns its own time (ours: before closing the window)
    )
    print(f"  window shows the image  {median_ms(stages['shows'])} (tiles fill in as decoded)")
    if stages["first tiles"]:
        print(f"  first tiles drawn       {median_ms(stages['first tiles'])}")
    s.summary()
    s.ratio("QBI overview complete", "tifffile.imread alone", "QBI / tifffile.imread alone")


def bench_pan_zoom(h: Harness) -> None:
    from PySide6.QtCore import QRectF

    canvas = h.window.canvas
    plane = canvas.plane
    results = []
    width_px = canvas.view.width()
    height_px = canvas.view.height()
    for scale in (0.0625, 0.125, 0.25, 0.5, 1.0, 4.0):
        w, h_ = width_px / scale, height_px / scale
        times = []
        for i in range(12):
            cx = plane.width * (0.3 + 0.03 * i)
            cy = plane.height * (0.35 + 0.025 * i)
            start = time.perf_counter()
            canvas.view.setRange(QRectF(cx - w / 2, cy - h_ / 2, w, h_), padding=0)
            canvas.update_detail()
            canvas.viewport().repaint()
            times.append(time.perf_counter() - start)
        results.append((scale, times))
    print("  pan/zoom re-render (set view, read what is visible, draw):")
    for scale, times in results:
        print(
            f"    zoom {scale * 100:6.1f} %      {median_ms(times)}   "
            f"max {max(times) * 1000:.1f} ms"
        )


def bench_stack(h: Harness, folder: Path, gigabytes: float) -> None:
    import tifffile

    slice_image = make_radiograph(2048, seed=3)
    count = int(gigabytes * 1024**3 // slice_image.nbytes)
    path = folder / "stack.tif"
    with tifffile.TiffWriter(path, bigtiff=True) as writer:
        for index in range(count):
            writer.write(np.roll(slice_image, index * 7, axis=1), contiguous=True, metadata=None)
    print(
        f"\nStack {count} x 2048 x 2048 uint16 ({path.stat().st_size / 1e9:.2f} GB), "
        "page cache warm"
    )
    warm(path)
    first = h.open_until_drawn(path)
    print(f"  first frame             {first * 1000:8.1f} ms")
    steps = []
    window = h.window
    for index in range(1, min(count, 40)):
        start = time.perf_counter()
        window.go_to_slice(index * (count // 40 or 1))
        window.canvas.viewport().repaint()
        steps.append(time.perf_counter() - start)
    print(f"  slice step              {median_ms(steps)}   max {max(steps) * 1000:.1f} ms")
    h.close_all()
    path.unlink()


def bench_cold_start(runs: int) -> None:
    home = tempfile.mkdtemp(prefix="qbi-bench-cold-")
    env = dict(os.environ, QBI_DESKTOP_HOME=home, QBI_DESKTOP_REPORT_READY="1")
    times = []
    for attempt in range(runs + 1):
        start = time.time()
        out = subprocess.run(
            [sys.executable, "-m", "qbi_desktop", "--demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        ready = [float(line.split()[1]) for line in out.splitlines() if line.startswith("ready ")]
        if not ready:
            print("  cold start: the app did not report ready")
            return
        if attempt == 0:
            first_ever = ready[0] - start
        else:
            times.append(ready[0] - start)
    print("\nCold start to a usable window with the demo drawn (new process)")
    print(f"  very first start (simulates and caches the demo) {first_ever * 1000:8.1f} ms")
    print(f"  later starts            {median_ms(times)}   (n={runs})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--quick", action="store_true", help="fewer runs, 8192^2 instead of 16384^2, 1 GB stack"
    )
    parser.add_argument("--no-napari", action="store_true")
    parser.add_argument("--no-big", action="store_true")
    parser.add_argument("--open-sizes", default="600,2048,4096", help="sizes of the open test")
    parser.add_argument(
        "--load", action="store_true", help="repeat the open test under 2 busy processes"
    )
    parser.add_argument("--open-only", action="store_true", help="only the open test")
    args = parser.parse_args()
    _ensure_display()
    runs = 3 if args.quick else 7
    folder = Path(tempfile.mkdtemp(prefix="qbi-bench-viewer-"))
    try:
        h = Harness()
        sizes = [int(s) for s in args.open_sizes.split(",")]
        for load in (0, 2) if args.load else (0,):
            bench_open(h, folder, sizes, max(5, runs), not args.no_napari, load)
        if args.open_only:
            return
        if not args.no_big:
            bench_big(h, folder, 8192 if args.quick else 16384)
            bench_stack(h, folder, 1.0 if args.quick else 4.0)
        h.window.close()
        bench_cold_start(2 if args.quick else 5)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
