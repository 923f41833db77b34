"""A command's output piped into a reader that leaves early (`qbi-desktop info ... | head`)
ends quietly: no traceback on stderr (before, a BrokenPipeError's traceback was printed)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def test_info_into_a_closed_pipe_prints_no_traceback(tmp_path):
    npz = tmp_path / "d.npz"
    np.savez(npz, x_train=np.zeros((30, 8, 8), np.uint8))
    root = tmp_path / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "npz", [npz]))
        ids = project.ids()
        for n, i in enumerate(ids):  # many classes: many lines of output
            project.set_label([i], f"class_{n:02d}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbi_desktop", "info", "--project", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    proc.wait(60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 1
    # and the same command into a reader that stays prints every class
    full = subprocess.run(
        [sys.executable, "-m", "qbi_desktop", "info", "--project", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert full.returncode == 0 and "class_29" in full.stdout
