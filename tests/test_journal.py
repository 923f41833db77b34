"""The crash-safe stroke journal: replay, truncation, damage, wrong image, rotation, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from qbi_desktop.core.annotation.journal import (
    ImageIdentity,
    Journal,
    JournalError,
    JournalMismatchError,
    RecoveryPendingError,
    read_header,
    replay,
    replay_full,
)
from qbi_desktop.core.annotation.masks import MaskEditor
from qbi_desktop.core.labels import LabelTable

REPO = Path(__file__).resolve().parents[1]


def _image(seed: int = 0, shape=(96, 128)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 60000, shape, dtype=np.uint16)


def _paint(ed: MaskEditor, n: int, seed: int = 5) -> list[np.ndarray]:
    """n random strokes; returns the mask after each one."""
    rng = np.random.default_rng(seed)
    h, w = ed.shape
    states = []
    for i in range(n):
        ed.begin_stroke(int(rng.integers(0, 4)) if i % 4 == 3 else 1 + i % 3)
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        for _ in range(6):
            ny, nx = y + rng.uniform(-12, 12), x + rng.uniform(-12, 12)
            ed.line(y, x, ny, nx, rng.uniform(1, 5))
            y, x = ny, nx
        ed.end_stroke()
        states.append(ed.mask.copy())
    return states


def test_replay_equals_the_mask_after_the_last_stroke_including_undo_redo(tmp_path):
    image = _image()
    iid = ImageIdentity.of(image, tmp_path / "img.tif")
    journal = Journal.open_for(iid, tmp_path / "img_mask.tif")
    ed = MaskEditor(image.shape, on_commit=journal.append)
    _paint(ed, 12)
    ed.undo()
    ed.undo()
    ed.redo()
    ed.fill_label(0, 0, label=2)
    ed.dab(10, 10, 3, label=400)  # promotes the mask to uint16 mid-journal
    journal.close()
    assert journal.path == tmp_path / "img_mask.tif.journal"
    mask, n, problems = replay(journal.path, ImageIdentity.of(image))  # path may differ
    assert problems == []
    # the count is what a replay restores (what the status bar shows): an undo takes one back
    assert n == journal.n_strokes == ed.undo_depth == 12 - 2 + 1 + 2
    assert mask.dtype == np.uint16
    np.testing.assert_array_equal(mask, ed.mask)


def test_journal_truncated_mid_record_recovers_the_intact_strokes(tmp_path):
    image = _image(1)
    iid = ImageIdentity.of(image)
    journal = Journal.open_for(iid, tmp_path / "m.tif")
    ed = MaskEditor(image.shape, on_commit=journal.append)
    states = _paint(ed, 6)
    journal.close()
    data = journal.path.read_bytes()
    size_before_last = len(data)
    # find where the last record starts by replaying a copy cut at increasing lengths
    journal.path.write_bytes(data[: size_before_last - 7])  # cut inside the last record
    mask, n, problems = replay(journal.path, iid)
    assert n == 5
    np.testing.assert_array_equal(mask, states[4])
    assert len(problems) == 1 and "cut off" in problems[0] and str(journal.path) in problems[0]
    # only a few stray bytes of a record header left
    last_record = _record_offsets(data)[-1]
    journal.path.write_bytes(data[: last_record + 3])
    mask, n, problems = replay(journal.path, iid)
    assert n == 5 and "stray byte" in problems[0]
    np.testing.assert_array_equal(mask, states[4])


def _record_offsets(data: bytes) -> list[int]:
    import struct

    pos, out = 8, []
    while pos < len(data):
        out.append(pos)
        (length,) = struct.unpack_from("<I", data, pos)
        pos += 8 + length
    return out


def test_damaged_record_stops_replay_there_and_says_so(tmp_path):
    image = _image(2)
    iid = ImageIdentity.of(image)
    journal = Journal.open_for(iid, tmp_path / "m.png")
    ed = MaskEditor(image.shape, on_commit=journal.append)
    states = _paint(ed, 5)
    journal.close()
    data = bytearray(journal.path.read_bytes())
    offsets = _record_offsets(bytes(data))
    data[offsets[-2] + 20] ^= 0xFF  # flip a byte in the 4th stroke (record -2)
    journal.path.write_bytes(bytes(data))
    mask, n, problems = replay(journal.path, iid)
    assert n == 3
    np.testing.assert_array_equal(mask, states[2])
    assert "checksum" in problems[0]


def test_journal_from_another_image_is_refused_and_nothing_applied(tmp_path):
    image, other = _image(3), _image(4)
    journal = Journal.open_for(ImageIdentity.of(image, tmp_path / "a.tif"), tmp_path / "a_m.tif")
    ed = MaskEditor(image.shape, on_commit=journal.append)
    _paint(ed, 2)
    journal.close()
    with pytest.raises(JournalMismatchError) as err:
        replay(journal.path, ImageIdentity.of(other, tmp_path / "b.tif"))
    msg = str(err.value)
    assert str(journal.path) in msg and "different image" in msg
    assert "a.tif" in msg and "b.tif" in msg
    # a different shape is a different image too
    with pytest.raises(JournalMismatchError):
        replay(journal.path, ImageIdentity.of(image[:50]))


def test_not_a_journal_gets_a_clear_message(tmp_path):
    bogus = tmp_path / "x.journal"
    bogus.write_bytes(b"hello world, not a journal")
    with pytest.raises(JournalError, match="not a QBI Desktop mask journal"):
        replay(bogus, ImageIdentity.of(_image()))
    with pytest.raises(JournalError, match="not found"):
        replay(tmp_path / "missing.journal", ImageIdentity.of(_image()))


def test_base_mask_labels_and_rotation_after_save(tmp_path):
    image = _image(5)
    iid = ImageIdentity.of(image)
    base = np.zeros(image.shape, np.uint8)
    base[10:20, 10:30] = 2
    labels = LabelTable()
    labels.add("dust")
    journal = Journal.open_for(iid, tmp_path / "m.tif", base_mask=base, labels=labels)
    ed = MaskEditor(base, on_commit=journal.append)
    _paint(ed, 3)
    labels.add("scratch")
    journal.append_labels(labels)
    result = replay_full(journal.path, iid)
    np.testing.assert_array_equal(result.mask, ed.mask)
    assert result.labels == labels and result.n_applied == 3
    # explicit save: the journal restarts from the saved mask, with no strokes
    saved = ed.mask.copy()
    journal.rotate(saved, labels)
    assert journal.n_strokes == 0 and Journal.pending(iid, tmp_path / "m.tif") is None
    mask, n, problems = replay(journal.path, iid)
    assert n == 0 and problems == []
    np.testing.assert_array_equal(mask, saved)
    ed.dab(50, 50, 4, label=1)
    mask, n, _ = replay(journal.path, iid)
    assert n == 1
    np.testing.assert_array_equal(mask, ed.mask)
    assert read_header(journal.path)["labels"] == labels.to_dict()
    journal.discard()
    assert not journal.path.exists()


def test_pending_journal_is_offered_not_overwritten(tmp_path, monkeypatch):
    monkeypatch.setenv("QBI_DESKTOP_HOME", str(tmp_path / "home"))
    image = _image(6)
    iid = ImageIdentity.of(image, tmp_path / "img.tif")
    journal = Journal.open_for(iid)  # unsaved mask: lives in the user recovery folder
    assert journal.path.parent == tmp_path / "home" / "recovery"
    ed = MaskEditor(image.shape, on_commit=journal.append)
    _paint(ed, 2)
    journal.close()  # the app "crashed"
    info = Journal.pending(iid)
    assert info is not None and info.n_strokes == 2 and info.path == journal.path
    with pytest.raises(RecoveryPendingError) as err:
        Journal.open_for(iid)
    assert "holds 2 stroke(s)" in str(err.value) and "unsaved" in str(err.value)
    mask, n, _ = replay(info.path, iid)
    np.testing.assert_array_equal(mask, ed.mask)
    # the user recovered: a new journal starts from the recovered mask
    journal2 = Journal.open_for(iid, base_mask=mask, overwrite=True)
    assert Journal.pending(iid) is None
    mask2, n2, _ = replay(journal2.path, iid)
    assert n2 == 0
    np.testing.assert_array_equal(mask2, mask)
    journal2.close()


def test_foreign_journal_at_the_same_place_is_kept_aside(tmp_path):
    a, b = _image(7), _image(8)
    j = Journal.open_for(ImageIdentity.of(a), tmp_path / "m.tif")
    MaskEditor(a.shape, on_commit=j.append).dab(5, 5, 2, label=1)
    j.close()
    j2 = Journal.open_for(ImageIdentity.of(b), tmp_path / "m.tif")
    j2.close()
    orphans = list(tmp_path.glob("m.tif.journal.orphan-*"))
    assert len(orphans) == 1
    mask, n, _ = replay(orphans[0], ImageIdentity.of(a))
    assert n == 1 and mask[5, 5] == 1


CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from qbi_desktop.core.annotation.journal import ImageIdentity, Journal
    from qbi_desktop.core.annotation.masks import MaskEditor

    image = np.random.default_rng(0).integers(0, 60000, (256, 256), dtype=np.uint16)
    journal = Journal.open_for(ImageIdentity.of(image), sys.argv[1])
    ed = MaskEditor(image.shape, on_commit=journal.append)
    rng = np.random.default_rng(1)
    i = 0
    while True:  # paint until killed
        ed.begin_stroke(1 + i % 3)
        y, x = rng.uniform(0, 256, 2)
        changed = False
        for _ in range(5):
            ny, nx = y + rng.uniform(-9, 9), x + rng.uniform(-9, 9)
            changed |= ed.line(y, x, ny, nx, 3) is not None
            y, x = ny, nx
        if changed:
            # the expected state is saved before the stroke is journaled, so it always exists
            np.save(sys.argv[2] + f"/state_{i + 1:04d}.npy", ed.mask)
        if ed.end_stroke() is not None:
            i += 1
            print(i, flush=True)
    """
)


def test_kill_9_while_painting_then_replay_gives_the_last_completed_stroke(tmp_path):
    states = tmp_path / "states"
    states.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "mask.tif"), str(states)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        for line in proc.stdout:
            if int(line) >= 25:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    image = np.random.default_rng(0).integers(0, 60000, (256, 256), dtype=np.uint16)
    mask, n, problems = replay(tmp_path / "mask.tif.journal", ImageIdentity.of(image))
    assert n >= 25
    assert problems == [] or "cut off" in problems[0] or "stray" in problems[0]
    # replay gives exactly the mask after the last stroke that reached the journal
    np.testing.assert_array_equal(mask, np.load(states / f"state_{n:04d}.npy"))
