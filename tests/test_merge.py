"""Merging annotators' masks and boxes of one item (core.quality.merge), and mask decisions that
are taken back and put back (core.quality.item_review), on constructed masks and boxes and a
real project."""

from __future__ import annotations

import numpy as np
import pytest

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.opinions import for_item
from qbi_desktop.core.quality.consensus import mask_consensus
from qbi_desktop.core.quality.item_review import item_versions, revert_mask, set_item_mask
from qbi_desktop.core.quality.merge import merge_boxes, merge_masks, provenance
from qbi_desktop.core.quality.staple import staple


def _three():
    a = np.zeros((6, 8), np.uint8)
    b = np.zeros((6, 8), np.uint8)
    c = np.zeros((6, 8), np.uint8)
    a[1:4, 1:4] = 1  # a, b and c agree on part of a square of class 1
    b[1:4, 2:5] = 1
    c[2:5, 1:4] = 1
    a[0, 7] = 2  # class 2: a and b on one pixel, c on another
    b[0, 7] = 2
    c[5, 7] = 2
    return a, b, c


def test_majority_counts_strictly_more_than_half_per_class():
    a, b, c = _three()
    out = merge_masks([a, b, c], "majority")
    votes1 = (a == 1).astype(int) + (b == 1) + (c == 1)
    np.testing.assert_array_equal(out == 1, votes1 >= 2)
    assert out[0, 7] == 2 and out[5, 7] == 0
    # two annotators: a pixel only one of them marked is not a majority
    two = merge_masks([a, b], "majority")
    np.testing.assert_array_equal(two == 1, (a == 1) & (b == 1))
    # the consensus module's vote gives the same
    for masks in ([a, b, c], [a, b], [a, b, c, a]):
        np.testing.assert_array_equal(
            merge_masks(masks, "majority"), mask_consensus(masks, [1, 2], "majority")[0]
        )


def test_staple_merge_equals_the_core_staple():
    rng = np.random.default_rng(3)
    truth = np.zeros((64, 64), bool)
    truth[10:40, 12:50] = True
    masks = [
        np.where(truth, rng.random(truth.shape) < s, rng.random(truth.shape) > 0.97).astype(
            np.uint8
        )
        for s in (0.95, 0.9, 0.6)
    ]
    out = merge_masks(masks, "staple")
    np.testing.assert_array_equal(out == 1, staple(masks).mask)
    np.testing.assert_array_equal(out, mask_consensus(masks, [1], "staple")[0])


def test_union_and_intersection():
    a, b, c = _three()
    union = merge_masks([a, b, c], "union")
    np.testing.assert_array_equal(union != 0, (a != 0) | (b != 0) | (c != 0))
    assert union[0, 7] == 2 and union[5, 7] == 2 and union[1, 1] == 1
    inter = merge_masks([a, b, c], "intersection")
    np.testing.assert_array_equal(inter == 1, (a == 1) & (b == 1) & (c == 1))
    assert not (inter == 2).any()  # class 2 has no pixel all three marked
    # a pixel two annotators gave different classes: union takes the smaller number on a tie
    d = np.zeros((2, 2), np.uint8)
    e = np.zeros((2, 2), np.uint8)
    d[0, 0], e[0, 0] = 2, 1
    assert merge_masks([d, e], "union")[0, 0] == 1
    assert merge_masks([d, e], "intersection")[0, 0] == 0


def test_instance_masks_are_merged_as_objects_and_numbered_again():
    a = np.zeros((10, 10), np.uint8)
    b = np.zeros((10, 10), np.uint8)
    a[1:4, 1:4] = 1
    a[6:9, 6:9] = 2
    b[1:4, 1:4] = 5  # the same objects under other numbers
    b[6:9, 6:9] = 7
    out = merge_masks([a, b], "intersection", instances=True)
    assert sorted(np.unique(out).tolist()) == [0, 1, 2]
    np.testing.assert_array_equal(out != 0, a != 0)


def test_bad_masks_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="shape"):
        merge_masks([np.zeros((2, 2), np.uint8), np.zeros((3, 2), np.uint8)])
    with pytest.raises(ValueError, match="two or more"):
        merge_masks([np.zeros((2, 2), np.uint8)])
    with pytest.raises(ValueError, match="use one of"):
        merge_masks([np.zeros((2, 2), np.uint8)] * 2, "mean")


def test_box_merge_averages_matched_corners_and_keeps_majority_objects():
    boxes = {
        "Ada": [("cell", 10, 10, 20, 20), ("cell", 100, 100, 10, 10), ("dust", 50, 0, 5, 5)],
        "Bob": [("cell", 12, 8, 20, 24), ("cell", 200, 200, 10, 10)],
        "Cy": [("cell", 11, 12, 18, 18), ("cell", 101, 99, 10, 10)],
    }
    out = sorted(merge_boxes(boxes))
    # the first object: all three; its corners are the means of theirs
    x0, y0 = np.mean([10, 12, 11]), np.mean([10, 8, 12])
    x1, y1 = np.mean([30, 32, 29]), np.mean([30, 32, 30])
    assert out[0] == pytest.approx(("cell", x0, y0, x1 - x0, y1 - y0))
    # the second: Ada and Cy (2 of 3); Bob's box at 200 and Ada's dust: one person each, dropped
    assert out[1] == pytest.approx(("cell", 100.5, 99.5, 10, 10))
    assert len(out) == 2
    # two annotators: only what both drew
    two = merge_boxes({"Ada": boxes["Ada"], "Bob": boxes["Bob"]})
    assert [b[0] for b in two] == ["cell"] and two[0][1] == 11
    # a box of another class is another object, even where it overlaps
    assert merge_boxes({"A": [("x", 0, 0, 10, 10)], "B": [("y", 0, 0, 10, 10)]}) == []


def test_provenance_names_the_people_the_method_and_the_editor():
    assert provenance(["Bob", "Ada"], "staple") == "consensus of Ada, Bob by STAPLE"
    assert (
        provenance(["Ada", "Bob"], "majority", "Cleo")
        == "consensus of Ada, Bob by majority vote/edited by Cleo"
    )


def _project(tmp_path):
    from qbi_desktop.core.catalog.project import NewItem

    root = tmp_path / "proj"
    image = np.arange(30 * 40, dtype=np.uint16).reshape(30, 40)
    with open_project(root, create=True) as project:
        with project.transaction() as tx:
            path = tx.store_image(image, "plate")
            (item,) = tx.add_items([NewItem(name="plate.tif", hash="h", path=path)])
        a = np.zeros((30, 40), np.uint8)
        a[5:15, 5:15] = 1
        b = np.zeros((30, 40), np.uint8)
        b[8:18, 8:18] = 1
        project.set_mask(item, a, "Ada")
        project.set_mask(item, b, "Bob")
        project.set_boxes(item, [], "Ada")
    return root, item, a, b


def test_item_versions_and_a_mask_decision_undone_and_redone(tmp_path):
    from qbi_desktop.core.catalog.project import Box

    root, item, a, b = _project(tmp_path)
    with open_project(root) as project:
        project.set_boxes(item, [Box("cell", 1, 1, 10, 10)], "Ada")
        project.set_boxes(item, [Box("cell", 2, 1, 10, 10)], "Bob")
        v = item_versions(project, item, "mask")
        assert v.annotators == ["Ada", "Bob"] and v.image.shape == (30, 40)
        np.testing.assert_array_equal(v.masks["Bob"], b)
        both = np.count_nonzero(a & b)
        assert v.figures[0].first == pytest.approx(2 * both / (a.sum() + b.sum()))
        assert v.figures[0].second == pytest.approx(both / np.count_nonzero(a | b))
        boxes = item_versions(project, item, "boxes")
        assert boxes.figures[0].first == 1.0 and boxes.figures[0].second == pytest.approx(9 / 11)

        merged = merge_masks([a, b], "majority")
        who = provenance(["Ada", "Bob"], "majority")
        change = set_item_mask(project, item, merged, who, "merge")
        np.testing.assert_array_equal(project.mask(item), merged)
        assert project.get(item)["mask"]["annotator"] == who
        assert project.history(item)[-1]["annotator"] == who
        mine = for_item(project.db, item)  # the people's own masks are untouched
        assert set(mine) == {"Ada", "Bob"}
        assert v.consensus is None  # read before the decision: no consensus yet
        again = item_versions(project, item, "mask")  # the view shows the consensus in white
        assert again.consensus_by == who
        np.testing.assert_array_equal(again.consensus, merged)
        np.testing.assert_array_equal(again.masks["Ada"], a)

        undo = revert_mask(project, change, "Cleo")
        np.testing.assert_array_equal(project.mask(item), b)  # Bob's, the latest edit, is back
        assert project.get(item)["mask"]["annotator"] == "Bob"
        assert project.history(item)[-1]["annotator"] == "Cleo"
        redo = revert_mask(project, undo, "Cleo")
        np.testing.assert_array_equal(project.mask(item), merged)
        assert project.get(item)["mask"]["annotator"] == who
        # edited again since: an undo leaves the newer mask alone
        project.set_mask(item, a, "Ada")
        assert revert_mask(project, redo, "Cleo") is None
        np.testing.assert_array_equal(project.mask(item), a)


def test_item_versions_refuses_an_item_one_person_annotated(tmp_path):
    from qbi_desktop.core.errors import UserFacingError

    root, item, _a, _b = _project(tmp_path)
    with open_project(root) as project, pytest.raises(UserFacingError, match="Ada only"):
        item_versions(project, item, "boxes")


def test_instance_masks_keep_their_object_numbers_in_the_versions(tmp_path):
    root, item, a, b = _project(tmp_path)
    with open_project(root) as project:
        project.set_metadata(mask_instances="cell")
        a2 = a.copy()
        a2[5:15, 10:15] = 2  # two objects side by side
        project.set_mask(item, a2, "Ada")
        v = item_versions(project, item, "mask")
        np.testing.assert_array_equal(v.masks["Ada"], a2)  # taking Ada's keeps both objects
        both = np.count_nonzero((a2 != 0) & (b != 0))
        dice = 2 * both / (np.count_nonzero(a2) + np.count_nonzero(b))
        assert v.figures[0].first == pytest.approx(dice)  # compared as foreground
