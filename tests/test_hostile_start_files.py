"""Files the app reads at start in its own folders: the notes a mask save leaves in
``recovery/saving`` (read by the start-up leftovers job). A FIFO named like a note blocked that
job for ever (and the worker pool with it); a note nested 100 000 levels deep raised
RecursionError, so nothing that dead runs left was cleaned. Now each is dropped and the job
ends at once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = """
from qbi_desktop.core.annotation.leftovers import clean_leftovers
result = clean_leftovers()
print("done", len(result.problems))
"""


def _note_folder(home):
    folder = home / "recovery" / "saving"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize("kind", ["fifo", "deep", "list"])
def test_a_hostile_save_note_is_dropped_and_the_leftovers_job_ends(tmp_path, kind):
    home = tmp_path / "home"
    note = _note_folder(home) / f"{'0' * 40}-1.json"
    if kind == "fifo":
        os.mkfifo(note)
    elif kind == "deep":
        note.write_text("[" * 100_000 + "]" * 100_000)
    else:
        note.write_text('["target", 1]')
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**os.environ, "QBI_DESKTOP_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "done" in done.stdout and "Traceback" not in done.stderr
    assert not os.path.lexists(note)  # dropped: not read again at the next start
