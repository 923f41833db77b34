"""A datapackage's files are found through the same rule as every other importer's
(safefile.resolve_inside): a listed file that is a symbolic link to a file outside the package
was imported (its bytes and checksum matched, so nothing looked wrong) and the project then
referenced a host file; a listed FIFO was reported as missing."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import tifffile

try:
    from tests.cli_helpers import run_cli
except ImportError:  # pragma: no cover
    from cli_helpers import run_cli


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """A datapackage exported by the app from a project of four real images."""
    root = tmp_path_factory.mktemp("package")
    for label in ("a", "b"):
        (root / "src" / label).mkdir(parents=True)
        for i in range(2):
            image = np.full((16, 16), 100 * i + ord(label), np.uint16)
            tifffile.imwrite(root / "src" / label / f"{label}{i}.tif", image)
    done = run_cli(
        "import", "--project", str(root / "p"), "--kind", "imagefolder", str(root / "src")
    )
    assert done.returncode == 0, done.stderr
    done = run_cli(
        "export", "--project", str(root / "p"), "--kind", "datapackage", "--out", str(root / "pkg")
    )
    assert done.returncode == 0, done.stderr
    return root / "pkg"


def _first_file(package):
    doc = json.loads((package / "datapackage.json").read_text())
    return next(r["path"] for r in doc["resources"] if r["path"].endswith(".tif"))


def _import(tmp_path, package):
    return run_cli(
        "import", "--project", str(tmp_path / "p"), "--kind", "datapackage", str(package)
    )


def test_a_listed_file_linking_outside_the_package_is_refused(tmp_path, package):
    copy = tmp_path / "pkg"
    shutil.copytree(package, copy)
    listed = copy / _first_file(copy)
    outside = tmp_path / "host-file.tif"  # the same bytes: size and checksum match
    shutil.copy(listed, outside)
    listed.unlink()
    os.symlink(outside, listed)
    done = _import(tmp_path, copy)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "leads outside" in done.stderr and str(outside) in done.stderr
    assert not (tmp_path / "p").exists()


def test_a_listed_fifo_is_named_as_one_and_does_not_block(tmp_path, package):
    copy = tmp_path / "pkg"
    shutil.copytree(package, copy)
    listed = copy / _first_file(copy)
    listed.unlink()
    os.mkfifo(listed)
    done = _import(tmp_path, copy)
    assert done.returncode == 2, done.stderr
    assert f"{listed}: listed in datapackage.json but is a named pipe" in done.stderr


def test_the_package_as_exported_still_imports(tmp_path, package):
    done = _import(tmp_path, package)
    assert done.returncode == 0, done.stderr
    assert "4 item(s) added" in done.stdout
