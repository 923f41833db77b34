"""Crafted HDF5/NeXus files: each is refused with the file and the dataset named, without a
crash, a hang, a huge allocation or a read outside the file's folder."""

from __future__ import annotations

import os
import resource

import numpy as np
import pytest

from qbi_desktop.core.errors import ImageReadError
from qbi_desktop.core.radiography.nexus import default_dataset, list_image_datasets, open_nexus

try:
    from tests.nexus_helpers import write_nexus as _nexus
except ImportError:  # pragma: no cover
    from nexus_helpers import write_nexus as _nexus

h5py = pytest.importorskip("h5py")


def _refused(path, *words, dataset=None):
    with pytest.raises(ImageReadError) as info:
        source = open_nexus(path, dataset)
        source.close()
    message = str(info.value)
    assert str(path) in message, message
    for word in words:
        assert word in message, message
    return message


def test_absurd_declared_shape_is_refused_before_reading(tmp_path):
    # chunked and never written: the file is tiny, its dataset declares 10^6 x 10^6 pixels
    path = _nexus(
        tmp_path / "huge.nxs",
        lambda f, g: g.create_dataset(
            "data", shape=(3, 1_000_000, 1_000_000), dtype=np.uint16, chunks=(1, 64, 64)
        ),
    )
    assert path.stat().st_size < 100_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _refused(path, "/entry/data/data")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200


def test_external_link_outside_the_folder_is_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with h5py.File(outside / "secret.h5", "w") as f:
        f["frames"] = np.ones((2, 8, 8), np.uint16)
    folder = tmp_path / "scan"
    folder.mkdir()

    def build(f, g):
        g["data"] = h5py.ExternalLink("../elsewhere/secret.h5", "/frames")

    path = _nexus(folder / "master.nxs", build)
    message = _refused(path, "/entry/data/data", "external link", dataset="/entry/data/data")
    assert "secret.h5" in message
    # the default search does not follow it either: the file has no image dataset of its own
    _refused(path, "/entry/data/data")


def test_external_link_to_a_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)

    def build(f, g):
        g["data"] = h5py.ExternalLink("pipe.h5", "/frames")

    path = _nexus(tmp_path / "master.nxs", build)
    _refused(path, "/entry/data/data", "pipe.h5", dataset="/entry/data/data")


def test_external_link_in_the_same_folder_is_followed(tmp_path):
    # beamline master files link their frames from data files beside them
    with h5py.File(tmp_path / "data_000001.h5", "w") as f:
        f["frames"] = np.arange(2 * 8 * 8, dtype=np.uint16).reshape(2, 8, 8)

    def build(f, g):
        g["data"] = h5py.ExternalLink("data_000001.h5", "/frames")

    path = _nexus(tmp_path / "master.nxs", build)
    source = open_nexus(path)
    try:
        assert source.n_slices == 2
        assert np.array_equal(source.plane(1).array, np.arange(64, 128).reshape(8, 8))
    finally:
        source.close()


def test_virtual_dataset_is_refused(tmp_path):
    with h5py.File(tmp_path / "part.h5", "w") as f:
        f["frames"] = np.ones((2, 8, 8), np.uint16)

    def build(f, g):
        layout = h5py.VirtualLayout(shape=(2, 8, 8), dtype=np.uint16)
        layout[:] = h5py.VirtualSource(str(tmp_path / "part.h5"), "/frames", shape=(2, 8, 8))
        g.create_virtual_dataset("data", layout)

    path = _nexus(tmp_path / "virtual.nxs", build)
    _refused(path, "/entry/data/data", "virtual")
    _refused(path, "/entry/data/data", "virtual", dataset="/entry/data/data")


def test_a_beamline_master_file_names_the_files_its_virtual_frames_are_in(tmp_path):
    """Diamond's Eiger master files (e.g. Therm_6_2.nxs in nexusformat/exampledata) map
    ``/entry/data/data`` from ``<name>_000001.h5`` beside them, often not copied along: the
    refusal names those files and whether they are there."""
    with h5py.File(tmp_path / "Therm_000001.h5", "w") as f:
        f["data"] = np.ones((2, 8, 8), np.uint16)

    def build(f, g):
        # as in Therm_6_2.nxs: the frames mapped from this file's external link to them
        g["data_000001"] = h5py.ExternalLink("Therm_000001.h5", "/data")
        layout = h5py.VirtualLayout(shape=(2, 8, 8), dtype=np.uint16)
        layout[:] = h5py.VirtualSource(".", "/entry/data/data_000001", shape=(2, 8, 8))
        g.create_virtual_dataset("data", layout)

    path = _nexus(tmp_path / "Therm.nxs", build)
    message = _refused(path, "/entry/data/data", dataset="/entry/data/data")
    through = "mapped from Therm_000001.h5 through /entry/data/data_000001"
    assert f"{through} (beside the file)" in message, message
    (tmp_path / "Therm_000001.h5").unlink()
    message = _refused(path, "/entry/data/data", dataset="/entry/data/data")
    assert f"{through} (not found beside the file)" in message, message


def test_external_raw_storage_is_refused(tmp_path):
    raw = tmp_path.parent / f"{tmp_path.name}_raw.bin"
    raw.write_bytes(bytes(2 * 8 * 8 * 2))

    def build(f, g):
        g.create_dataset("data", shape=(2, 8, 8), dtype=np.uint16, external=[(str(raw), 0, 256)])

    path = _nexus(tmp_path / "external.nxs", build)
    _refused(path, "/entry/data/data", "external", dataset="/entry/data/data")


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("compound", ("compound",)),
        ("one-d", ("1-D",)),
        ("strings", ("text",)),
        ("empty", ("no datasets",)),
    ],
)
def test_files_without_an_image_dataset_name_what_they_hold(tmp_path, kind, words):
    def build(f, g):
        if kind == "compound":
            dt = np.dtype([("x", np.float32), ("y", np.float32)])
            g.create_dataset("data", data=np.zeros((4, 8, 8), dt))
        elif kind == "one-d":
            g.create_dataset("data", data=np.arange(100, dtype=np.float32))
        elif kind == "strings":
            g.create_dataset("data", data=np.array([b"a", b"b"]))

    path = _nexus(tmp_path / f"{kind}.nxs", build)
    message = _refused(path, "no image dataset", *words)
    if kind != "empty":
        assert "/entry/data/data" in message
    with pytest.raises(ImageReadError):
        default_dataset(path)
    assert list_image_datasets(path) == []
    if kind != "empty":
        _refused(path, "/entry/data/data", *words, dataset="/entry/data/data")


def test_soft_link_loop_does_not_hang(tmp_path):
    def build(f, g):
        g["data"] = h5py.SoftLink("/entry/data/loop")
        g["loop"] = h5py.SoftLink("/entry/data/data")

    path = _nexus(tmp_path / "loop.nxs", build)
    _refused(path, "/entry/data/data", dataset="/entry/data/data")
    _refused(path, "no image dataset")
