"""Issue 17 fault tests: a full disk and read-only folders (kill -9: test_faults.py).

A 2 MiB tmpfs (mounted as root; skipped with the reason otherwise) at every write path
(import, export, mask save, thumbnails, augment output): the CLI exits with code 2 and a
message that names the place and the problem; the core raises a UserFacingError.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.faults_helpers import (
    DISK_WORDS,
    cli,
    coco_source,
    import_coco,
    imported_project,
    item_count,
    leftovers,
    small_disk_fixture,  # noqa: F401  (the small_disk fixture)
)
from tests.hostile.make_corpus import gray8, write_png


@pytest.fixture(scope="module")
def coco_src(tmp_path_factory) -> Path:
    return coco_source(tmp_path_factory.mktemp("coco"))


@pytest.fixture(scope="module")
def imported(tmp_path_factory, coco_src) -> Path:
    return imported_project(tmp_path_factory, coco_src)


def _clear_cli_refusal(done: subprocess.CompletedProcess, place: Path) -> None:
    text = done.stderr + done.stdout
    assert "Traceback" not in text, text[-2000:]
    assert done.returncode == 2, (done.returncode, text[-2000:])
    low = text.lower()
    assert any(w in low for w in DISK_WORDS), text[-1000:]
    assert place.name in text, f"the message does not name {place}: {text[-1000:]}"


@pytest.mark.parametrize("problem", ["full", "read-only"])
def test_import_into_a_full_or_read_only_disk_says_so(tmp_path, small_disk, problem):
    src = coco_source(tmp_path / "src", n=40, size=128)
    project = small_disk.path / "project"
    if problem == "read-only":
        small_disk.read_only()
    else:  # a project that fits, then a disk with 8 KB left for the 40 items' masks
        first = coco_source(tmp_path / "first", n=1)
        assert import_coco(tmp_path / "home", project, first).returncode == 0
        small_disk.fill(leave=8 * 1024)
    done = import_coco(tmp_path / "home", project, src)
    _clear_cli_refusal(done, small_disk.path if problem == "read-only" else project)
    if project.exists():
        (small_disk.path / "filler").unlink()  # room for SQLite to open the catalog again
        assert leftovers(project) == []
        assert item_count(project) == 1  # the refused import added nothing


@pytest.mark.parametrize(
    ("problem", "kind"), [("full", "imagefolder"), ("full", "npz"), ("read-only", "imagefolder")]
)
def test_export_onto_a_full_or_read_only_disk_says_so(
    tmp_path, imported, small_disk, problem, kind
):
    out = small_disk.path / "out"
    if problem == "read-only":
        small_disk.read_only()
    else:
        small_disk.fill(leave=16 * 1024)  # the images or the NPZ array need more
    done = cli(tmp_path / "home", "export", "--project", imported, "--kind", kind, "--out", out)
    _clear_cli_refusal(done, small_disk.path if problem == "read-only" else out)
    left = [p.name for p in small_disk.path.iterdir() if p.name not in ("filler",)]
    assert left in ([], ["out"]) and not (out.exists() and any(out.iterdir())), left


@pytest.mark.parametrize("problem", ["full", "read-only"])
def test_augment_output_on_a_full_or_read_only_disk_says_so(
    tmp_path, coco_src, small_disk, problem
):
    pipeline = tmp_path / "p.json"
    pipeline.write_text(
        json.dumps(
            {"format": "qbi-augment", "version": 1, "seed": 0, "options": {"horizontal_flip": True}}
        )
    )
    out = small_disk.path / "aug"
    if problem == "read-only":
        small_disk.read_only()
    else:
        small_disk.fill(leave=16 * 1024)
    done = cli(
        tmp_path / "home",
        "augment",
        "--pipeline",
        pipeline,
        "--input",
        coco_src.parent,
        "--output",
        out,
        "--copies",
        "2",
    )
    _clear_cli_refusal(done, small_disk.path if problem == "read-only" else out)


@pytest.mark.parametrize("problem", ["full", "read-only"])
def test_mask_save_onto_a_full_or_read_only_disk_says_so(small_disk, problem):
    from qbi_desktop.core.errors import UserFacingError
    from qbi_desktop.core.maskio import save_mask

    target = small_disk.path / "img.mask.tif"
    if problem == "read-only":
        small_disk.read_only()
    else:
        small_disk.fill(leave=1024)
    mask = (np.arange(300 * 300).reshape(300, 300) % 7).astype(np.uint8)
    with pytest.raises(UserFacingError) as err:
        save_mask(target, mask)
    text = str(err.value).lower()
    assert any(w in text for w in DISK_WORDS) and "img.mask.tif" in str(err.value), err.value
    assert not target.exists()
    if problem == "full":
        assert [p.name for p in small_disk.path.iterdir()] == ["filler"]  # no temporary file


@pytest.mark.parametrize("problem", ["full", "read-only"])
def test_thumbnails_of_a_project_on_a_full_or_read_only_disk_say_so(tmp_path, small_disk, problem):
    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.catalog.thumbnails import thumbnail_job
    from qbi_desktop.core.errors import UserFacingError
    from qbi_desktop.core.jobs import run_job

    src = tmp_path / "src"
    for i in range(30):
        write_png(src / "a" / f"im{i:02d}.png", gray8(i, (64, 64)))
    project = small_disk.path / "project"
    done = cli(tmp_path / "home", "import", "--project", project, "--kind", "imagefolder", src)
    assert done.returncode == 0, done.stderr
    if problem == "read-only":
        small_disk.read_only()
    else:
        small_disk.fill(leave=0)
    with pytest.raises(UserFacingError) as err:
        with open_project(project) as p:
            run_job(thumbnail_job(p))
    text = str(err.value).lower()
    assert any(w in text for w in DISK_WORDS), err.value


def test_import_with_a_read_only_masks_folder_says_so_and_adds_nothing(tmp_path, coco_src):
    """Class 7: ``masks/`` of an existing project read-only (a read-only bind mount, which
    binds root too) during a COCO import."""
    home, project = tmp_path / "home", tmp_path / "project"
    first = coco_source(tmp_path / "first", n=1)
    done = import_coco(home, project, first)
    assert done.returncode == 0, done.stderr
    masks = project / "masks"
    masks.mkdir(exist_ok=True)
    bound = subprocess.run(["mount", "--bind", str(masks), str(masks)], capture_output=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.decode().strip() or 'refused'}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(masks)], check=True)
        done = import_coco(home, project, coco_src)
        _clear_cli_refusal(done, masks)
    finally:
        subprocess.run(["umount", "-l", str(masks)], capture_output=True)
    assert item_count(project) == 1  # nothing of the refused import
    assert leftovers(project) == []
