"""Hostile campaign s18, finding 7: ``repair`` crashed with ``sqlite3.DatabaseError`` on a
truncated catalog and on one whose pages after the header are garbage (only OperationalError
was caught around ``BEGIN IMMEDIATE``), and called a 0-byte catalog "whole". It now says what
``info`` says, and leaves every file as it was. The upgrade step no longer makes an empty
catalog where one has gone."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.catalog.errors import CatalogCorruptError
from qbi_desktop.core.catalog.images import hash_file
from qbi_desktop.core.catalog.repair import repair_catalog


@pytest.fixture(scope="module")
def catalog_bytes(tmp_path_factory) -> bytes:
    """A real catalog of 300 items (large enough that its first 20 000 bytes are a part)."""
    tmp = tmp_path_factory.mktemp("whole")
    images = tmp / "images"
    images.mkdir()
    items = []
    for i in range(300):
        path = images / f"plate_{i:04d}.tif"
        tifffile.imwrite(path, np.full((4, 4), i, np.uint16))
        items.append(
            NewItem(name=path.name, hash=hash_file(path), path=path, width=4, height=4, label="a")
        )
    project = open_project(tmp / "p", create=True)
    with project.transaction() as tx:
        tx.add_items(items)
    project.close()
    data = (tmp / "p" / "catalog.sqlite").read_bytes()
    assert len(data) > 40_000
    return data


def _project(tmp_path, name: str, data: bytes):
    root = tmp_path / name
    root.mkdir()
    (root / "catalog.sqlite").write_bytes(data)
    return root


def _damaged(catalog_bytes: bytes) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {
        "cr_trunc": catalog_bytes[:20000],
        "cr_hdr": catalog_bytes[:4096] + rng.integers(0, 256, 50000, np.uint8).tobytes(),
    }


@pytest.mark.parametrize("name", ["cr_trunc", "cr_hdr"])
def test_a_malformed_catalog_is_refused_with_a_message_and_left_alone(
    tmp_path, catalog_bytes, name
):
    data = _damaged(catalog_bytes)[name]
    root = _project(tmp_path, name, data)
    with pytest.raises(CatalogCorruptError) as info:
        repair_catalog(root)
    text = str(info.value)
    assert str(root / "catalog.sqlite") in text
    assert "not a readable SQLite catalog" in text and "malformed" in text
    assert "nothing was changed" in text and "backup" in text
    assert (root / "catalog.sqlite").read_bytes() == data
    assert sorted(os.listdir(root)) == ["catalog.sqlite"]  # no copy, no temporary file


def test_an_empty_catalog_is_not_called_whole(tmp_path):
    root = _project(tmp_path, "cr_empty", b"")
    with pytest.raises(CatalogCorruptError, match=r"the catalog file is empty \(0 bytes\)"):
        repair_catalog(root)
    assert (root / "catalog.sqlite").read_bytes() == b""
    assert sorted(os.listdir(root)) == ["catalog.sqlite"]


@pytest.mark.parametrize("name", ["cr_trunc", "cr_empty"])
def test_the_repair_command_says_it_in_one_line(tmp_path, catalog_bytes, capsys, name):
    from qbi_desktop.cli import main

    data = _damaged(catalog_bytes).get(name, b"")
    root = _project(tmp_path, name, data)
    code = main(["repair", "--project", str(root)])
    err = capsys.readouterr().err
    assert code != 0 and code != 1  # a refusal, not a crash
    assert "Traceback" not in err and "DatabaseError" not in err
    assert "whole" not in capsys.readouterr().out
    assert ("empty (0 bytes)" if name == "cr_empty" else "not a readable SQLite catalog") in err


def test_a_whole_catalog_is_still_whole(tmp_path, catalog_bytes):
    root = _project(tmp_path, "p", catalog_bytes)
    result = repair_catalog(root)
    assert not result.repaired


def test_the_upgrade_job_never_makes_a_catalog_that_has_gone(tmp_path):
    from qbi_desktop.core.catalog.upgrade import upgrade_job
    from qbi_desktop.core.jobs import run_job

    root = tmp_path / "moved_away"
    root.mkdir()
    with pytest.raises(CatalogCorruptError, match="cannot open catalog"):
        run_job(upgrade_job(root))
    assert os.listdir(root) == []
