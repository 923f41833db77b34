"""Crashes around saving a mask, for real: a child process paints through the mask session (the
same object the Annotate dock drives), saves, and is killed with SIGKILL; then a fresh session
opens the image as the app does on the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.maskio import load_mask
from qbi_desktop.gui.annotate.session import MaskSession, prepare_job

REPO = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from qbi_desktop.core.jobs import run_job
    from qbi_desktop.gui.annotate.session import MaskSession, prepare_job

    mode, image_path, target = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    shape = tuple(int(v) for v in sys.argv[4].split("x"))
    image = np.random.default_rng(7).integers(0, 60000, shape, dtype=np.uint16)
    s = MaskSession(image, image_path)
    s.apply_prepared(run_job(prepare_job(image, image_path)))
    if mode == "save-as":
        s.editor.dab(10, 10, 4)          # painted, then saved under another name
        s.save(target)
        for y in (30, 50, 70):           # painted after the save: only in the journal
            s.editor.dab(y, 40, 3)
        np.save(sys.argv[5], s.mask)     # before "ready": the parent kills on that line
        print("ready", s.journal.n_strokes, flush=True)
        while True:
            time.sleep(0.1)
    if mode == "save-loop":              # saving over and over: killed mid-save at some point
        rng = np.random.default_rng(1)
        s.editor.replace_mask(rng.integers(0, 200, shape, dtype=np.uint8))
        print("saving", flush=True)
        while True:
            s.editor.dab(int(rng.integers(0, shape[0])), 5, 2, label=1)
            s.save(target)
    """
)


def _image(shape=(96, 120)) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 60000, shape, dtype=np.uint16)


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL


def _session(image, image_path) -> MaskSession:
    s = MaskSession(image, image_path)
    s.apply_prepared(run_job(prepare_job(image, image_path)))
    return s


def test_strokes_after_save_as_survive_kill_9_and_loading_that_mask(tmp_path, settings_dir):
    """17.2: strokes painted after "Save Mask As…" are offered after kill -9, and loading the
    saved-as mask file while they wait wipes nothing."""
    image_path = tmp_path / "data" / "scan.tif"
    image_path.parent.mkdir()
    target = tmp_path / "elsewhere" / "other.mask.tif"
    target.parent.mkdir()
    expected_file = tmp_path / "expected.npy"
    child = _start("save-as", str(image_path), str(target), "96x120", str(expected_file))
    try:
        line = child.stdout.readline()
        assert line.split() == ["ready", "3"], child.stderr.read()[-2000:]
        _kill(child)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    expected = np.load(expected_file)
    image = _image()
    saved = load_mask(target, image.shape)
    assert saved[10, 10] == 1 and not saved[30:71, 40].any()  # the file has only stroke 1

    session = _session(image, image_path)
    # the saved-as mask is the image's mask again, and the later strokes are offered
    assert session.mask_path == target
    assert session.recovery is not None and session.recovery.n_strokes == 3
    journal_bytes = session.recovery.path.read_bytes()
    with pytest.raises(UserFacingError, match="recovered or discarded first"):
        session.load(target)
    assert session.recovery.path.read_bytes() == journal_bytes
    session.recover()
    assert np.array_equal(session.mask, expected)
    assert session.modified  # recovered work is unsaved until saved
    # nothing was written beside the image or the saved mask
    assert list(image_path.parent.iterdir()) == []
    assert sorted(p.name for p in target.parent.iterdir()) == ["other.mask.tif"]


def test_loading_a_mask_file_keeps_unsaved_strokes_in_the_journal(tmp_path, settings_dir):
    """Loading a file over unsaved strokes is one undoable step; the journal still replays to
    what is shown, and a crash after it loses nothing that was shown."""
    image = _image()
    image_path = tmp_path / "scan.tif"
    other = tmp_path / "other.mask.tif"
    s = _session(image, image_path)
    s.editor.dab(20, 20, 4)
    s.save(other)
    s.editor.dab(60, 60, 4)  # unsaved
    unsaved = s.mask.copy()
    s.load(other)
    assert s.modified and s.journal.n_strokes == 2
    s.editor.undo()  # the load is undoable: the unsaved stroke comes back
    assert np.array_equal(s.mask, unsaved)
    s.journal.close()  # as by a crash
    again = _session(image, image_path)
    assert again.recovery is not None
    again.recover()
    assert np.array_equal(again.mask, unsaved)


def test_kill_9_during_mask_save_leaves_nothing_after_the_next_start(tmp_path, settings_dir):
    """17.9: a temporary mask file left by kill -9 in the middle of a save is removed at the
    next start, and the user is told; the journal's unsaved work is kept and reported."""
    image_path = tmp_path / "scan.tif"
    target = tmp_path / "masks" / "scan.mask.tif"
    target.parent.mkdir()
    shape = "1400x1400"  # a save takes long enough to be caught in the middle
    leftover = []
    for attempt in range(8):
        child = _start("save-loop", str(image_path), str(target), shape)
        try:
            assert child.stdout.readline().strip() == "saving", child.stderr.read()[-2000:]
            time.sleep(0.25 + 0.07 * attempt)
            _kill(child)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        leftover = [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]
        if leftover:
            break
    if not leftover:
        pytest.skip("the save was never caught mid-write in 8 tries")
    from qbi_desktop.core.annotation.leftovers import clean_leftovers

    result = clean_leftovers()
    assert [p for p in target.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert set(leftover) <= set(result.removed)
    assert "Removed" in result.message() and str(leftover[0]) in result.message()
    # the last complete save is intact
    assert load_mask(target, (1400, 1400)).shape == (1400, 1400)
    # a second start finds nothing more to say about files
    assert clean_leftovers().removed == []


def test_start_up_reports_unsaved_journals_and_removes_finished_ones(tmp_path, settings_dir):
    from qbi_desktop.core.annotation.leftovers import clean_leftovers

    image = _image()
    kept = _session(image, tmp_path / "a.tif")
    kept.editor.dab(20, 20, 4)
    kept.journal.close()  # a crash: the journal holds one stroke
    done = _session(_image((50, 50)), tmp_path / "b.tif")
    done.editor.dab(10, 10, 2)
    done.save(tmp_path / "b.mask.tif")
    done.journal.close()  # killed after saving: nothing unsaved in its journal
    live = _session(_image((40, 40)), tmp_path / "c.tif")
    live.editor.dab(5, 5, 2)  # another window still open: untouched
    result = clean_leftovers()
    assert [(Path(u.image).name, u.n_strokes) for u in result.unsaved] == [("a.tif", 1)]
    assert "a.tif (1 stroke(s))" in result.message()
    assert kept.journal.path.exists() and live.journal.path.exists()
    assert not done.journal.path.exists()
    live.editor.dab(8, 8, 2)
    assert live.journal.n_strokes == 2
