"""Hostile NPZ archives (x/y convention): a 0-d ``y``, a 0-d or 2-D ``class_names``, names given
twice in ``class_names`` or ``target_names``, unusable names or string labels (empty, NUL,
200 000 characters), and a bare .npy file given as an archive are refused with the file, the
member and the problem named (exit code 2), never a traceback or silently merged classes."""

from __future__ import annotations

import numpy as np
import pytest
from formats_hostile_helpers import _cli

from qbi_desktop.core.catalog import ImportRejected, open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

X = np.arange(3 * 8 * 8, dtype=np.uint8).reshape(3, 8, 8)

CASES = [
    # (members beside x, words the message must hold)
    ({"y": np.array(3)}, ["[x]", "y is a single value", "not one per image"]),
    (
        {"y": np.array([0, 1, 2]), "class_names": np.array("abc")},
        ["class_names: expected a 1-D list of names", "shape ()"],
    ),
    (
        {"y": np.array([0, 1, 2]), "class_names": np.array([["a", "b"], ["c", "d"], ["e", "f"]])},
        ["class_names: expected a 1-D list", "shape (3, 2)"],
    ),
    (
        {"y": np.array([0, 1, 2]), "class_names": np.array(["a", "b", "a"])},
        ["class_names: 'a' appears twice (at 0 and 2)", "would become one"],
    ),
    (
        {"y": np.zeros((3, 2), np.float32), "target_names": np.array(["a", "a"])},
        ["target_names: 'a' appears twice", "target columns would become one"],
    ),
    (
        {"y": np.array([0, 1, 2]), "class_names": np.array(["a", "", "c"])},
        ["class_names[1]: name '' is empty"],
    ),
    (
        {"y": np.array([0, 1, 2]), "class_names": np.array(["a", "b\x00c", "c"])},
        ["class_names[1]", "control character (U+0000)"],
    ),
    ({"y": np.array(["ok", "a\x00b", "ok"])}, ["[x]: y: label 1", "control character"]),
    ({"y": np.array(["ok", "ok", " "])}, ["y: label 2: class name ' ' is empty"]),
    ({"y": np.array(["x" * 200_000, "b", "c"])}, ["y: label 0", "200,000 characters"]),
    (
        {"y_train": np.array(["a", "b", "\x1b[31mred"])},
        ["[x_train]: y_train: label 2", "U+001B"],
    ),
]


@pytest.mark.parametrize(("members", "words"), CASES)
def test_unusable_names_and_labels_are_refused_naming_file_and_member(tmp_path, members, words):
    x_key = "x_train" if "y_train" in members else "x"
    path = tmp_path / "data.npz"
    np.savez(path, **{x_key: X}, **members)
    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(project, "npz", [path]))
        assert len(project) == 0
    message = str(caught.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_the_command_line_says_it_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "zero-d.npz"
    np.savez(path, x=X, y=np.array(3))
    code, err = _cli(capsys, "import", "--kind", "npz", path, "--project", tmp_path / "p")
    assert code == 2 and "y is a single value" in err and "TypeError" not in err


def test_a_npy_file_is_named_as_a_single_array_not_an_archive(tmp_path, capsys):
    path = tmp_path / "images.npy"
    np.save(path, X)
    code, err = _cli(capsys, "import", "--kind", "npz", path, "--project", tmp_path / "p")
    assert code == 2
    assert str(path) in err and "a single .npy array (shape (3, 8, 8)), not an .npz archive" in err
    assert "context manager" not in err


def test_good_names_still_import(tmp_path):
    path = tmp_path / "good.npz"
    np.savez(path, x=X, y=np.array([2, 0, 1]), class_names=np.array(["zero", "one", "Zwei é"]))
    with open_project(tmp_path / "p", create=True) as project:
        run_job(import_job(project, "npz", [path]))
        labels = [r["label"] for r in project.query(limit=None, sort="id")]
    assert labels == ["Zwei é", "zero", "one"]
