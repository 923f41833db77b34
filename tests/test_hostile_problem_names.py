"""A refused import lists its problems as "file: reason"; where the reader's own message named
the file too, the file came twice ("obj.npz: obj.npz: array 'x' cannot be read safely",
"d/lie-idx3-ubyte: d/lie-idx3-ubyte: IDX data is truncated"). Now each line names it once."""

from __future__ import annotations

import struct

import numpy as np

try:
    from tests.cli_helpers import run_cli
except ImportError:  # pragma: no cover
    from cli_helpers import run_cli


def _problem_lines(done):
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    return [line for line in done.stderr.splitlines() if line.startswith("  - ")]


def test_an_npz_of_objects_is_refused_naming_the_file_once_and_never_unpickled(tmp_path):
    path = tmp_path / "obj.npz"
    marker = tmp_path / "unpickled"
    # an object array whose unpickling would run code: it must never be loaded
    np.savez(path, x=np.array([_Trap(str(marker))], dtype=object), y=np.array([0]))
    done = run_cli("import", "--project", str(tmp_path / "p"), "--kind", "npz", str(path))
    [line] = _problem_lines(done)
    assert line.count("obj.npz") == 1 and "cannot be read safely" in line, line
    assert not marker.exists()


def test_an_idx_file_lying_about_its_count_is_named_once(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    with open(folder / "train-images-idx3-ubyte", "wb") as out:
        out.write(struct.pack(">IIII", 0x803, 60000, 28, 28) + bytes(28 * 28 * 10))
    with open(folder / "train-labels-idx1-ubyte", "wb") as out:
        out.write(struct.pack(">II", 0x801, 10) + bytes(10))
    done = run_cli("import", "--project", str(tmp_path / "p"), "--kind", "mnist", str(folder))
    [line] = _problem_lines(done)
    assert line.count("train-images-idx3-ubyte") == 1 and "60000" in line, line


class _Trap:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_bigtiff_whose_first_page_is_past_its_end_gives_one_line_naming_it(tmp_path):
    """tifffile's own warning ("<tifffile.TiffPages @16> invalid offset to first page 16")
    was printed raw before our message, naming no file."""
    import tifffile

    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.zeros((8, 8), np.uint16), bigtiff=True)
    bad = tmp_path / "cut.tif"
    bad.write_bytes(good.read_bytes()[:16])  # the header only: its first page at byte 16
    done = run_cli("measure", str(bad), "--rect", "0", "0", "2", "2")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"qbi-desktop measure: {bad}: " + _reason(bad)]


def _reason(path):
    from qbi_desktop.core import io
    from qbi_desktop.core.errors import ImageReadError

    try:
        io.open_image(path)
    except ImageReadError as exc:
        return exc.problem
    raise AssertionError(f"{path} opened")


def test_an_import_says_why_a_header_cannot_be_read_as_the_viewer_does(tmp_path):
    """The import said only "not a readable image" where the viewer says what is wrong."""
    import tifffile

    (tmp_path / "src" / "c").mkdir(parents=True)
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.zeros((8, 8), np.uint16), bigtiff=True)
    bad = tmp_path / "src" / "c" / "cut.tif"
    bad.write_bytes(good.read_bytes()[:16])
    project = tmp_path / "p"
    done = run_cli(
        "import", "--project", str(project), "--kind", "imagefolder", str(tmp_path / "src")
    )
    [line] = _problem_lines(done)
    assert line == f"  - {bad}: {_reason(bad)}"
