"""A journal found on disk is untrusted input: it never decides where anything is written, a
crafted or garbled header is refused with a message (never an exception of another kind, never
a hang), and a journal one window writes is never truncated by another window or process."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

from qbi_desktop.core.annotation.journal import (
    MAGIC,
    ImageIdentity,
    Journal,
    JournalError,
    read_header,
    replay_full,
)
from qbi_desktop.core.annotation.masks import MaskEditor
from qbi_desktop.core.jobs import run_job
from qbi_desktop.gui.annotate.session import MaskSession, prepare_job

REPO = Path(__file__).resolve().parents[1]


def _image(seed: int = 0, shape=(64, 80)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 60000, shape, dtype=np.uint16)


def _record(payload: bytes) -> bytes:
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def _plant_journal(where: Path, image: np.ndarray, image_path: Path, mask_path: str) -> bytes:
    """A journal as another person could leave it beside an image: real strokes, and a header
    whose mask_path points somewhere else. Written with the core, then its header swapped."""
    ident = ImageIdentity.of(image, image_path)
    journal = Journal.open_for(ident, where.with_name("made.mask.tif"))
    tmp = journal.path
    editor = MaskEditor(image.shape, on_commit=journal)
    editor.dab(10, 10, 4)
    editor.dab(30, 40, 3)
    journal.close()
    data = tmp.read_bytes()
    tmp.unlink()
    header = read_header_dict(data)
    header["mask_path"] = mask_path
    rest = data[len(MAGIC) + 8 + struct.unpack_from("<I", data, len(MAGIC))[0] :]
    blob = MAGIC + _record(b"H" + json.dumps(header).encode()) + rest
    where.write_bytes(blob)
    return blob


def read_header_dict(data: bytes) -> dict:
    length = struct.unpack_from("<I", data, len(MAGIC))[0]
    payload = data[len(MAGIC) + 8 : len(MAGIC) + 8 + length]
    return json.loads(payload[1:])


def _session(image, image_path, index=0, n=1) -> MaskSession:
    session = MaskSession(image, image_path, index, n)
    session.apply_prepared(run_job(prepare_job(image, image_path, index, n)))
    return session


@pytest.mark.parametrize("target", ["absolute", "dotdot"])
def test_journal_beside_image_naming_another_mask_file_is_refused(tmp_path, settings_dir, target):
    """17.1: a `<stem>.mask.tif.journal` beside an image whose header names another mask file
    (absolute, or with ../) is refused: a message, nothing recovered, the file untouched, and
    nothing written where it points — not by recovery, not by saving, not by the journal."""
    data = tmp_path / "data"
    data.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    image = _image()
    image_path = data / "scan.tif"
    evil = str(outside / "evil.mask.tif") if target == "absolute" else "../outside/evil.mask.tif"
    planted = data / "scan.mask.tif.journal"
    blob = _plant_journal(planted, image, image_path, evil)

    prepared = run_job(prepare_job(image, image_path))
    assert prepared.recovery is None  # nothing offered from it
    assert any(str(planted) in p and "refused" in p for p in prepared.problems)
    session = _session(image, image_path)
    assert session.ready and not session.mask.any()
    # painting and saving go to places the app derives, never to the journal's
    session.editor.dab(5, 5, 2)
    assert session.journal is not None and session.journal.path.parent != data
    saved = session.save(tmp_path / "chosen.mask.tif")
    assert saved == tmp_path / "chosen.mask.tif"
    assert planted.read_bytes() == blob  # left as it was
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in data.iterdir()) == ["scan.mask.tif.journal"]


def test_recovered_journal_never_chooses_the_mask_file(tmp_path, settings_dir):
    """A journal in the recovery folder whose header names some file: after recovery that file
    is at most proposed (for the save dialog), the session has no mask file, so Ctrl+S asks."""
    from qbi_desktop.core.annotation.journal_places import journal_path

    image = _image(1)
    image_path = tmp_path / "scan.tif"
    ident = ImageIdentity.of(image, image_path)
    own = journal_path(ident, image_path)
    elsewhere = tmp_path / "elsewhere" / "x.mask.tif"
    _plant_journal(own, image, image_path, str(elsewhere))
    session = _session(image, image_path)
    assert session.recovery is not None and session.recovery.n_strokes == 2
    session.recover()
    assert session.mask.any()
    assert session.mask_path is None  # not the journal's path
    assert session.proposed_path == elsewhere  # only a proposal the user confirms
    assert session.suggested_path() != elsewhere  # a silent save never goes there
    assert not elsewhere.parent.exists()


def test_legacy_journal_that_agrees_with_its_place_is_recovered_then_removed(
    tmp_path, settings_dir
):
    """An older version's journal beside the default mask, naming exactly that mask: offered,
    recovered into the recovery folder, and then no longer left beside the data."""
    from qbi_desktop.core.annotation.journal_places import journal_path

    image = _image(2)
    image_path = tmp_path / "scan.tif"
    legacy = tmp_path / "scan.mask.tif.journal"
    _plant_journal(legacy, image, image_path, str(tmp_path / "scan.mask.tif"))
    session = _session(image, image_path)
    assert session.recovery is not None and session.recovery.path == legacy
    session.recover()
    assert session.mask[10, 10] == 1 and session.mask[30, 40] == 1
    assert session.mask_path == tmp_path / "scan.mask.tif"  # a place the app derives
    assert not legacy.exists()
    assert session.journal.path.parent == journal_path(session.identity, image_path).parent


def _garbled_headers(image: np.ndarray) -> dict[str, bytes]:
    ident = ImageIdentity.of(image, Path("/x/scan.tif")).to_dict()
    good = {"image": ident, "mask_shape": list(image.shape), "labels": {}, "mask_path": None}

    def with_(**changes):
        h = json.loads(json.dumps(good))
        for key, value in changes.items():
            if "." in key:
                a, b = key.split(".")
                h[a][b] = value
            else:
                h[key] = value
        return json.dumps(h).encode()

    return {
        "a list": b"[1, 2, 3]",
        "a number": b"42",
        "image is a string": with_(image="scan.tif"),
        "shape is a string": with_(**{"image.shape": "64x80"}),
        "negative shape": with_(**{"image.shape": [-64, 80]}),
        "huge shape": with_(**{"image.shape": [10**40, 80]}),
        "shape of dicts": with_(**{"image.shape": [{}, []]}),
        "hash is a list": with_(**{"image.content_hash": [1]}),
        "mask_shape of text": with_(mask_shape=["a", "b"]),
        "mask_path is a dict": with_(mask_path={"x": 1}),
        "mask_path with NUL": with_(mask_path="/tmp/a\x00b"),
        "labels garbage": with_(labels=[1, [2, {"3": None}]]),
        "deeply nested": b'{"image": ' + b"[" * 100000 + b"]" * 100000 + b"}",
        "not utf-8": b'{"image": "\xff\xfe"}',
        "not json": b"{image: shape}",
    }


@pytest.mark.parametrize("case", list(_garbled_headers(_image()).keys()))
def test_garbled_header_is_refused_with_a_message_never_a_crash(tmp_path, settings_dir, case):
    from qbi_desktop.core.annotation.journal_places import find_pending

    image = _image()
    payload = _garbled_headers(image)[case]
    path = tmp_path / "scan.mask.tif.journal"
    path.write_bytes(MAGIC + _record(b"H" + payload))
    ident = ImageIdentity.of(image, Path("/x/scan.tif"))
    try:
        read_header(path)
    except JournalError as e:
        assert str(path) in str(e)
    # pending / replay: a message or nothing offered, never another exception
    assert Journal.pending_at(path, ident) is None or case == "labels garbage"
    try:
        result = replay_full(path, ident)
    except JournalError as e:
        assert str(path) in str(e)
    else:
        assert case == "labels garbage" and result.labels is None
    # the session opening the image beside it carries on
    found = find_pending(ident, Path("/x/scan.tif"))
    assert found.recovery is None or case == "labels garbage"


def test_crafted_base_record_does_not_inflate(tmp_path, settings_dir):
    """A base record claiming the image's size but inflating to 1 GB is refused unread."""
    image = _image(3, (32, 32))
    ident = ImageIdentity.of(image, None)
    header = {"image": ident.to_dict(), "mask_shape": [32, 32], "base_unsaved": True}
    bomb = zlib.compress(b"\0" * (256 * 1024**2), 9)  # 256 MB of zeros in ~250 KB
    base = b"B" + struct.pack("<BII", 1, 32, 32) + bomb
    path = tmp_path / "bomb.journal"
    path.write_bytes(MAGIC + _record(b"H" + json.dumps(header).encode()) + _record(base))
    result = replay_full(path, ident)
    assert result.problems and "wrong number of bytes" in result.problems[0]
    assert not result.mask.any()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_named_like_a_journal_does_not_hang_the_opening(tmp_path, settings_dir):
    image_path = tmp_path / "scan.tif"
    os.mkfifo(tmp_path / "scan.mask.tif.journal")
    code = textwrap.dedent(
        f"""
        import numpy as np
        from pathlib import Path
        from qbi_desktop.core.jobs import run_job
        from qbi_desktop.gui.annotate.session import prepare_job
        image = np.random.default_rng(4).integers(0, 60000, (64, 80), dtype=np.uint16)
        p = run_job(prepare_job(image, Path({str(image_path)!r})))
        print("ok", p.recovery)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok None")


def test_second_opener_of_a_journal_is_refused_and_truncates_nothing(tmp_path, settings_dir):
    """13.6: one writer per journal, within a process (a second window) as across processes."""
    from qbi_desktop.core.annotation.journal_lock import JournalLockedError

    image = _image(5)
    image_path = tmp_path / "scan.tif"
    first = _session(image, image_path)
    first.editor.dab(20, 20, 5)
    first.editor.dab(40, 40, 5)
    before = first.journal.path.read_bytes()
    second = _session(image, image_path)  # same process: like a second window
    assert second.read_only is not None and not second.ready
    assert "another QBI Desktop window" in second.read_only
    assert first.journal.path.read_bytes() == before
    with pytest.raises(JournalLockedError):
        Journal.open_at(first.journal.path, first.identity, overwrite=True)
    assert first.journal.path.read_bytes() == before
    # another process: refused too, nothing written
    code = textwrap.dedent(
        f"""
        import numpy as np
        from pathlib import Path
        from qbi_desktop.core.jobs import run_job
        from qbi_desktop.gui.annotate.session import MaskSession, prepare_job
        image = np.random.default_rng(5).integers(0, 60000, (64, 80), dtype=np.uint16)
        path = Path({str(image_path)!r})
        s = MaskSession(image, path)
        s.apply_prepared(run_job(prepare_job(image, path)))
        print("read-only" if s.read_only else "writable", s.recovery is None)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["read-only", "True"]
    assert first.journal.path.read_bytes() == before
    first.editor.dab(60, 60, 3)  # the first window goes on journaling
    assert first.journal.n_strokes == 3
    first.journal.close()  # lock released (as by a crash): the journal is offered again
    third = _session(image, image_path)
    assert third.recovery is not None and third.recovery.n_strokes == 3
    third.recover()
    assert np.array_equal(third.mask, first.mask)


def test_project_item_open_in_two_windows_is_read_only_in_the_second(tmp_path, settings_dir):
    """The same lock for a project item's mask (its journal is keyed by project and item)."""
    from PIL import Image

    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.formats import import_job
    from qbi_desktop.core.labels import LabelTable
    from qbi_desktop.gui.annotate.session import prepare_item_job
    from qbi_desktop.gui.annotate.store import ProjectItemStore

    folder = tmp_path / "images" / "a"
    folder.mkdir(parents=True)
    pixels = np.random.default_rng(9).integers(0, 255, (40, 48), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "a0.png")
    root = tmp_path / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [tmp_path / "images"]))
        item = project.query(limit=None)[0]
    store = ProjectItemStore(root, int(item["id"]), item["name"], "tester")

    def open_item() -> MaskSession:
        session = MaskSession(pixels, None, store=store)
        session.apply_prepared(run_job(prepare_item_job(pixels, store, LabelTable())))
        return session

    first = open_item()
    first.editor.dab(10, 10, 3)
    before = first.journal.path.read_bytes()
    second = open_item()
    assert second.read_only is not None and not second.ready
    assert first.journal.path.read_bytes() == before
    first.journal.close()  # as by a crash: the stroke is offered to the next opener
    third = open_item()
    assert third.recovery is not None and third.recovery.n_strokes == 1
