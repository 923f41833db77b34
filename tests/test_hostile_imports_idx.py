"""Hostile MNIST IDX files: junk after the image data, more label bytes than the header
counts, a second gzip member, labels that disagree with the images in number, int32 labels of
-1 or 2^31-1 and float labels are refused with the file and what was expected vs found
(exit code 2, nothing imported); the real MNIST files still import."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from formats_hostile_helpers import _cli

from qbi_desktop.core.catalog import ImportRejected, open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def _images(n=3, h=4, w=4, extra=b""):
    pixels = np.arange(n * h * w, dtype=np.uint8).tobytes()
    return struct.pack(">BBBBIII", 0, 0, 8, 3, n, h, w) + pixels + extra


def _labels(values, code=0x08, fmt="B"):
    return struct.pack(">BBBBI", 0, 0, code, 1, len(values)) + struct.pack(
        f">{len(values)}{fmt}", *values
    )


def _write(folder: Path, images: bytes, labels: bytes, gz=False) -> Path:
    folder.mkdir(parents=True)
    suffix = ".gz" if gz else ""
    for name, data in (("images-idx3", images), ("labels-idx1", labels)):
        path = folder / f"train-{name}-ubyte{suffix}"
        path.write_bytes(gzip.compress(data) if gz else data)
    return folder


def _refusal(tmp_path, folder) -> str:
    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(project, "mnist", [folder]))
        assert len(project) == 0
    return str(caught.value)


CASES = [
    (
        "junk after the images",
        lambda: (_images(extra=b"X" * 1000), _labels([1, 2, 3])),
        False,
        ["train-images-idx3-ubyte:", "1000 byte(s) of data after the 3 x 4 x 4 values"],
    ),
    (
        "50 extra label bytes",
        lambda: (_images(), _labels([1, 2, 3]) + b"\x01" * 50),
        False,
        ["train-labels-idx1-ubyte:", "50 byte(s) of data after the 3 values"],
    ),
    (
        "a second gzip member",
        lambda: (_images(), _labels([1, 2, 3])),
        "concat",
        ["train-images-idx3-ubyte.gz:", "data after the 3 x 4 x 4 values", "gzip member"],
    ),
    (
        "more labels than images",
        lambda: (_images(), _labels([1, 2, 3, 4, 5])),
        False,
        ["train-labels-idx1-ubyte:", "labels of shape (5,), expected (3,)"],
    ),
    (
        "int32 labels -1 and 2^31-1",
        lambda: (_images(), _labels([5, -1, 2**31 - 1], 0x0C, "i")),
        False,
        ["train-labels-idx1-ubyte:", "label 1 is -1, not a class index 0..65535", "(2 such"],
    ),
    (
        "float labels",
        lambda: (_images(), _labels([0.5, 1, 2], 0x0D, "f")),
        False,
        ["train-labels-idx1-ubyte:", "class labels must be integers"],
    ),
]


@pytest.mark.parametrize(("what", "make", "gz", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_idx_pairs_are_refused_naming_file_and_expectation(tmp_path, what, make, gz, words):
    images, labels = make()
    folder = _write(tmp_path / "in", images, labels, gz=bool(gz))
    if gz == "concat":
        path = folder / "train-images-idx3-ubyte.gz"
        path.write_bytes(path.read_bytes() + gzip.compress(b"EXTRA" * 10))
    message = _refusal(tmp_path, folder)
    for word in words:
        assert word in message


def test_the_command_line_exits_2(tmp_path, capsys):
    folder = _write(tmp_path / "in", _images(extra=b"X" * 1000), _labels([1, 2, 3]))
    code, err = _cli(capsys, "import", "--kind", "mnist", folder, "--project", tmp_path / "p")
    assert code == 2 and "of data after" in err


@pytest.mark.parametrize("gz", [False, True])
def test_a_clean_pair_imports(tmp_path, gz):
    folder = _write(tmp_path / "in", _images(), _labels([7, 0, 255]), gz=gz)
    with open_project(tmp_path / "p", create=True) as project:
        run_job(import_job(project, "mnist", [folder]))
        labels = [r["label"] for r in project.query(limit=None, sort="id")]
    assert labels == ["7", "0", "255"]


@pytest.mark.skipif(not MNIST.is_dir(), reason="real MNIST files not present")
def test_real_mnist_test_set_still_imports(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).symlink_to(MNIST / name)
    with open_project(tmp_path / "p", create=True) as project:
        report = run_job(import_job(project, "mnist", [folder]))
    assert report.added == 10_000
