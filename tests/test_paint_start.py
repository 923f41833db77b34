"""Painting starts before the full content hash of a large image is known: the first strokes are
journaled under a provisional identity (a sample of rows), the journal moves to the full identity
once the background hash is done, and a crash at any point recovers every completed stroke."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from qbi_desktop.core.annotation.image_identity import SAMPLE_BYTES, ImageIdentity
from qbi_desktop.core.annotation.journal_places import journal_path
from qbi_desktop.core.jobs import run_job
from qbi_desktop.gui.annotate.session import MaskSession, prepare_job

REPO = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from qbi_desktop.core.jobs import run_job
    from qbi_desktop.gui.annotate.session import MaskSession, prepare_job

    image_path, side = Path(sys.argv[1]), int(sys.argv[2])
    image = np.random.default_rng(7).integers(0, 60000, (side, side), dtype=np.uint16)
    s = MaskSession(image, image_path)
    s.apply_prepared(run_job(prepare_job(image, image_path)))
    before = s.identity.provisional
    s.editor.dab(100, 200, 6)               # the first stroke, journaled at once
    print("ready", before, s.identity.provisional, int(s.mask.sum()), flush=True)
    while True:
        time.sleep(0.1)
    """
)


def _image(side: int) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 60000, (side, side), dtype=np.uint16)


def _session(image, image_path) -> MaskSession:
    s = MaskSession(image, image_path)
    s.apply_prepared(run_job(prepare_job(image, image_path)))
    return s


def test_kill_9_right_after_the_first_stroke_on_a_large_image_recovers(tmp_path, settings_dir):
    """The child paints one stroke on an 8192^2 image while its full hash is still being
    computed, and is killed: the next start finds the stroke and recovers it exactly."""
    side = 8192
    image_path = tmp_path / "radiograph.tif"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(image_path), str(side)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline().split()
        assert line[:1] == ["ready"], child.stderr.read()[-2000:]
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    _, before, after, painted = line
    # painting began under the provisional identity and the stroke was journaled under it
    assert before == "True" and after == "True" and int(painted) > 0

    image = _image(side)
    again = MaskSession(image, image_path)
    prepared = run_job(prepare_job(image, image_path))
    assert prepared.hashing is None  # unsaved work may exist: the full hash came first
    assert not prepared.identity.provisional
    again.apply_prepared(prepared)
    assert again.recovery is not None and again.recovery.n_strokes == 1
    again.recover()
    assert int(again.mask.sum()) == int(painted) and again.mask[100, 200] == 1
    # recovered into the plane's own journal under the full identity; the provisional is gone
    assert again.journal.path == journal_path(again.identity, image_path)
    assert list(again.journal.path.parent.glob("*.journal")) == [again.journal.path]


def test_the_journal_moves_to_the_full_identity_with_every_stroke(tmp_path, settings_dir):
    image = _image(1024)
    image_path = tmp_path / "scan.tif"
    s = _session(image, image_path)
    assert s.identity.provisional and s.identity.content_hash.startswith("sample-")
    provisional_file = s.journal.path
    s._full_hash._thread.join()  # let the background hash finish before the first stroke ends
    s.editor.dab(10, 10, 4)  # a stroke ends: the journal moves to the full identity
    assert not s.identity.provisional
    assert s.identity == ImageIdentity.of(image, image_path)
    assert s.journal.path == journal_path(s.identity, image_path) != provisional_file
    assert not provisional_file.exists()
    s.editor.dab(40, 40, 4)
    s.editor.undo()
    s.editor.dab(60, 60, 3)
    expected = s.mask.copy()
    assert s.journal.n_strokes == 2
    s.journal.close()  # as by a crash
    again = _session(image, image_path)
    assert again.recovery is not None and again.recovery.n_strokes == 2
    again.recover()
    assert np.array_equal(again.mask, expected)


def test_saving_records_the_full_hash_and_the_next_open_starts_quick_again(tmp_path, settings_dir):
    image = _image(512)
    image_path = tmp_path / "scan.tif"
    s = _session(image, image_path)
    s.editor.dab(10, 10, 4)
    saved = s.save(tmp_path / "scan.mask.tif")
    assert not s.identity.provisional  # a save waits for the full hash
    s.close()
    # the saved mask is recorded against the full hash: the next open hashes first and loads it
    again = _session(image, image_path)
    assert again.mask_path == saved and again.mask[10, 10] == 1
    assert again.recovery is None and not again.identity.provisional


def test_a_second_window_on_the_same_plane_is_read_only_while_the_first_is_provisional(
    tmp_path, settings_dir
):
    image = _image(512)
    image_path = tmp_path / "scan.tif"
    first = _session(image, image_path)
    assert first.identity.provisional and first.read_only is None
    second = _session(image, image_path)
    assert second.read_only is not None and second.journal is None
    first.editor.dab(5, 5, 2)
    assert first.journal.n_strokes == 1


def test_the_provisional_hash_reads_a_bounded_sample_and_tells_images_apart():
    a = _image(2048)
    q = ImageIdentity.quick(a)
    assert q.provisional and q == ImageIdentity.quick(a.copy())
    assert not q.same_image(ImageIdentity.of(a))  # never equal to a full hash
    b = a.copy()
    b[0, 5] += 1  # the first row is always in the sample
    assert not ImageIdentity.quick(b).same_image(q)
    # a row between two sampled rows: only the full hash sees the change (the known limit of
    # the provisional hash, which is why it only ever names this plane's own early journal)
    k = min(2048, max(2, SAMPLE_BYTES // a[:1].nbytes))
    sampled = set(np.linspace(0, 2047, k).round().astype(int).tolist())
    y = next(r for r in range(2048) if r not in sampled)
    c = a.copy()
    c[y, 5] += 1
    assert ImageIdentity.quick(c).same_image(q)
    assert not ImageIdentity.of(c).same_image(ImageIdentity.of(a))


def test_unsaved_work_appearing_at_the_full_place_keeps_the_strokes_where_they_are(
    tmp_path, settings_dir
):
    """Another run left unsaved strokes at the place of the full identity while this session
    painted under the provisional one: the journal is not moved over them, painting goes on in
    the provisional journal, and both replay to what each painted."""
    from qbi_desktop.core.annotation.journal import Journal, replay_full
    from qbi_desktop.core.annotation.masks import MaskEditor

    image = _image(512)
    image_path = tmp_path / "scan.tif"
    s = _session(image, image_path)
    assert s.identity.provisional
    full = ImageIdentity.of(image, image_path)
    other = Journal.open_at(journal_path(full, image_path), full)
    MaskEditor(image.shape, on_commit=other).dab(200, 200, 5)
    other.close()  # as by a crash of that run
    s._full_hash._thread.join()
    s.editor.dab(10, 10, 3)  # the hash is known: the move is tried and refused
    assert s.identity.provisional and s.journal is not None
    assert s.journal_problem is not None and "unsaved" in s.journal_problem.lower()
    s.editor.dab(30, 30, 3)
    expected = s.mask.copy()
    s.journal.close()  # a crash
    assert np.array_equal(replay_full(s.journal.path, s.quick).mask, expected)
    theirs = replay_full(journal_path(full, image_path), full).mask
    assert theirs[200, 200] == 1 and theirs[10, 10] == 0
