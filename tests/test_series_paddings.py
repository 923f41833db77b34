"""One frame number in several paddings (s_0001, s_001, s_1): the commands that read a series
folder (detect-spots, normalize, clean-spots, through ``find_series``) refuse it naming the
files, as the series import does; an unpadded series (s_1 .. s_12) is read whole."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats.series_import import import_series_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.radiography.frames import expand_frames
from qbi_desktop.core.radiography.series import SeriesError, find_series, open_series
from tests.cli_helpers import run_cli


def _frames(folder, names):
    folder.mkdir()
    for k, name in enumerate(names):
        tifffile.imwrite(folder / name, np.full((8, 8), k, np.uint16))
    return folder


def test_a_folder_naming_a_frame_in_several_paddings_is_refused_naming_the_files(tmp_path):
    folder = _frames(tmp_path / "ser", ["s_0001.tif", "s_0002.tif", "s_001.tif", "s_1.tif"])
    with pytest.raises(SeriesError) as caught:
        find_series(folder)
    message = str(caught.value)
    assert str(folder) in message and "frame 1" in message and "ambiguous" in message
    assert "s_0001.tif, s_001.tif, s_1.tif" in message
    # the frame list the spot commands read is refused the same way
    with pytest.raises(SeriesError, match="s_0001.tif, s_001.tif, s_1.tif"):
        expand_frames([folder])
    # a pattern or one of the frames names its padding: that series is meant, nothing guessed
    assert [p.name for p in find_series(folder / "s_####.tif").paths] == [
        "s_0001.tif",
        "s_0002.tif",
    ]
    assert [p.name for p in find_series(folder / "s_001.tif").paths] == ["s_001.tif"]


def test_the_series_import_and_the_commands_give_the_same_refusal(tmp_path):
    folder = _frames(tmp_path / "ser", ["s_0001.tif", "s_0002.tif", "s_01.tif"])
    with pytest.raises(SeriesError) as by_commands:
        find_series(folder)
    with open_project(tmp_path / "proj", create=True) as project:
        with pytest.raises(Exception) as by_import:
            run_job(import_series_job(project, [folder]))
        assert len(project) == 0
    assert str(by_import.value) == str(by_commands.value)
    done = run_cli("detect-spots", str(folder), "--no-hot-pixels", "--out", str(tmp_path / "o"))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "s_0001.tif, s_01.tif" in done.stderr and "ambiguous" in done.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_an_unpadded_series_is_read_whole(tmp_path):
    names = [f"s_{n}.tif" for n in range(1, 13)]
    folder = _frames(tmp_path / "ser", names)
    series = find_series(folder)
    assert series.numbers == list(range(1, 13))  # not s_1 .. s_9 with 10 .. 12 left out
    assert [p.name for p in series.paths] == names
    assert find_series(folder / "s_11.tif").numbers == list(range(1, 13))
    source = open_series(folder)
    try:
        assert source.n_slices == 12
        assert int(source.plane(11).array[0, 0]) == 11  # s_12.tif
    finally:
        source.close()
    # an unpadded series with one frame also written padded: refused, naming both
    tifffile.imwrite(folder / "s_07.tif", np.zeros((8, 8), np.uint16))
    with pytest.raises(SeriesError, match=r"frame 7 is named by 2 files, s_7.tif, s_07.tif"):
        find_series(folder)
