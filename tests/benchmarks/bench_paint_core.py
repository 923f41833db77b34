"""Benchmark the painting core: per-dab cost, a 200-dab stroke, undo, journal append, memory.

Run: .venv/bin/python tests/benchmarks/bench_paint_core.py
     .venv/bin/python tests/benchmarks/bench_paint_core.py --start   (open -> ready to paint at
     2048^2, 8192^2, 16384^2: quick start vs the previous hash-first start vs napari's Labels
     layer; interleaved, quiet and with two busy processes; goal <= 100 ms at any size)
"Dab" = the mask update of one brush dab (radius 8, consecutive dabs 2 px apart, as a pen
stroke) plus colouring the changed rectangle through the label LUT (the core half of the
overlay update the canvas does per dab).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from qbi_desktop.core.annotation.journal import ImageIdentity, Journal  # noqa: E402
from qbi_desktop.core.annotation.masks import MaskEditor  # noqa: E402
from qbi_desktop.core.labels import LabelTable  # noqa: E402


def _path(n: int, size: int, rng: np.random.Generator, step: float = 2.0):
    y, x = size / 2, size / 2
    pts = [(y, x)]
    ang = rng.uniform(0, 2 * np.pi)
    for _ in range(n - 1):
        ang += rng.normal(0, 0.2)
        y = float(np.clip(y + step * np.sin(ang), 0, size - 1))
        x = float(np.clip(x + step * np.cos(ang), 0, size - 1))
        pts.append((y, x))
    return pts


def per_dab(size: int, n: int = 2000) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    ed = MaskEditor((size, size))
    lut = LabelTable().lut(0.5)
    mask_t, total_t = [], []
    for s in range(n // 200):
        ed.begin_stroke(1 + s % 2)
        for y, x in _path(200, size, rng):
            t0 = time.perf_counter()
            rect = ed.dab(y, x, 8)
            t1 = time.perf_counter()
            if rect is not None:
                y0, y1, x0, x1 = rect
                _rgba = lut[ed.mask[y0:y1, x0:x1]]
            t2 = time.perf_counter()
            mask_t.append(t1 - t0)
            total_t.append(t2 - t0)
        ed.end_stroke()
    return statistics.median(mask_t) * 1e3, statistics.median(total_t) * 1e3


def stroke_200(size: int = 8192, journal: Journal | None = None) -> tuple[float, float, int]:
    rng = np.random.default_rng(1)
    ed = MaskEditor((size, size), on_commit=journal)
    pts = _path(201, size, rng, step=6.0)  # a fast stroke: 6 px between pen samples
    t0 = time.perf_counter()
    ed.begin_stroke(1)
    ed.dab(*pts[0], 8)
    for (ya, xa), (yb, xb) in zip(pts[:-1], pts[1:], strict=True):
        ed.line(ya, xa, yb, xb, 8)  # interpolated dabs, spacing <= radius / 2
    delta = ed.end_stroke()
    t1 = time.perf_counter()
    ed.undo()
    t2 = time.perf_counter()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3, delta.n


def journal_append(n: int = 60) -> float:
    image = np.zeros((2048, 2048), np.uint16)
    with tempfile.TemporaryDirectory() as d:
        j = Journal.open_for(ImageIdentity.of(image), Path(d) / "m.tif")
        ed = MaskEditor(image.shape)
        rng = np.random.default_rng(2)
        times = []
        for _ in range(n):
            ed.begin_stroke(1)
            y, x = rng.uniform(50, 2000, 2)
            for _ in range(10):
                ny, nx = y + rng.uniform(-4, 4), x + rng.uniform(-4, 4)
                ed.line(y, x, ny, nx, 3)
                y, x = ny, nx
            delta = ed.end_stroke()
            t0 = time.perf_counter()
            j.append(delta)
            times.append(time.perf_counter() - t0)
        j.discard()
    return statistics.median(times) * 1e3


def undo_memory_200() -> tuple[int, int]:
    ed = MaskEditor((2048, 2048))
    rng = np.random.default_rng(0)
    for _ in range(200):
        y, x = rng.uniform(20, 2028, 2)
        ed.begin_stroke(1)
        for _ in range(15):
            ny, nx = y + rng.uniform(-3, 3), x + rng.uniform(-3, 3)
            ed.line(y, x, ny, nx, 3)
            y, x = ny, nx
        ed.end_stroke()
    return ed.undo_bytes(), ed.undo_depth


# -- start painting: open a plane until the first stroke may begin ----------------------------


def _start_session(image: np.ndarray, path: Path, hash_first: bool):
    """Time from a new session to ``ready`` (what the Annotate dock waits for before the first
    stroke). ``hash_first``: the previous behaviour, the full hash before anything else."""
    import qbi_desktop.gui.annotate.prepare as prepare_module
    import qbi_desktop.gui.annotate.session as session_module
    from qbi_desktop.core.jobs import run_job

    allowed = prepare_module.quick_start_allowed
    if hash_first:
        prepare_module.quick_start_allowed = lambda *a, **k: False
    try:
        t0 = time.perf_counter()
        s = session_module.MaskSession(image, path)
        s.apply_prepared(run_job(session_module.prepare_job(image, path)))
        seconds = time.perf_counter() - t0
    finally:
        prepare_module.quick_start_allowed = allowed
    assert s.ready
    s.settle_identity()  # the background hash ends outside the timed part, before the next run
    s.close()
    return seconds


def _napari_labels(image: np.ndarray) -> float:
    import napari

    t0 = time.perf_counter()
    napari.layers.Labels(np.zeros(image.shape, np.uint8))
    return time.perf_counter() - t0


def start_painting(sizes=(2048, 8192, 16384), rounds: int = 5, n_busy: int = 2) -> None:
    """Open -> ready to paint, QBI (provisional identity, full hash in the background) side by
    side with the previous hash-first start and napari's Labels layer creation (if installed;
    ``pip install napari``, a benchmark-only peer). Interleaved rounds, quiet and loaded."""
    import os

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sidebyside import SideBySide, busy, load_text

    try:
        import napari  # noqa: F401

        has_napari = True
    except ImportError as e:
        has_napari = False
        print(f"napari not installed ({e}): its column is left out")
    print(f"start painting; start: {load_text()}")
    with tempfile.TemporaryDirectory() as home:
        os.environ["QBI_DESKTOP_HOME"] = home  # journals go to a scratch recovery folder
        for n in (0, n_busy):
            with busy(n):
                for size in sizes:
                    image = np.random.default_rng(0).integers(0, 60000, (size, size), np.uint16)
                    path = Path(home) / f"radiograph-{size}.tif"
                    sbs = SideBySide(f"open -> ready to paint, {size}^2 uint16, {n} busy processes")
                    # each workload returns its own time (the background hash is waited for
                    # after the timed part, so it never runs into the next workload)
                    timers = {
                        "QBI quick start": lambda i=image, p=path: _start_session(i, p, False),
                        "QBI hash first (before)": lambda i=image, p=path: _start_session(
                            i, p, True
                        ),
                    }
                    if has_napari:
                        timers["napari Labels layer"] = lambda i=image: _napari_labels(i)
                    sbs.run(timers, rounds=rounds, timer=lambda f: f())
                    sbs.summary()
                    sbs.ratio(
                        "QBI quick start",
                        "QBI hash first (before)",
                        "QBI quick / hash first",
                        goal="quick start <= 100 ms",
                    )
                    if has_napari:
                        sbs.ratio("QBI quick start", "napari Labels layer", "QBI quick / napari")
                    del image, timers


def main() -> None:
    if "--start" in sys.argv:
        start_painting()
        return
    for size in (2048, 8192):
        m, t = per_dab(size)
        print(f"dab r=8 on {size}^2: median {m:.3f} ms mask update, {t:.3f} ms incl. LUT colour")
    runs = [stroke_200() for _ in range(5)]
    print(
        f"200-dab stroke (r=8, 6 px apart, interpolated) on 8192^2: median "
        f"{statistics.median(r[0] for r in runs):.1f} ms end to end ({runs[0][2]} px changed); "
        f"undo {statistics.median(r[1] for r in runs):.2f} ms"
    )
    image = np.zeros((8192, 8192), np.uint8)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        iid = ImageIdentity.of(np.zeros((8192, 8192), np.uint16))
        t_hash = time.perf_counter() - t0
        j = Journal.open_for(iid, Path(d) / "m.tif")
        runs_j = [stroke_200(journal=j) for _ in range(3)]
        j.discard()
    del image
    print(
        f"  same stroke with the journal append (write + fdatasync) on commit: median "
        f"{statistics.median(r[0] for r in runs_j):.1f} ms"
    )
    print(f"image content hash (blake2b, 8192^2 uint16): {t_hash * 1e3:.0f} ms")
    print(f"journal append per spot-sized stroke: median {journal_append():.2f} ms")
    b, depth = undo_memory_200()
    print(f"undo history of {depth} spot-sized strokes: {b / 2**20:.3f} MB ({b} bytes)")


if __name__ == "__main__":
    main()
