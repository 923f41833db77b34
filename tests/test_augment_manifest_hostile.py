"""Whatever stands at OUTPUT/manifest.jsonl, augment reads it as a regular file of bounded size
and as records of its own, or refuses naming the file (and the line), at once and without a
traceback: a FIFO (it waited forever), a link to /dev/zero (it read gigabytes), a folder, a
file that is not UTF-8, a line that is no object or a record without its fields. Nothing in
the folder is replaced. The real command line, in a child process (a hang is a timeout)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.augment import Pipeline
from tests.cli_helpers import run_cli


@pytest.fixture
def setup(tmp_path) -> tuple[list[str], Path]:
    (tmp_path / "in").mkdir()
    image = (np.arange(24 * 32) % 4000).astype(np.uint16).reshape(24, 32)
    tifffile.imwrite(tmp_path / "in" / "a.tif", image)
    pipe = tmp_path / "pipe.json"
    Pipeline.from_options(seed=1, rotation_range=10).save(pipe)
    out = tmp_path / "o"
    out.mkdir()
    argv = ["augment", "--pipeline", str(pipe), "--input", str(tmp_path / "in")]
    return [*argv, "--output", str(out), "--copies", "1"], out / "manifest.jsonl"


def _refused(argv: list[str], *words: str) -> str:
    done = run_cli(*argv, timeout=60)
    text = done.stderr + done.stdout
    assert "Traceback" not in text, text[-2000:]
    assert done.returncode == 2, (done.returncode, text[-2000:])
    assert "manifest.jsonl" in done.stderr
    for word in words:
        assert word in done.stderr, done.stderr
    return done.stderr


def test_a_fifo_is_refused_at_once(setup):
    argv, manifest = setup
    os.mkfifo(manifest)
    _refused(argv, "named pipe")


def test_a_link_to_an_endless_device_is_refused_without_reading_it(setup):
    argv, manifest = setup
    manifest.symlink_to("/dev/zero")
    _refused(argv, "device")


def test_a_folder_is_refused(setup):
    argv, manifest = setup
    manifest.mkdir()
    _refused(argv, "a folder")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff\xfe", ["UTF-8"]),
        (b"[1, 2]\n", ["line 1", "an array, not a JSON object"]),
        (b'{"type": "output"}\n', ["line 1", '"item"']),
        (b"my notes\n", ["line 1", "not JSON"]),
        (b'{"type": "run", "format": "something else"}\n', ["line 1", "another format"]),
    ],
    ids=["not-utf8", "array", "no-item", "notes", "other-header"],
)
def test_a_file_that_is_no_manifest_of_ours_is_refused_and_kept(setup, content, words):
    argv, manifest = setup
    manifest.write_bytes(content)
    _refused(argv, *words, "Nothing was written")
    assert manifest.read_bytes() == content
    assert not any((manifest.parent / "images").glob("*.tif"))


def test_a_bad_line_inside_our_own_manifest_is_named_with_its_number(setup):
    argv, manifest = setup
    assert run_cli(*argv).returncode == 0
    lines = manifest.read_text().splitlines()
    escaping = '{"type": "output", "item": 0, "copy": 1, "image": "../../etc/passwd"}'
    manifest.write_text("\n".join([lines[0], escaping, *lines[1:]]) + "\n")
    _refused(argv, "line 2", '"image" is not a file in images/')


def test_a_torn_last_line_of_our_own_manifest_is_still_resumed(setup):
    argv, manifest = setup
    assert run_cli(*argv).returncode == 0
    with open(manifest, "a") as f:
        f.write('{"type": "output", "item": 0, "co')
    done = run_cli(*argv)
    assert done.returncode == 0, done.stderr
    assert "1 of 1 already written" in done.stderr + done.stdout
