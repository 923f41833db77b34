"""`qbi-desktop audit` says on the console which items it left out and why (an image that
became a named pipe or a device cannot be read), not only in summary.json: "audit of 10
items" alone would pass for an audit of the whole project."""

from __future__ import annotations

import json
import os

import numpy as np
import tifffile
from cli_helpers import run_cli


def test_audit_names_the_items_it_left_out_on_the_console(tmp_path):
    images = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for cls, level in (("a", 100), ("b", 3000)):
        (images / cls).mkdir(parents=True)
        for k in range(6):
            pixels = rng.normal(level, 10, (8, 8)).clip(0, 65535).astype(np.uint16)
            tifffile.imwrite(images / cls / f"{cls}{k}.tif", pixels)
    root = tmp_path / "proj"
    done = run_cli("import", "--project", str(root), "--kind", "imagefolder", str(images))
    assert done.returncode == 0, done.stderr
    for name in ("a/a5.tif", "b/b5.tif"):
        (images / name).unlink()
        os.mkfifo(images / name)
    out = tmp_path / "audit"
    done = run_cli("audit", "--project", str(root), "--out", str(out), "--folds", "2",
                   "--k", "3", "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["left_out"]) == 2
    lines = done.stdout.splitlines()
    assert lines[0].startswith("audit of 10 items")
    assert "left out 2 item(s) that could not be read or used" in lines[1]
    shown = "\n".join(lines[2:4])
    assert "a5.tif" in shown and "b5.tif" in shown and "named pipe" in shown
