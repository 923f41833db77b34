"""``qbi-desktop boxes --add`` takes a box as the importers take one (formats/common.box_outside):
a value that is not a plain finite number, a box without area or one sticking out of the image
by more than half a pixel is refused with a message and exit code 2, and nothing is written.
Before, 1e308 (or a width running far past the image) was clipped to the image and stored."""

from __future__ import annotations

import numpy as np
import pytest

from qbi_desktop.cli import main
from qbi_desktop.core.annotation.boxes import BoxError, edit_boxes
from qbi_desktop.core.catalog import Box, NewItem, open_project


@pytest.fixture
def item_project(tmp_path):
    root = tmp_path / "p"
    image = tmp_path / "a.npy"
    np.save(image, np.zeros((30, 40), np.uint8))
    with open_project(root, create=True) as project:
        with project.transaction() as tx:
            (item,) = tx.add_items([NewItem(name="a", hash="h", path=image, width=40, height=30)])
            tx.set_boxes(item, [Box("cell", 1, 1, 4, 4)], "ada")
    return root, item


@pytest.mark.parametrize(
    ("box", "said"),
    [
        ("cell,1e308,2,3,4", "outside the 40x30 image"),
        ("cell,2,3,1e308,4", "outside the 40x30 image"),
        ("cell,-1e308,2,3,4", "outside the 40x30 image"),
        ("cell,2,3,10,1e308", "outside the 40x30 image"),
        ("cell,35,2,10,4", "outside the 40x30 image"),  # 5 px past the right edge
        ("cell,-2,2,10,4", "outside the 40x30 image"),
        ("cell,1e999,2,3,4", "not a finite number"),
        ("cell,inf,2,3,4", "not a finite number"),
        ("cell,2,nan,3,4", "not a finite number"),
        ("cell,1_0,2,3,4", "not a number"),
        ("cell,2,2,0,4", "more than 0"),
        ("cell,2,2,-3,4", "more than 0"),
    ],
)
def test_a_box_the_importers_would_refuse_is_refused_and_nothing_written(
    item_project, capsys, box, said
):
    root, item = item_project
    args = ["boxes", "--project", str(root), "--item", str(item), "--annotator", "cli"]
    assert main([*args, "--add", "cell,2,2,5,5", "--add", box]) == 2
    err = capsys.readouterr().err
    assert said in err and "cell" in err, err
    with open_project(root) as project:
        assert project.boxes(item) == [Box("cell", 1, 1, 4, 4, "ada")]  # as it was


def test_the_core_function_refuses_too_and_clips_only_within_half_a_pixel(item_project):
    root, item = item_project
    with open_project(root) as project:
        with pytest.raises(BoxError, match="outside the 40x30 image"):
            edit_boxes(project, item, [Box("cell", 0, 0, 1e308, 3)], annotator="me")
        with pytest.raises(BoxError, match="finite"):
            edit_boxes(project, item, [Box("cell", float("nan"), 0, 3, 3)], annotator="me")
        change, notes = edit_boxes(
            project, item, [Box("cell", -0.25, 0, 40.5, 30.25)], clear=True, annotator="me"
        )
        assert len(notes) == 1 and "clipped to the 40x30 image" in notes[0]
        assert project.boxes(item) == [Box("cell", 0, 0, 40, 30, "me")]
