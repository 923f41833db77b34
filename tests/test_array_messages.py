"""Array containers and thumbnails that used to end in a traceback or in silence (issue 17.3,
17.11, 17.12): empty or zero-height MNIST/NPZ data, NPZ members that declare more than they hold
or whose compressed data is damaged — through the CLI (exit 2, a message naming the file) and
the core jobs; unreadable items get a visible placeholder thumbnail and a log line."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.images import hash_file
from qbi_desktop.core.catalog.project import NewItem
from qbi_desktop.core.catalog.thumbnails import thumbnail_job, unreadable_thumbnail
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job
from qbi_desktop.core.jobs import run_job


def _cli(home: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QBI_DESKTOP_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "qbi_desktop", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _idx(shape: list[int], data: bytes = b"") -> bytes:
    header = bytes([0, 0, 0x08, len(shape)]) + np.asarray(shape, ">u4").tobytes()
    return gzip.compress(header + data)


def _assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_mnist_with_zero_height_images_is_refused_at_import(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(_idx([4, 0, 28]))
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(_idx([4], bytes([1, 2, 3, 4])))
    result = _cli(
        tmp_path, "import", "--project", str(tmp_path / "p"), "--kind", "mnist", str(folder)
    )
    _assert_refused(result, "train-images-idx3-ubyte.gz", "0 x 28 pixels")
    assert not (tmp_path / "p").exists(), "the refused import's new project is removed"


def test_empty_npz_with_class_names_is_refused_with_a_message(tmp_path):
    path = tmp_path / "empty.npz"
    np.savez(
        path,
        x_train=np.zeros((0, 16, 16), np.uint8),
        y_train=np.zeros(0, np.int64),
        class_names=np.asarray(["cat", "dog"]),
    )
    result = _cli(tmp_path, "import", "--project", str(tmp_path / "p"), "--kind", "npz", str(path))
    _assert_refused(result, "empty.npz [x_train]", "holds no images")


def _npz_claiming_huge(path: Path) -> None:
    buf = io.BytesIO()
    np.lib.format.write_array_header_2_0(
        buf, {"descr": "|u1", "fortran_order": False, "shape": (200_000, 1000, 1000)}
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("x.npy", buf.getvalue() + bytes(1024))
        z.writestr("y.npy", _npy(np.arange(3)))


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _npz_bad_crc(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", _npy(np.ones((8, 32, 32), np.uint8)))
        z.writestr("y.npy", _npy(np.arange(8)))
    data = bytearray(path.read_bytes())
    local = data.index(b"PK\x03\x04")
    data[local + 14 : local + 18] = b"\0\0\0\0"  # the CRC-32 of x.npy
    central = data.index(b"PK\x01\x02")
    data[central + 16 : central + 20] = b"\0\0\0\0"
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "make, expected",
    [(_npz_claiming_huge, "200000 x 1000 x 1000"), (_npz_bad_crc, "damaged")],
)
def test_hostile_npz_through_augment_and_baseline_cli(tmp_path, make, expected):
    path = tmp_path / "x.npz"
    make(path)
    pipeline = tmp_path / "p.json"
    from qbi_desktop.core.augment import Pipeline

    pipeline.write_text(json.dumps(Pipeline.from_options(horizontal_flip=True).to_json()))
    result = _cli(
        tmp_path,
        "augment",
        "--pipeline",
        str(pipeline),
        "--input",
        str(path),
        "--output",
        str(tmp_path / "out"),
        "--copies",
        "1",
    )
    _assert_refused(result, "x.npz", expected)
    result = _cli(tmp_path, "baseline", "--data", f"npz:{path}", "--report", str(tmp_path / "r"))
    _assert_refused(result, "x.npz", expected)


def test_mnist_export_names_an_item_of_zero_height(tmp_path):
    container = tmp_path / "odd.npz"
    np.savez(container, x=np.zeros((2, 0, 28), np.uint8))
    with open_project(tmp_path / "p", create=True) as project:
        with project.transaction() as tx:
            cid = tx.add_container(container, "npz", "x", 2)
            tx.add_items(
                [
                    NewItem(
                        name=f"odd-{i}",
                        hash=f"h{i}",
                        container=cid,
                        index=i,
                        width=28,
                        height=0,
                        label="1",
                    )
                    for i in range(2)
                ]
            )
        with pytest.raises(UserFacingError, match=r"item 1 \(odd-0\).*0 x 28 pixels"):
            run_job(export_job(project, "mnist", tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_unreadable_images_get_a_placeholder_thumbnail_and_a_log_line(tmp_path, caplog):
    images = []
    for i in range(3):
        path = tmp_path / f"img{i}.tif"
        tifffile.imwrite(path, np.full((20, 30), i * 100, np.uint16))
        images.append(path)
    with open_project(tmp_path / "p", create=True) as project:
        with project.transaction() as tx:
            ids = tx.add_items(
                [
                    NewItem(
                        name=p.name,
                        hash=hash_file(p),
                        path=p,
                        size=p.stat().st_size,
                        width=30,
                        height=20,
                    )
                    for p in images
                ]
            )
        images[1].unlink()  # deleted
        images[2].write_bytes(b"II*\x00" + bytes(100))  # garbled
        with caplog.at_level(logging.WARNING):
            run_job(thumbnail_job(project))
        thumbs = project.thumbnails(ids)
    assert set(thumbs) == set(ids), "every item shows something"
    assert thumbs[ids[1]] == thumbs[ids[2]] == unreadable_thumbnail()
    assert thumbs[ids[0]] != unreadable_thumbnail()
    assert "img1.tif" in caplog.text and "img2.tif" in caplog.text
