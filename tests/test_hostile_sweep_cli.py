"""Hostile file arguments of the commands, second sweep: an NPZ "file" that is a FIFO or a
device. np.load waited for a writer on the FIFO for ever; now the import names what it is and
exits 2 without a traceback, and nothing is left behind."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_an_npz_import_of_a_fifo_or_device_is_refused_at_once(tmp_path, kind):
    source = tmp_path / "data.npz"
    if kind == "fifo":
        os.mkfifo(source)
    else:
        os.symlink("/dev/zero", source)
    project = tmp_path / "project"
    cli = subprocess.run(
        [sys.executable, "-m", "qbi_desktop", "import", "--project", str(project), "--kind",
         "npz", str(source)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 2, cli.stderr[-2000:]
    words = "named pipe" if kind == "fifo" else "device"
    assert f"{source}: is a {words}" in cli.stderr and "Traceback" not in cli.stderr
    assert not project.exists()
