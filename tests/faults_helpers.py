"""What the fault tests (test_faults.py: kill -9 mid-job; test_faults_disk.py and
test_hostile_full_disk_create.py: a full disk and read-only folders) share: the CLI in a child
process, a COCO source, what a dead or refused run may leave in a project, and a small disk."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.annotate_process_helpers import child_env
from tests.hostile.make_corpus import gray8, write_png

REPO = Path(__file__).resolve().parents[1]
N_ITEMS = 120
DISK_WORDS = (
    "space",
    "full",
    "read-only",
    "read only",
    "not writable",
    "cannot write",
    "permission",
)


def cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qbi_desktop", *map(str, args)],
        cwd=REPO,
        env=child_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def coco_source(folder: Path, n: int = N_ITEMS, size: int = 24) -> Path:
    doc = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "spot"}]}
    for i in range(n):
        write_png(folder / f"im{i:03d}.png", gray8(i, (size, size)))
        doc["images"].append(
            {"id": i + 1, "file_name": f"im{i:03d}.png", "width": size, "height": size}
        )
        doc["annotations"].append(
            {
                "id": i + 1,
                "image_id": i + 1,
                "category_id": 1,
                "bbox": [1, 1, 5, 5],
                "area": 25,
                "iscrowd": 0,
                "segmentation": [[1, 1, 6, 1, 6, 6, 1, 6]],
            }
        )
    (folder / "coco.json").write_text(json.dumps(doc))
    return folder / "coco.json"


def leftovers(root: Path) -> list[str]:
    """What a dead run may leave in a project: temporary files, orphan masks, stray sources."""
    found = [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.name.endswith((".tmp", ".partial"))
        or ".partial" in p.name
        or p.name.startswith(".export")
    ]
    catalog = root / "catalog.sqlite"
    if catalog.exists():
        con = sqlite3.connect(catalog)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            masks = {r[0] for r in con.execute("SELECT path FROM masks")}
            used = " ".join(
                r[0]
                for r in con.execute(
                    "SELECT path FROM items WHERE path IS NOT NULL "
                    "UNION ALL SELECT path FROM containers"
                )
            )
        finally:
            con.close()
        if (root / "masks").exists():
            found += [
                f"orphan masks/{p.name}"
                for p in (root / "masks").iterdir()
                if f"masks/{p.name}" not in masks
            ]
        if (root / "sources").exists():
            found += [
                f"unused sources/{p.name}"
                for p in (root / "sources").iterdir()
                if f"sources/{p.name}" not in used
            ]
    return found


def item_count(root: Path) -> int:
    con = sqlite3.connect(root / "catalog.sqlite")
    try:
        return con.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    finally:
        con.close()


@pytest.fixture(name="small_disk")
def small_disk_fixture(tmp_path):
    """A 2 MiB tmpfs, unmounted afterwards; ``remount(ro=True)`` makes it read-only. A new
    catalog (54 indexes, 0.6 MB) and its write-ahead log need about 1.2 MB while it is made."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or 'refused'}")

    class Disk:
        path = mnt

        @staticmethod
        def fill(leave: int = 2048) -> None:
            """Fill the disk up to ``leave`` bytes."""
            st = os.statvfs(mnt)
            free = st.f_bavail * st.f_frsize
            with open(mnt / "filler", "wb") as f:
                try:
                    f.write(b"\0" * max(0, free - leave))
                except OSError:
                    pass

        @staticmethod
        def read_only() -> None:
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)

    yield Disk
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def import_coco(home: Path, project: Path, coco: Path) -> subprocess.CompletedProcess:
    """``qbi-desktop import`` of the COCO file ``coco`` (its images beside it) into ``project``."""
    return cli(
        home, "import", "--project", project, "--kind", "coco", "--images", coco.parent, coco
    )


def imported_project(tmp_path_factory, coco: Path) -> Path:
    """A project the CLI made by importing the COCO file ``coco`` (the test modules' module-
    scoped ``imported`` fixtures)."""
    project = tmp_path_factory.mktemp("imported") / "project"
    done = import_coco(tmp_path_factory.mktemp("home"), project, coco)
    assert done.returncode == 0, done.stderr
    return project
