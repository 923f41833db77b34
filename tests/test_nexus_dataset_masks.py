"""Two image datasets of one NeXus/HDF5 file are two images: frame 1 of ``/entry/data/data`` and
frame 1 of ``/entry/instrument/detector/dark`` each keep their own saved mask (its file, its
saved-mask record) and their own crash journal. TIFFs and series have no dataset: the records
and journals older versions wrote are found as before. Real radiographs, a real HDF5 file
written here, the real Annotate panel with real tablet strokes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import tifffile
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

try:
    from tests.annotate_process_helpers import child_env as _env
    from tests.annotate_process_helpers import script_window
    from tests.conftest import RADIOGRAPHS, REPO, need
    from tests.test_gui_annotate import Pen
    from tests.test_gui_annotate_stack import _go_to, _open_stack
except ImportError:  # pragma: no cover - rootdir without package
    from annotate_process_helpers import child_env as _env
    from annotate_process_helpers import script_window
    from conftest import RADIOGRAPHS, REPO, need
    from test_gui_annotate import Pen
    from test_gui_annotate_stack import _go_to, _open_stack

from qbi_desktop.core.annotation import mask_index
from qbi_desktop.core.annotation.image_identity import ImageIdentity
from qbi_desktop.core.annotation.journal import Journal
from qbi_desktop.core.annotation.leftovers import clean_leftovers
from qbi_desktop.core.annotation.masks import MaskEditor
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.maskio import load_mask, save_mask
from qbi_desktop.core.paths import user_dir
from qbi_desktop.gui.annotate.session import MaskSession, prepare_job

DATA = "/entry/data/data"
DARK = "/entry/instrument/detector/dark"
# one stroke per dataset, in different places, so a mask shown on the wrong dataset is seen
STROKES = {DATA: [(200, 250), (240, 250), (240, 280)], DARK: [(300, 200), (300, 240)]}


def _nexus(path: Path, second: str = "dark") -> Path:
    """``/entry/data/data``: three real radiographs (edge20mm_0000..0002); ``/entry/instrument/
    detector/dark``: three frames of the real dark current (``second="dark"``) or a copy of the
    data frames (``"copy"``: the same pixels stored twice, as some writers do)."""
    frames = np.stack(
        [tifffile.imread(need(RADIOGRAPHS / f"edge20mm_000{i}.tif")) for i in range(3)]
    )
    if second == "dark":
        dc = tifffile.imread(need(RADIOGRAPHS / "dc.tif"))
        other = np.stack([dc, np.roll(dc, 5, axis=0), np.roll(dc, 9, axis=1)])
    else:
        other = frames.copy()
    with h5py.File(path, "w") as f:
        f.create_dataset(DATA, data=frames, chunks=(1, 600, 600))
        f.create_dataset(DARK, data=other, chunks=(1, 600, 600))
        f["/entry/data"].attrs["NX_class"] = "NXdata"
        f["/entry/data"].attrs["signal"] = "data"
    return path


def _paint(window, panel, points):
    panel.set_tool("brush")
    panel.controller.min_size = panel.controller.max_size = 12.0
    Pen(window).stroke(points, 0.6)
    QApplication.processEvents()


def _stroke_at(mask: np.ndarray, dataset: str) -> bool:
    """The mask holds this dataset's stroke (its first segment's pixels)."""
    (x0, y0), (x1, y1) = STROKES[dataset][:2]
    return bool(mask[min(y0, y1) : max(y0, y1) + 1, min(x0, x1) : max(x0, x1) + 1].all())


def test_frame_1_of_two_datasets_of_one_file_keep_their_own_masks(qtbot, main_window, tmp_path):
    window = main_window
    scan = _nexus(tmp_path / "scan.nxs")
    radiography = window.panels["radiography"]
    saved = {}
    for dataset in (DATA, DARK):
        panel = _open_stack(qtbot, window, lambda d=dataset: radiography.open_nexus(scan, d), 3)
        s1 = _go_to(qtbot, window, panel, 1)
        with h5py.File(scan, "r") as f:
            np.testing.assert_array_equal(s1.image, f[dataset][1])
        assert s1.dataset == dataset
        assert not s1.editor.mask.any()  # the other dataset's mask is not this one's
        _paint(window, panel, STROKES[dataset])
        assert _stroke_at(s1.editor.mask, dataset)
        target = s1.suggested_path()
        target.parent.mkdir(parents=True, exist_ok=True)  # as the save dialog would
        assert panel.save_to(target)
        saved[dataset] = (s1.editor.mask.copy(), target)
        window.close_current()
    # two files, named after their dataset; each one's record points to its own file
    assert saved[DATA][1].name == "scan.entry_data_data.s001.mask.tif"
    assert saved[DARK][1].name == "scan.entry_instrument_detector_dark.s001.mask.tif"
    for mask, target in saved.values():
        np.testing.assert_array_equal(load_mask(target, mask.shape) > 0, mask > 0)

    # each dataset opened again shows its own mask on frame 1, and none on frame 0
    for dataset, other in ((DATA, DARK), (DARK, DATA)):
        panel = _open_stack(qtbot, window, lambda d=dataset: radiography.open_nexus(scan, d), 3)
        again = _go_to(qtbot, window, panel, 1)
        assert again.mask_path == saved[dataset][1]
        np.testing.assert_array_equal(again.editor.mask > 0, saved[dataset][0] > 0)
        assert _stroke_at(again.editor.mask, dataset) and not _stroke_at(again.editor.mask, other)
        assert not _go_to(qtbot, window, panel, 0).editor.mask.any()
        window.close_current()
    # nothing was written beside the raw data
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["scan.nxs"]


SCRIPT = (
    r"""
import sys, time
import pyqtgraph as pg
pg.setConfigOption("mouseRateLimit", -1)
from PySide6.QtWidgets import QApplication
app = QApplication([])
sys.path.insert(0, sys.argv[3])
from qbi_desktop.gui.main_window import MainWindow
from tests.test_gui_annotate import Pen
from tests.test_nexus_dataset_masks import DARK, DATA, STROKES

mode, scan = sys.argv[1], sys.argv[2]
"""
    + script_window(1366, 768, 60)
    + r"""
for dataset in (DATA, DARK):
    task = window.panels["radiography"].open_nexus(scan, dataset)
    wait(lambda: task.finished and window.current is not None
         and window.current.source.metadata.get("dataset") == dataset)
    window.go_to_slice(1)
    wait(lambda: panel.session is not None and panel.session is panel.session_for(
        window.current, 1) and panel.session.ready)
    mask = panel.session.editor.mask
    if mode == "recover":
        (x0, y0), (x1, y1) = STROKES[DATA][:2]
        at_data = bool(mask[y0, x0:x1 + 1].all())
        (x0, y0), (x1, y1) = STROKES[DARK][:2]
        at_dark = bool(mask[y0:y1 + 1, x0].all())
        print(dataset, "recovered" if panel.session.unsaved_base else "clean", int(mask.sum()),
              "data-stroke" if at_data else "-", "dark-stroke" if at_dark else "-", flush=True)
        continue
    window.canvas.view.setRange(xRange=(150, 350), yRange=(150, 350), padding=0)
    app.processEvents()
    panel.set_tool("brush")
    panel.controller.min_size = panel.controller.max_size = 12.0
    Pen(window).stroke(STROKES[dataset], 0.6)
    app.processEvents()
    journal = panel.session.journal
    print(dataset, "painted", 0 if journal is None else journal.n_strokes, int(mask.sum()),
          flush=True)
if mode == "recover":
    sys.exit(0)
print("ready", flush=True)
while True:
    app.processEvents()
    time.sleep(0.01)
"""
)


def test_strokes_on_two_datasets_survive_kill_9_each_to_its_own_dataset(tmp_path, monkeypatch):
    """The second dataset holds the same pixels as the first (a copy): only the dataset tells
    their planes apart, so one journal each (not one shared, locked by the first)."""
    scan = _nexus(tmp_path / "scan.nxs", second="copy")
    home = tmp_path / "home"
    home.mkdir()
    script = tmp_path / "paint.py"
    script.write_text(SCRIPT)
    painter = subprocess.Popen(
        [sys.executable, str(script), "paint", str(scan), str(REPO)],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            line = painter.stdout.readline()
            if not line or line.startswith(("ready", "timeout")):
                break
            lines.append(line.split())
        assert line.startswith("ready"), (lines, line, painter.stderr.read()[-3000:])
        os.kill(painter.pid, signal.SIGKILL)
        assert painter.wait(10) == -signal.SIGKILL
    finally:
        if painter.poll() is None:
            painter.kill()
            painter.wait()
    painted = {words[0]: int(words[3]) for words in lines}
    assert [(w[0], w[1], w[2]) for w in lines] == [(DATA, "painted", "1"), (DARK, "painted", "1")]
    assert painted[DATA] > 300 and painted[DARK] > 300
    # what the next start reports: the file and the dataset of each journal
    monkeypatch.setenv("QBI_DESKTOP_HOME", str(home))
    left = clean_leftovers()
    assert sorted((Path(u.image).name, u.dataset, u.n_strokes) for u in left.unsaved) == [
        ("scan.nxs", DATA, 1),
        ("scan.nxs", DARK, 1),
    ]
    assert f"scan.nxs {DARK} (1 stroke(s))" in left.message()

    env = _env(home)
    env["QBI_ANNOTATE_AUTO_RECOVER"] = "recover"
    done = subprocess.run(
        [sys.executable, str(script), "recover", str(scan), str(REPO)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [
        f"{DATA} recovered {painted[DATA]} data-stroke -",
        f"{DARK} recovered {painted[DARK]} - dark-stroke",
    ], done.stdout


# -- what older versions wrote still loads --------------------------------------------------------
def _old_index(entries: dict[str, tuple[Path, str]]) -> None:
    """A saved-mask record as versions before datasets wrote it: ``<resolved path>#<plane>``."""
    record = {
        key: {"mask": str(mask), "content": content, "saved": "2026-01-01T00:00:00+00:00"}
        for key, (mask, content) in entries.items()
    }
    mask_index.index_path().write_text(json.dumps({"version": 1, "masks": record}))


def _old_journal_place(identity: ImageIdentity, image_path: Path, stem: str) -> Path:
    """Where versions before datasets put a plane's journal: ``<stem>-<content>-<path hash>``."""
    where = hashlib.blake2b(str(image_path.resolve()).encode(), digest_size=4).hexdigest()
    digest = identity.content_hash.split(":")[-1][:16]
    return user_dir("recovery") / f"{stem}-{digest}-{where}.journal"


def test_old_saved_mask_record_and_journal_of_a_tiff_still_load(settings_dir, tmp_path):
    image_path = tmp_path / "edge.tif"
    image = tifffile.imread(need(RADIOGRAPHS / "edge20mm_0000.tif"))
    tifffile.imwrite(image_path, image)
    identity = ImageIdentity.of(image, image_path)
    mask = np.zeros(image.shape, np.uint8)
    mask[100:120, 100:140] = 1
    (tmp_path / "masks").mkdir()
    saved = save_mask(tmp_path / "masks" / "edge.mask.tif", mask)
    _old_index({f"{image_path.resolve()}#0": (saved, identity.content_hash)})

    prepared = run_job(prepare_job(image, image_path))
    assert prepared.mask_path == saved
    np.testing.assert_array_equal(prepared.mask, mask)

    # a killed run's journal at the old place is this image's unsaved work
    old = _old_journal_place(identity, image_path, "edge")
    journal = Journal.open_at(old, identity)
    MaskEditor(image.shape, on_commit=journal).dab(300, 300, 6)
    journal.close()  # as by kill -9
    prepared = run_job(prepare_job(image, image_path))
    assert prepared.recovery is not None and prepared.recovery.path == old
    session = MaskSession(image, image_path)
    session.apply_prepared(prepared)
    session.recover()
    assert session.editor.mask[300, 300] and session.journal.path == old  # the same place
    session.save()
    # the record keeps the key it had: the plane's file and index, no dataset
    keys = json.loads(mask_index.index_path().read_text())["masks"]
    assert list(keys) == [f"{image_path.resolve()}#0"]
    session.close()


def test_old_record_of_a_nexus_plane_goes_only_to_the_dataset_it_was_made_on(
    settings_dir, tmp_path
):
    """Versions before datasets recorded a NeXus plane's mask without its dataset: the dataset
    whose pixels it was saved for still finds it; the other dataset's frame 1 does not."""
    scan = _nexus(tmp_path / "scan.nxs")
    with h5py.File(scan, "r") as f:
        data1, dark1 = f[DATA][1], f[DARK][1]
    ident = ImageIdentity.of(data1, scan)
    mask = np.zeros(data1.shape, np.uint8)
    mask[250, 200:241] = 1
    (tmp_path / "masks").mkdir()
    saved = save_mask(tmp_path / "masks" / "scan.s001.mask.tif", mask)
    _old_index({f"{scan.resolve()}#1": (saved, ident.content_hash)})

    found = run_job(prepare_job(data1, scan, 1, 3, DATA))
    assert found.mask_path == saved
    np.testing.assert_array_equal(found.mask, mask)
    other = run_job(prepare_job(dark1, scan, 1, 3, DARK))
    assert other.mask is None and other.mask_path is None

    # and an old journal of the data's frame 1 (named without the dataset) is recovered there
    old = _old_journal_place(ident, scan, "scan.s001")
    journal = Journal.open_at(old, ident)
    MaskEditor(data1.shape, on_commit=journal).dab(400, 400, 6)
    journal.close()
    pending = run_job(prepare_job(data1, scan, 1, 3, DATA))
    assert pending.recovery is not None and pending.recovery.path == old
    assert run_job(prepare_job(dark1, scan, 1, 3, DARK)).recovery is None


def test_next_start_opens_the_dataset_whose_strokes_a_killed_run_left(
    qtbot, settings_dir, tmp_path
):
    """Strokes left on frame 1 of the dark dataset: the start-up message names the dataset and
    "Open these images" opens that dataset (not the file's default one), where they are
    offered."""
    from qbi_desktop.gui.main_window import MainWindow

    scan = _nexus(tmp_path / "scan.nxs")
    with h5py.File(scan, "r") as f:
        dark1 = f[DARK][1]
    session = MaskSession(dark1, scan, 1, 3, dataset=DARK)
    session.apply_prepared(run_job(prepare_job(dark1, scan, 1, 3, DARK)))
    session.settle_identity()
    session.editor.dab(300, 220, 6)
    session.journal.close()  # as by kill -9: the journal stays with its stroke

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    panel = window.panels["annotate"]
    panel.unsaved_answer = "discard"
    qtbot.waitUntil(lambda: panel.leftovers_box is not None, timeout=10000)
    box = panel.leftovers_box
    assert f"scan.nxs {DARK} (1 stroke(s))" in box.text()
    button = next(b for b in box.buttons() if b.text() == "Open these images")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.current is not None, timeout=10000)
    assert window.current.source.metadata["dataset"] == DARK
    window.go_to_slice(1)

    def offered():
        s = panel.session_for(window.current, 1)
        return s is not None and s.recovery is not None

    qtbot.waitUntil(offered, timeout=10000)
    assert panel.session_for(window.current, 1).recovery.n_strokes == 1
    window.tasks.cancel_all()
    window.tasks.wait(5000)
    window.close()
