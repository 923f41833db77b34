"""Unclear messages of the hostile-input campaign (/tmp/s18/hostile, finding 10): a sheet naming
a FIFO, a folder or a link loop said "not found"; names were printed with their newline raw;
``simulate`` into its own stopped run said the files were not its own; ``baseline --report``
on a folder it cannot make worked first and refused after; a Data Package whose "resources" is
an object said none were listed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.cli import main as cli_main
from qbi_desktop.core.errors import shown_name, terminal_safe


def _run(capsys, *argv) -> tuple[int, str]:
    code = cli_main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.err + out.out


# -- a sheet naming something that is there but is no file ------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_sheet_naming_a_fifo_a_folder_or_a_link_loop_says_what_it_is(tmp_path, capsys):
    images = tmp_path / "sh" / "images"
    images.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(images / "ok.png")
    os.mkfifo(images / "pipe.tif")
    (images / "dir.tif").mkdir()
    (images / "loop1.tif").symlink_to("loop2.tif")
    (images / "loop2.tif").symlink_to("loop1.tif")
    (images / "dangling.tif").symlink_to("gone.tif")
    sheet = tmp_path / "sh" / "s.csv"
    rows = ["pipe.tif", "dir.tif", "loop1.tif", "dangling.tif", "none.tif", "ok.png"]
    sheet.write_text("image,label\n" + "".join(f"images/{r},a\n" for r in rows))
    code, text = _run(capsys, "import", "--project", tmp_path / "p", "--kind", "sheet", sheet)
    assert code == 2, text
    assert "row 2: image 'images/pipe.tif' in" in text
    assert "is a named pipe (FIFO), not a regular file" in text
    assert "row 3: image 'images/dir.tif' in" in text and "is a folder, not a regular file" in text
    assert "row 4: image 'images/loop1.tif' in" in text and "is a loop of symbolic links" in text
    assert "row 5: image 'images/dangling.tif' in" in text and "symbolic link to nothing" in text
    assert "row 6: image 'images/none.tif' not found in" in text  # missing: as before
    assert "row 7" not in text
    assert text.count("not found") == 1


# -- names on the terminal ----------------------------------------------------------------------


def test_a_name_is_shown_on_one_line_with_every_control_character_escaped_one_way():
    name = "\x1b[31mred\nx\ty\rz\x7f\u202e"
    shown = shown_name(name)
    assert "\n" not in shown and "\x1b" not in shown and "\r" not in shown and "\t" not in shown
    assert shown == repr(name)[1:-1]  # the notation of Python's repr, used in messages
    # a message keeps its lines, its other control characters escaped the same way
    assert terminal_safe("a\tb\nc\x1b") == "a\\tb\nc\\x1b"


# -- simulate into its own stopped run ------------------------------------------------------------


def test_simulate_run_again_into_its_own_stopped_run_writes_the_set(tmp_path, capsys):
    out = tmp_path / "sim"
    main = "import sys; from qbi_desktop.cli import main; sys.exit(main(sys.argv[1:]))"
    command = [sys.executable, "-c", main, "simulate", "--count", "400"]
    proc = subprocess.Popen(
        [*command, "--size", "512", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "sim_0001_objects.tif").exists():  # stopped after two images
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # as a full disk or a power cut stops it
    finally:
        proc.kill()
        proc.wait()
    code, text = _run(capsys, "simulate", "--count", "3", "--size", "64", "--out", out)
    assert code == 0, text
    assert "not written by this command" not in text
    done = json.loads((out / "simulation.json").read_text())
    assert done["complete"] is True and [e["index"] for e in done["images"]] == [0, 1, 2]
    # the stopped run's later images are still known as the command's own
    code, text = _run(capsys, "simulate", "--count", "4", "--size", "64", "--out", out)
    assert code == 0, text


# -- report folders checked before the work -------------------------------------------------------


def test_baseline_refuses_a_report_folder_it_cannot_make_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    missing = tmp_path / "no-such-data"
    code, text = _run(capsys, "baseline", "--data", missing, "--report", blocker / "rep", "--quiet")
    assert code == 2
    # the report folder is named first: the data (the work) is not even opened
    assert "--report" in text and "cannot create the folder" in text, text
    assert "no-such-data" not in text
    code, text = _run(capsys, "baseline", "--report", blocker / "rep", "--quiet")
    assert code == 2 and "cannot create the folder" in text
    assert "report written" not in text and not (blocker.parent / "rep").exists()


def test_audit_refuses_an_out_folder_it_cannot_make_before_opening_the_project(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    code, text = _run(
        capsys, "audit", "--project", tmp_path / "nothing", "--out", blocker / "audit"
    )
    assert code == 2
    assert "cannot create the folder" in text and "is not a folder" in text, text


# -- a Data Package whose resources are no list ---------------------------------------------------


@pytest.mark.parametrize(
    "resources, said",
    [
        ({}, "'resources' is an object ({}), not a list"),
        ({"path": "items.csv"}, "'resources' is an object, not a list"),
        ("items.csv", "'resources' is a text, not a list"),
        ([], "no 'resources' listed (an empty list)"),
        (None, "no 'resources' listed (missing)"),
    ],
)
def test_a_data_package_names_what_is_wrong_with_its_resources(tmp_path, capsys, resources, said):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    descriptor = {"name": "x"} if resources is None else {"name": "x", "resources": resources}
    (pkg / "datapackage.json").write_text(json.dumps(descriptor))
    code, text = _run(capsys, "import", "--project", tmp_path / "p", "--kind", "datapackage", pkg)
    assert code == 2
    assert said in text, text


def test_names_with_line_breaks_stay_on_their_line_in_every_listing(tmp_path):
    import sqlite3

    from cli_helpers import run_cli
    from PIL import Image

    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.formats import import_job
    from qbi_desktop.core.jobs import run_job

    src = tmp_path / "src" / "cat"
    src.mkdir(parents=True)
    Image.new("L", (8, 8)).save(src / "a.png")
    root = tmp_path / "p"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [tmp_path / "src"]))
    bad = "\x1b[31mred\nx"  # written by another program: the catalog is input too
    db = sqlite3.connect(root / "catalog.sqlite")
    with db:
        db.execute("UPDATE items SET label = ?", (bad,))
        db.execute(
            "INSERT INTO boxes(item_id, label, x, y, w, h) VALUES (1, ?, 1, 1, 2, 2)", (bad,)
        )
    db.close()
    for args in (["info", "--project", str(root)], ["classes", "--project", str(root)],
                 ["boxes", "--project", str(root), "--item", "1"]):  # fmt: skip
        done = run_cli(*args)
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stdout and "red\nx" not in done.stdout, args
        assert "\\x1b[31mred\\nx" in done.stdout, (args, done.stdout)
