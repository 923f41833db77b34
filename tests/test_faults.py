"""Issue 17 fault tests: kill -9 mid-job (a full disk and read-only folders:
test_faults_disk.py).

A real subprocess runs the real job (``tests/hostile/kill_driver.py``) and SIGKILLs itself at
a seeded point (after N progress steps, or N ms into the job); then the next start (the same
CLI command again, the app opening the image again) must leave nothing behind (no orphan
masks, no temporary or ``.partial`` files, no hidden export folders, no decode files) and lose
no completed stroke.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.annotate_process_helpers import child_env as _env
from tests.annotate_process_helpers import script_window
from tests.faults_helpers import (
    N_ITEMS,
    REPO,
    cli,
    coco_source,
    import_coco,
    imported_project,
    item_count,
    leftovers,
)
from tests.hostile.make_corpus import gray8, tiff_bytes, write_png

SEED = 17


def _killed(home: Path, when: str, *job: str) -> str:
    """Run the job under the kill driver: 'killed', or 'finished' if it ended first."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.hostile.kill_driver", when, *map(str, job)],
        cwd=REPO,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode == -signal.SIGKILL:
        return "killed"
    assert done.returncode == 0, done.stderr[-2000:]
    return "finished"


def _counts(home: Path, *job: str) -> dict[str, int]:
    """How many progress steps, fsyncs, renames and files opened for writing the job has."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.hostile.kill_driver", "count", *map(str, job)],
        cwd=REPO,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _kill_point(counts: dict[str, int], index: int, salt: str) -> str:
    """The index-th seeded kill point of a job: at its first progress step, then inside its
    writes (after the n-th file it opens for writing, fsyncs or renames), n drawn with a seed."""
    rng = random.Random(f"{SEED}-{salt}")
    points = ["step:1"]
    for key in ("open", "open", "fsync", "replace", "open", "open"):
        if counts.get(key, 0) > 1:
            points.append(f"{key}:{rng.randint(1, counts[key] - 1)}")
    if index >= len(points):
        pytest.skip(f"the job has only {len(points)} distinct kill points ({counts})")
    return points[index]


KILLS = range(4)


# -- kill -9 --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def coco_src(tmp_path_factory) -> Path:
    return coco_source(tmp_path_factory.mktemp("coco"))


@pytest.fixture(scope="module")
def import_counts(tmp_path_factory, coco_src) -> dict[str, int]:
    root = tmp_path_factory.mktemp("count-import")
    return _counts(root / "home", "import", root / "p", "coco", coco_src.parent, coco_src)


@pytest.mark.parametrize("index", KILLS)
def test_kill_9_during_import_then_the_same_import_leaves_nothing_behind(
    tmp_path, coco_src, import_counts, index
):
    home, project = tmp_path / "home", tmp_path / "project"
    when = _kill_point(import_counts, index, "import")
    job = ("import", project, "coco", coco_src.parent, coco_src)
    assert _killed(home, when, *job) == "killed", when
    again = import_coco(home, project, coco_src)
    assert again.returncode == 0, (when, again.stderr[-2000:])
    assert "Traceback" not in again.stderr
    assert item_count(project) == N_ITEMS, when  # all there, none twice
    assert leftovers(project) == [], when


@pytest.fixture(scope="module")
def imported(tmp_path_factory, coco_src) -> Path:
    return imported_project(tmp_path_factory, coco_src)


@pytest.fixture(scope="module")
def export_counts(tmp_path_factory, imported) -> dict[str, dict[str, int]]:
    root = tmp_path_factory.mktemp("count-export")
    return {
        kind: _counts(root / "home", "export", imported, kind, root / kind)
        for kind in ("coco", "imagefolder")
    }


@pytest.mark.parametrize("kind", ["coco", "imagefolder"])
@pytest.mark.parametrize("index", KILLS)
def test_kill_9_during_export_then_the_same_export_completes_and_cleans(
    tmp_path, imported, export_counts, index, kind
):
    home, out = tmp_path / "home", tmp_path / "out"
    when = _kill_point(export_counts[kind], index, f"export-{kind}")
    assert _killed(home, when, "export", imported, kind, out) == "killed", when
    again = cli(home, "export", "--project", imported, "--kind", kind, "--out", out)
    assert "Traceback" not in again.stderr, again.stderr[-2000:]
    # the same command completes the export (or finds it complete: the kill came after)
    assert again.returncode == 0 or "not empty" in again.stderr, (when, again.stderr[-2000:])
    hidden = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert hidden == [], f"{when}: hidden export folders left beside the output"
    images = [p for p in out.rglob("*.png")]
    assert len(images) == N_ITEMS, when
    if kind == "coco":
        doc = json.loads(next(out.rglob("*.json")).read_text())
        assert len(doc["images"]) == N_ITEMS


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("zip") / "shots.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for i in range(N_ITEMS):
            img = gray8(i, (96, 96))
            buf = tmp_path_factory.getbasetemp() / "one.png"
            write_png(buf, img)
            z.write(buf, f"shots/{'ab'[i % 2]}/im{i:03d}.png")
    return path


@pytest.fixture(scope="module")
def archive_counts(tmp_path_factory, archive) -> dict[str, int]:
    root = tmp_path_factory.mktemp("count-archive")
    return _counts(root / "home", "import", root / "p", "imagefolder", "-", archive)


@pytest.mark.parametrize("index", KILLS)
def test_kill_9_during_archive_extraction_then_the_same_import_leaves_nothing_behind(
    tmp_path, archive, archive_counts, index
):
    home, project = tmp_path / "home", tmp_path / "project"
    when = _kill_point(archive_counts, index, "archive")
    assert _killed(home, when, "import", project, "imagefolder", "-", archive) == "killed", when
    again = cli(home, "import", "--project", project, "--kind", "imagefolder", archive)
    assert again.returncode == 0, (when, again.stderr[-2000:])
    assert item_count(project) == N_ITEMS, when
    assert leftovers(project) == [], when
    assert len(list((project / "sources").iterdir())) == 1, when  # one extraction, no stray copy


def test_kill_9_during_decode_leaves_no_decode_file_in_the_cache(tmp_path):
    """Viewer open of a compressed TIFF whose plane (288 MB) decodes into a scratch file."""
    import zlib

    raw = bytearray(256 * 256 * 2)
    raw[:2048] = np.random.default_rng(SEED).integers(0, 256, 2048, dtype=np.uint8).tobytes()
    tile = zlib.compress(bytes(raw), 1)  # ~2 KB: an honest ratio, each tile stored apart
    n = (-(-12000 // 256)) ** 2
    image = tmp_path / "big.tif"
    image.write_bytes(
        tiff_bytes(
            [
                (256, 4, [12000]),
                (257, 4, [12000]),
                (258, 3, [16]),
                (259, 3, [8]),
                (262, 3, [1]),
                (277, 3, [1]),
                (322, 4, [256]),
                (323, 4, [256]),
                (324, 4, [8 + i * len(tile) for i in range(n)]),
                (325, 4, [len(tile)] * n),
            ],
            tile * n,
        )
    )
    home = tmp_path / "home"
    assert _killed(home, "step:5", "decode", image) == "killed"
    assert _killed(home, "step:1000000", "decode", image) == "finished"  # the next open works
    cache = home / "cache"
    left = [p.name for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert not [n for n in left if n.startswith("decoded-")], left


# -- kill -9 during a mask save and after "Save Mask As..." (the real window) ---------------------
PAINT = (
    r"""
import json, os, sys, time
import pyqtgraph as pg
pg.setConfigOption("mouseRateLimit", -1)
from PySide6.QtWidgets import QApplication
mode, image, other, out = sys.argv[1:5]
app = QApplication([])
from qbi_desktop.gui.main_window import MainWindow
"""
    + script_window(1200, 900, 40)
    + r"""
task = window.open_file(image)
wait(lambda: task.finished)
wait(lambda: panel.session is not None and panel.session.ready)

def stroke(y, x):
    # the editor the canvas tools drive: one completed stroke, journaled on end_stroke
    ed = panel.session.editor
    ed.begin_stroke(1)
    ed.line(y, x, y, x + 12, 2.0)
    ed.end_stroke()
    app.processEvents()

if mode == "recover":
    wait(lambda: not window.tasks.active())
    assert panel.save_to(out), window.last_error
    print("saved", flush=True); sys.exit(0)
for y in (5, 15):
    stroke(y, 5)
if mode == "saveas":
    assert panel.save_to(other), window.last_error   # Save Mask As... under another name
    for y in (25, 35):
        stroke(y, 5)
    print("ready", panel.session.journal.n_strokes, flush=True)
    while True:
        app.processEvents(); time.sleep(0.01)
if mode == "saving":
    print("ready", flush=True)
    while True:   # save again and again until killed: the kill lands inside a save
        stroke(45, 5)
        panel.save_to(other)
"""
)


def _painter(tmp_path: Path, mode: str, home: Path, kill_after_s: float) -> None:
    script = tmp_path / "paint.py"
    script.write_text(PAINT)
    image = tmp_path / "img.tif"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(script),
            mode,
            str(image),
            str(tmp_path / "other.mask.tif"),
            str(tmp_path / "out.tif"),
        ],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        line = ""
        deadline = time.time() + 90
        while time.time() < deadline and not line.startswith("ready"):
            line = proc.stdout.readline()
            if not line:
                break
        assert line.startswith("ready"), proc.stderr.read()[-3000:]
        time.sleep(kill_after_s)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _recover(tmp_path: Path, home: Path) -> np.ndarray:
    from qbi_desktop.core.maskio import load_mask

    env = _env(home)
    env["QBI_ANNOTATE_AUTO_RECOVER"] = "recover"
    done = subprocess.run(
        [
            sys.executable,
            str(tmp_path / "paint.py"),
            "recover",
            str(tmp_path / "img.tif"),
            str(tmp_path / "other.mask.tif"),
            str(tmp_path / "out.tif"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0 and "saved" in done.stdout, done.stderr[-3000:]
    return load_mask(tmp_path / "out.tif", (64, 64))


def _image(tmp_path: Path) -> None:
    import tifffile

    tifffile.imwrite(
        tmp_path / "img.tif", (np.arange(64 * 64) % 977).reshape(64, 64).astype(np.uint16)
    )


def test_kill_9_after_save_as_loses_no_stroke_painted_after_it(tmp_path):
    """Class 2: strokes painted after "Save Mask As..." are offered after a crash."""
    _image(tmp_path)
    home = tmp_path / "home"
    _painter(tmp_path, "saveas", home, 0.2)
    mask = _recover(tmp_path, home)
    for y in (5, 15, 25, 35):  # the two strokes before the Save As and the two after it
        assert mask[y, 10] > 0, f"the stroke at row {y} is lost"


@pytest.mark.parametrize("delay", [random.Random(SEED + i).uniform(0.05, 0.6) for i in range(2)])
def test_kill_9_during_mask_save_leaves_no_temporary_file_and_loses_no_stroke(tmp_path, delay):
    _image(tmp_path)
    home = tmp_path / "home"
    _painter(tmp_path, "saving", home, delay)
    mask = _recover(tmp_path, home)  # the next start (its clean-up runs at start-up)
    for y in (5, 15):
        assert mask[y, 10] > 0, f"the stroke at row {y} is lost"
    left = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp") or ".tmp" in p.name]
    assert left == [], left
    from qbi_desktop.core.maskio import read_mask_file

    if (tmp_path / "other.mask.tif").exists():  # the file saved last is whole
        read_mask_file(tmp_path / "other.mask.tif")
