"""A project on a read-only folder (a read-only disk or share, a colleague's folder without
write permission) can still be read: `info`, `export`, `audit`, `baseline`, `agreement`
(without --consensus), listing `boxes` and `classes`, and augmenting from it only read and
work there, leaving the catalog as it was; commands that write refuse with a message.

As root, permissions do not stop writes, so the folder is made read-only with a read-only bind
mount; as another user, with ``chmod -R a-w``. Where neither is possible the tests skip."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import subprocess

import numpy as np
import pytest
from cli_helpers import run_cli
from sklearn.datasets import load_digits

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.errors import ProjectReadOnlyError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


@contextlib.contextmanager
def _read_only(folder):
    """``folder`` made read-only for this process for the duration of the block."""
    if os.geteuid() != 0:
        modes = {}
        for path in [folder, *folder.rglob("*")]:
            modes[path] = path.stat().st_mode
            path.chmod(modes[path] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        try:
            yield folder
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    view = folder.with_name(folder.name + "_ro")
    view.mkdir()
    done = subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True)
    if done.returncode != 0:
        view.rmdir()
        pytest.skip(f"cannot bind-mount as root here: {done.stderr.decode().strip()}")
    try:
        ro = subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], capture_output=True)
        if ro.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {ro.stderr.decode().strip()}")
        yield view
    finally:
        subprocess.run(["umount", str(view)], capture_output=True)
        view.rmdir()


def _digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def project_root(tmp_path):
    d = load_digits()
    x = (d.images[:200] * 16).clip(0, 255).astype(np.uint8)
    y = d.target[:200]
    root = tmp_path / "proj"
    npz = tmp_path / "digits.npz"
    np.savez(npz, x_train=x[:150], y_train=y[:150], x_test=x[150:], y_test=y[150:])
    with open_project(root, create=True) as project:
        run_job(import_job(project, "npz", [npz]))
    return root


def test_reading_commands_work_on_a_read_only_project_and_change_nothing(project_root, tmp_path):
    before = _digest(project_root)
    with _read_only(project_root) as ro:
        with pytest.raises(OSError):
            (ro / "probe").write_text("x")  # really read-only
        info = run_cli("info", "--project", str(ro))
        assert info.returncode == 0, info.stderr
        assert "200 item(s)" in info.stdout
        export = run_cli(
            "export", "--project", str(ro), "--kind", "imagefolder", "--out", str(tmp_path / "exp")
        )
        assert export.returncode == 0, export.stderr
        assert len(list((tmp_path / "exp").rglob("*.png"))) == 200
        audit = run_cli("audit", "--project", str(ro), "--out", str(tmp_path / "aud"), "--quiet")
        assert audit.returncode == 0, audit.stderr
        assert "audit of 200 items" in audit.stdout
        assert (tmp_path / "aud" / "issues.csv").is_file()
        base = run_cli(
            "baseline",
            "--data",
            f"project:{ro}",
            "--model",
            "knn",
            "--k",
            "1",
            "--report",
            str(tmp_path / "rep"),
            "--quiet",
        )
        assert base.returncode == 0, base.stderr
        assert (tmp_path / "rep").is_dir()
    assert _digest(project_root) == before


def test_writing_commands_refuse_a_read_only_project_with_a_message(project_root):
    before = _digest(project_root)
    with _read_only(project_root) as ro:
        label = run_cli("label", "--project", str(ro), "--ids", "1", "--class", "7")
        assert label.returncode == 2
        assert "not writable" in label.stderr and "Traceback" not in label.stderr
        with open_project(ro, read_only=True) as project:
            assert project.read_only
            assert len(project) == 200
            with pytest.raises(ProjectReadOnlyError, match="read-only"):
                project.set_label([1], "7")
    assert _digest(project_root) == before


def test_listing_boxes_and_classes_agreement_and_augmenting_from_it_work_read_only(
    project_root, tmp_path
):
    from qbi_desktop.core.augment import Pipeline

    pipeline = tmp_path / "p.json"
    Pipeline.from_options(rotation_range=10).save(pipeline)
    with open_project(project_root) as project:  # two people's labels to compare
        project.set_label([1, 2, 3], "3", "ann")
        project.set_label([1, 2, 3], "5", "bea")
    before = _digest(project_root)
    with _read_only(project_root) as ro:
        boxes = run_cli("boxes", "--project", str(ro), "--item", "1")
        assert boxes.returncode == 0, boxes.stderr
        assert "item 1: 0 box(es)" in boxes.stdout
        classes = run_cli("classes", "--project", str(ro))
        assert classes.returncode == 0, classes.stderr
        assert "7" in classes.stdout
        agreement = run_cli("agreement", "--project", str(ro), "--out", str(tmp_path / "agr"))
        assert agreement.returncode == 0, agreement.stderr
        assert any((tmp_path / "agr").iterdir())
        out = tmp_path / "aug"
        augment = run_cli(
            "augment", "--pipeline", str(pipeline), "--input", str(ro), "--output", str(out),
            "--copies", "1", "--items", "all", "--workers", "1",
        )  # fmt: skip
        assert augment.returncode == 0, augment.stderr
        assert len([p for p in out.rglob("*") if p.suffix in (".png", ".tif")]) == 200
        # what writes still refuses, clearly
        adding = run_cli("boxes", "--project", str(ro), "--item", "1", "--add", "a,1,1,3,3")
        assert adding.returncode == 2 and "not writable" in adding.stderr
    assert _digest(project_root) == before
