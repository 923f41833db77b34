"""`baseline --data` names what is wrong with the source itself: a folder or a device given as
an NPZ file is said to be one (not "not found"), and a project item that cannot be read (a named
pipe where its image was) is reported without the resize hint, which only helps images of
different sizes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile
from cli_helpers import run_cli


def _baseline(tmp_path, data):
    return run_cli(
        "baseline", "--data", data, "--model", "dummy", "--report", str(tmp_path / "rep"),
        "--quiet",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("target", "said"),
    [("folder", "is a folder, not a regular file"), ("/dev/zero", "is a device")],
)
def test_npz_source_that_is_a_folder_or_a_device_is_named_as_such(tmp_path, target, said):
    path = tmp_path / "data.npz" if target == "folder" else target
    if target == "folder":
        path.mkdir()
    done = _baseline(tmp_path, f"npz:{path}")
    assert done.returncode == 2
    assert said in done.stderr and "cannot read the NPZ file" in done.stderr
    assert "not found" not in done.stderr
    missing = _baseline(tmp_path, f"npz:{tmp_path / 'gone.npz'}")
    assert missing.returncode == 2 and "NPZ file not found" in missing.stderr


def test_an_unreadable_project_item_gets_no_resize_hint(tmp_path):
    images = tmp_path / "imgs"
    for cls in ("a", "b"):
        (images / cls).mkdir(parents=True)
        for k in range(3):
            tifffile.imwrite(images / cls / f"{k}.tif", np.full((8, 8), k, np.uint16))
    root = tmp_path / "proj"
    done = run_cli("import", "--project", str(root), "--kind", "imagefolder", str(images))
    assert done.returncode == 0, done.stderr
    pipe = images / "b" / "2.tif"
    pipe.unlink()
    os.mkfifo(pipe)
    done = _baseline(tmp_path, f"project:{root}")
    assert done.returncode == 2
    assert "2.tif" in done.stderr and "named pipe" in done.stderr
    assert "resize" not in done.stderr


def test_images_of_different_sizes_still_get_the_resize_hint(tmp_path):
    images = tmp_path / "imgs"
    for cls, side in (("a", 8), ("b", 12)):
        (images / cls).mkdir(parents=True)
        for k in range(3):
            tifffile.imwrite(images / cls / f"{k}.tif", np.full((side, side), k, np.uint16))
    root = tmp_path / "proj"
    done = run_cli("import", "--project", str(root), "--kind", "imagefolder", str(images))
    assert done.returncode == 0, done.stderr
    done = _baseline(tmp_path, f"project:{root}")
    assert done.returncode == 2
    assert "different sizes" in done.stderr and "--resize" in done.stderr
