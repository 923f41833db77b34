"""A new project on a disk that runs out of room while its catalog is being made.

Where the room ran out decided the message: SQLite's own "database or disk is full", or
what running out leads to - a rollback the full disk had already done ("cannot rollback - no
transaction is active") or a first page found short ("database disk image is malformed"),
which told the user to restore a backup of a catalog that never existed. Whatever the point,
the user reads that the disk is full, with the catalog named, and nothing is left behind."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.faults_helpers import DISK_WORDS, cli, small_disk_fixture  # noqa: F401  (small_disk)


@pytest.mark.parametrize("room_kib", [16, 48, 96, 160, 240, 320])
def test_a_new_project_on_a_disk_too_small_for_its_catalog_says_the_disk_is_full(
    tmp_path, small_disk, room_kib
):
    src = tmp_path / "src" / "a"
    src.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((16, 16), i, np.uint8)).save(src / f"im{i}.png")
    small_disk.fill(leave=room_kib * 1024)
    project = small_disk.path / "project"
    done = cli(
        tmp_path / "home", "import", "--project", project, "--kind", "imagefolder", src.parent
    )
    text = done.stderr + done.stdout
    assert "Traceback" not in text, text[-2000:]
    if done.returncode == 0:  # it fitted: a whole project
        assert (project / "catalog.sqlite").is_file()
        return
    assert done.returncode == 2, text[-2000:]
    low = text.lower()
    assert any(w in low for w in DISK_WORDS), text[-1000:]
    assert "malformed" not in low and "backup" not in low and "rollback" not in low, text
    assert "catalog.sqlite" in text or "project" in text
    assert sorted(p.name for p in small_disk.path.iterdir()) == ["filler"]  # nothing left
