"""Project masks are stored as unsigned 8/16/32-bit label TIFFs. A mask whose labels do not fit
(2**32 + 7, 2**40, -3) is refused, naming the file and the values, wherever it enters the
catalog: narrowing wrapped 2**32 + 7 to 7 and 2**40 to 0 (a region became background), and
negative labels were stored as they came, all without a word."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.catalog import ImportRejected, open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from tests.cli_helpers import run_cli


def _folders(tmp_path: Path, mask: np.ndarray, name: str = "a.tif") -> tuple[Path, Path]:
    images, masks = tmp_path / "img", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    tifffile.imwrite(images / "a.tif", np.ones(mask.shape, np.uint16))
    tifffile.imwrite(masks / name, mask)
    return images, masks


def test_uint64_labels_beyond_32_bits_are_refused_naming_file_and_values(tmp_path):
    mask = np.zeros((16, 16), np.uint64)
    mask[:8] = 2**32 + 7
    mask[8:] = 2**40
    images, masks = _folders(tmp_path, mask)
    r = run_cli("import", "--project", str(tmp_path / "p"), "--kind", "masks", "--images",
                str(images), str(masks))  # fmt: skip
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr
    assert "a.tif" in r.stderr
    assert "4294967303" in r.stderr and "1099511627776" in r.stderr
    assert not (tmp_path / "p" / "catalog.sqlite").exists()


@pytest.mark.parametrize("dtype", [np.int16, np.int64, np.float32])
def test_negative_labels_are_refused(tmp_path, dtype):
    images, masks = _folders(tmp_path, np.full((16, 16), -3, dtype))
    p = open_project(tmp_path / "p", create=True)
    with pytest.raises(ImportRejected) as exc:
        run_job(import_job(p, "masks", [masks, images]))
    assert "a.tif" in str(exc.value) and "-3" in str(exc.value)
    assert p.count() == 0


def test_labels_that_fit_32_bits_are_kept_exactly(tmp_path):
    mask = np.zeros((16, 16), np.int64)
    mask[:8] = 2**32 - 1
    mask[8:, :4] = 70000
    images, masks = _folders(tmp_path, mask)
    p = open_project(tmp_path / "p", create=True)
    run_job(import_job(p, "masks", [masks, images]))
    (item,) = p.ids()
    stored = p.mask(item)
    assert stored.dtype == np.uint32
    assert np.array_equal(stored.astype(np.int64), mask)


def test_every_path_into_the_store_refuses_out_of_range_labels(tmp_path):
    """The catalog's own set_mask (consensus, review, the Browser, COCO and labelme imports
    all store through it) refuses instead of wrapping."""
    images, masks = _folders(tmp_path, np.ones((16, 16), np.uint8))
    p = open_project(tmp_path / "p", create=True)
    run_job(import_job(p, "masks", [masks, images]))
    (item,) = p.ids()
    for bad, shown in ((np.full((16, 16), 2**40, np.uint64), "1099511627776"),
                       (np.full((16, 16), -3, np.int32), "-3")):  # fmt: skip
        with pytest.raises(UserFacingError) as exc:
            p.set_mask(item, bad)
        assert f"item {item}" in str(exc.value) and shown in str(exc.value)
        assert np.array_equal(p.mask(item), np.ones((16, 16)))
