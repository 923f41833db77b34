"""Memory of a large image: the resident set before opening, at the first frame, and settled
(overview built, panels done), QBI Desktop and napari side by side on the same file.

Run: ``.venv/bin/python tests/benchmarks/bench_memory.py [--size 16384] [--runs 5] [--no-napari]``
(re-runs itself under Xvfb when there is no display: napari needs an OpenGL context). napari is
a peer, not a dependency: ``pip install napari`` to compare.

Each measurement is a new process (the window with all its panels, as the app starts it; napari's
``Viewer`` with the builtin reader), so one run's pages never count in another's. Figures are the
growth over the process's own resident set just before the open: ``VmRSS`` (everything,
file pages included), its anonymous and file parts (``RssAnon``, ``RssFile``) and the pages of
the image file's own mappings (``/proc/self/smaps``). Rounds alternate QBI and napari; medians,
min/max and the load average of each round are printed, and the ratio of the settled growth.
Goal (issue 18): QBI settled <= 300 MB, file pages included.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTLED_GOAL_MB = 300.0
MB = 1e6


def _ensure_display() -> None:
    if os.environ.get("DISPLAY") or os.environ.get("QBI_BENCH_UNDER_XVFB"):
        return
    if shutil.which("xvfb-run") is None:
        sys.exit("bench_memory needs a display or xvfb-run (apt-get install xvfb)")
    env = dict(os.environ, QBI_BENCH_UNDER_XVFB="1", QT_QPA_PLATFORM="xcb")
    command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv]
    sys.exit(subprocess.call(command, env=env))


def _snapshot(path: Path) -> dict[str, float]:
    sys.path.insert(0, str(HERE.parent))
    from resident import mapped_file_bytes, status_bytes

    figures = {k: v / MB for k, v in status_bytes().items()}
    figures["file map"] = mapped_file_bytes(path) / MB
    return figures


def _growth(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in after}


def _wait(app, seconds: float, until=None) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and not (until is not None and until()):
        app.processEvents()
        time.sleep(0.01)


def child_qbi(path: Path) -> dict:
    """The app's window (all panels), open ``path``, first frame, then settled."""
    os.environ.setdefault("QBI_DESKTOP_HOME", tempfile.mkdtemp(prefix="qbi-bench-mem-home-"))
    from qbi_desktop.gui.app import create_application
    from qbi_desktop.gui.main_window import MainWindow

    app = create_application()
    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    _wait(app, 1.0)
    before = _snapshot(path)
    start = time.perf_counter()
    window.open_file(path)
    # shown: the first frame is painted in show_document, the panels hear of it a pass later
    _wait(app, 120, lambda: window.current is not None)
    first_frame = time.perf_counter() - start
    first = _snapshot(path)
    document = window.current
    pyramid = document.pyramid() if document is not None else None
    _wait(app, 600, lambda: (pyramid is None or pyramid.complete) and not window.tasks.active())
    built = time.perf_counter() - start
    _wait(app, 3.0)  # the window's settle time (1.5 s) after its last task, and some
    settled = _snapshot(path)
    window.close()
    return {
        "first frame s": first_frame,
        "overview built s": built,
        "first": _growth(first, before),
        "settled": _growth(settled, before),
    }


def child_napari(path: Path) -> dict:
    """napari's viewer.open of ``path`` with its builtin reader, rendered, then settled."""
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    app = QApplication.instance()
    _wait(app, 1.0)
    before = _snapshot(path)
    start = time.perf_counter()
    viewer.open(str(path), plugin="napari")
    app.processEvents()
    canvas = viewer.window._qt_viewer.canvas
    getattr(canvas, "_scene_canvas", canvas).render()
    first_frame = time.perf_counter() - start
    first = _snapshot(path)
    _wait(app, 5.0)
    settled = _snapshot(path)
    viewer.close()
    return {
        "first frame s": first_frame,
        "first": _growth(first, before),
        "settled": _growth(settled, before),
    }


def run_child(kind: str, path: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(HERE.parents[1]))
    result = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = [x for x in result.stdout.splitlines() if x.startswith("{")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"{kind} run failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    return json.loads(lines[-1])


def make_file(folder: Path, size: int) -> Path:
    import numpy as np
    import tifffile

    from qbi_desktop.core.simulate import SimulationParams, simulate_radiograph

    tile = simulate_radiograph(SimulationParams(height=2048, width=2048), seed=1).image
    reps = -(-size // 2048)
    path = folder / f"radiograph_{size}.tif"
    tifffile.imwrite(path, np.tile(tile, (reps, reps))[:size, :size])
    return path


def _line(name: str, values: list[float]) -> str:
    import statistics

    v = sorted(values)
    return (
        f"  {name:34s} median {statistics.median(v):8.1f} MB "
        f"(min {v[0]:.1f}, max {v[-1]:.1f}, n={len(v)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-napari", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path = args.child
        figures = (child_qbi if kind == "qbi" else child_napari)(Path(path))
        print(json.dumps(figures), flush=True)
        return
    _ensure_display()
    sys.path.insert(0, str(HERE))
    from sidebyside import load_text

    peers = ["qbi"]
    if not args.no_napari:
        try:
            import napari  # noqa: F401 - only whether it is installed
        except ImportError:
            print("napari not installed: QBI only (pip install napari to compare)")
        else:
            peers.append("napari")
    names = {"qbi": "QBI Desktop", "napari": "napari"}
    folder = Path(tempfile.mkdtemp(prefix="qbi-bench-memory-"))
    try:
        path = make_file(folder, args.size)
        print(
            f"{args.size}x{args.size} uint16 TIFF, uncompressed, "
            f"{path.stat().st_size / MB:.0f} MB; {load_text()} at the start"
        )
        results: dict[str, list[dict]] = {p: [] for p in peers}
        loads = []
        for r in range(max(1, args.runs)):
            before = os.getloadavg()[0]
            order = peers[r % len(peers) :] + peers[: r % len(peers)]  # rotate each round
            for peer in order:
                results[peer].append(run_child(peer, path))
            loads.append((before, os.getloadavg()[0]))
        print(
            f"  measured in {len(loads)} alternating rounds under 1-min load "
            f"{min(b for b, _ in loads):.2f} .. {max(a for _, a in loads):.2f}"
        )
        for peer in peers:
            runs = results[peer]
            print(f"\n{names[peer]}: resident growth over the process before the open")
            for stage in ("first", "settled"):
                for key in ("VmRSS", "RssAnon", "RssFile", "file map"):
                    print(
                        _line(
                            f"{stage} frame {key}" if stage == "first" else f"settled {key}",
                            [run[stage][key] for run in runs],
                        )
                    )
            times = sorted(run["first frame s"] for run in runs)
            print(f"  first frame {times[len(times) // 2] * 1000:.0f} ms (median)")
        qbi = sorted(run["settled"]["VmRSS"] for run in results["qbi"])
        median = qbi[len(qbi) // 2]
        verdict = "ok" if median <= SETTLED_GOAL_MB else "OVER"
        print(f"\ngoal QBI settled <= {SETTLED_GOAL_MB:.0f} MB: {verdict} ({median:.0f} MB)")
        if "napari" in results:
            ratios = sorted(
                q["settled"]["VmRSS"] / max(n["settled"]["VmRSS"], 1e-9)
                for q, n in zip(results["qbi"], results["napari"], strict=True)
            )
            print(
                f"ratio QBI / napari settled VmRSS growth: {ratios[len(ratios) // 2]:.2f}x "
                f"(range {ratios[0]:.2f}..{ratios[-1]:.2f}, {len(ratios)} alternating rounds)"
            )
        print(f"{load_text()} at the end")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
