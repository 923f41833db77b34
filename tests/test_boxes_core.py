"""Box geometry, copy-forward proposals and storage (core, no display)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from qbi_desktop.core.annotation import boxes as bx
from qbi_desktop.core.catalog import Box, NewItem, open_project


def test_clip_cuts_a_box_to_the_image_and_refuses_nothing_left():
    assert bx.clip(Box("a", -5, 10, 20, 300), 100, 50) == Box("a", 0, 10, 15, 40)
    with pytest.raises(bx.BoxError, match="outside the 100x50 image"):
        bx.clip(Box("a", 120, 10, 20, 20), 100, 50)
    with pytest.raises(bx.BoxError, match="zero area"):
        bx.clip(Box("a", 10, 10, 0, 20), 100, 50)
    with pytest.raises(bx.BoxError, match="finite"):
        bx.clip(Box("a", float("nan"), 10, 5, 5), 100, 50)


def test_handles_resize_the_edges_they_name_and_a_flip_stays_positive():
    box = Box("a", 10, 20, 30, 40)
    assert bx.resize(box, "se", 50, 70) == Box("a", 10, 20, 40, 50)
    assert bx.resize(box, "n", 0, 5) == Box("a", 10, 5, 30, 55)  # x of "n" is ignored
    assert bx.resize(box, "w", 35, 0) == Box("a", 35, 20, 5, 40)
    flipped = bx.resize(box, "e", 0, 0)  # right edge dragged past the left one
    assert flipped == Box("a", 0, 20, 10, 40)


def test_hit_test_prefers_the_selected_boxes_handles_then_the_smallest_box():
    big, small = Box("a", 0, 0, 100, 100), Box("b", 40, 40, 10, 10)
    boxes = [big, small]
    assert bx.hit_test(boxes, 45, 45, 2) == bx.Hit(1, "inside")
    assert bx.hit_test(boxes, 20, 20, 2) == bx.Hit(0, "inside")
    assert bx.hit_test(boxes, 99, 50, 2) == bx.Hit(0, "e")
    assert bx.hit_test(boxes, 50, 45, 1, selected=1) == bx.Hit(1, "e")
    assert bx.hit_test(boxes, 150, 150, 2) is None


def test_move_keeps_the_box_inside_the_image():
    box = Box("a", 10, 10, 20, 20)
    assert bx.move(box, 5, -3, 64, 64) == Box("a", 15, 7, 20, 20)
    assert bx.move(box, 100, -100, 64, 64) == Box("a", 44, 0, 20, 20)


def test_copy_forward_clips_to_the_new_image_and_counts_what_fell_out():
    previous = [Box("a", 10, 10, 20, 20), Box("b", 50, 50, 30, 30), Box("c", 90, 5, 5, 5)]
    proposals, dropped = bx.copy_forward(previous, 64, 64)
    assert proposals == [Box("a", 10, 10, 20, 20), Box("b", 50, 50, 14, 14)]
    assert dropped == 1


def test_class_colour_is_stable_and_spreads_names():
    assert bx.class_colour("cell") == bx.class_colour("cell")
    colours = {bx.class_colour(f"class {i}") for i in range(20)}
    assert len(colours) >= 6


def test_item_store_writes_each_edit_in_one_transaction(tmp_path):
    root = tmp_path / "p"
    with open_project(root, create=True) as project:
        image = tmp_path / "a.npy"
        np.save(image, np.zeros((8, 8), np.uint8))
        with project.transaction() as tx:
            (item,) = tx.add_items([NewItem(name="a", hash="h", path=image)])
        store = bx.ItemBoxStore(project, item, "ann")
        change = store.write([Box("cell", 1, 2, 3, 4)], "draw")
        store.write([Box("cell", 1, 2, 3, 4), Box("dot", 0, 0, 1, 1)], "draw")
    with open_project(root) as project:
        assert project.boxes(item) == [
            Box("cell", 1, 2, 3, 4, "ann"),
            Box("dot", 0, 0, 1, 1, "ann"),
        ]
        assert project.history(item)[-1]["what"] == "boxes"
        store = bx.ItemBoxStore(project, item, "ann")
        _redo, note = store.revert(change)  # the item was edited since: left alone, said
        assert "changed elsewhere" in note and len(project.boxes(item)) == 2
        last = store.write([], "delete")
        redo, note = store.revert(last)
        assert note is None and len(project.boxes(item)) == 2
        store.revert(redo)
        assert project.boxes(item) == []
        project.remove_items([item])
        with pytest.raises(bx.BoxError, match="removed"):
            bx.ItemBoxStore(project, item, "ann").write([])


def test_file_store_round_trips_and_names_the_bad_record(tmp_path):
    image = tmp_path / "raw" / "img.tif"
    image.parent.mkdir()
    image.write_bytes(b"x")
    folder = tmp_path / "boxes"
    store = bx.FileBoxStore(image, 0, "me", folder)
    assert store.load() == []
    change = store.write([Box("spot", 1.5, 2, 3, 4, "me")])
    store.revert(change)
    assert store.load() == []
    store.write([Box("spot", 1.5, 2, 3, 4, "me")])
    assert store.path.parent == folder and not any(image.parent.glob("*.json"))
    assert bx.FileBoxStore(image, 0, "me", folder).load() == [Box("spot", 1.5, 2, 3, 4, "me")]
    assert bx.FileBoxStore(image, 1, "me", folder).path != store.path  # per plane

    data = json.loads(store.path.read_text())
    data["boxes"].append({"label": "x", "x": 1, "y": "2", "w": 1, "h": 1})
    store.path.write_text(json.dumps(data))
    with pytest.raises(bx.BoxError, match=r"img-.*boxes.json: box 1: 'y' must be a finite"):
        store.load()
    store.path.write_text("{")
    with pytest.raises(Exception, match="not valid JSON"):
        store.load()
    store.path.unlink()
    os.symlink(tmp_path / "elsewhere", store.path)
    with pytest.raises(bx.BoxError, match="not a regular file"):
        store.load()


def test_cli_adds_clips_lists_and_refuses_boxes(tmp_path, capsys):
    from qbi_desktop.cli import main

    root = tmp_path / "p"
    with open_project(root, create=True) as project:
        image = tmp_path / "a.npy"
        np.save(image, np.zeros((8, 8), np.uint8))
        with project.transaction() as tx:
            (item,) = tx.add_items([NewItem(name="a", hash="h", path=image, width=40, height=30)])
    args = ["boxes", "--project", str(root), "--item", str(item), "--annotator", "cli"]
    # out by less than the importers' half-pixel tolerance: clipped, and said
    assert main([*args, "--add", "cell,2,3,10,12", "--add", "dust,35,20,5.25,10.5"]) == 0
    out = capsys.readouterr().out
    assert "clipped to the 40x30 image" in out and "2 box(es)" in out
    with open_project(root) as project:
        assert project.boxes(item) == [
            Box("cell", 2, 3, 10, 12, "cli"),
            Box("dust", 35, 20, 5, 10, "cli"),
        ]
    # nothing inside the image, or not a box: exit 2, a message, nothing written
    assert main([*args, "--clear", "--add", "x,50,50,5,5"]) == 2
    assert "outside the 40x30 image" in capsys.readouterr().err
    assert main([*args, "--add", "x,1,2,three,4"]) == 2
    assert "'three' is not a number" in capsys.readouterr().err
    assert main(["boxes", "--project", str(root), "--item", "999", "--add", "a,1,1,2,2"]) == 2
    with open_project(root) as project:
        assert len(project.boxes(item)) == 2
    assert main([*args, "--clear"]) == 0
    with open_project(root) as project:
        assert project.boxes(item) == []


def test_adding_or_editing_boxes_keeps_who_made_the_others(tmp_path, capsys):
    """``boxes --add --annotator alice`` (and the canvas's store, which writes the whole list)
    stamp the boxes added or changed, never the item's boxes nobody claimed: they stay None,
    and the ones another person made stay theirs; undo gives the list back as it was."""
    from qbi_desktop.cli import main

    root = tmp_path / "p"
    with open_project(root, create=True) as project:
        image = tmp_path / "a.npy"
        np.save(image, np.zeros((30, 40), np.uint8))
        with project.transaction() as tx:
            (item,) = tx.add_items([NewItem(name="a", hash="h", path=image, width=40, height=30)])
    args = ["boxes", "--project", str(root), "--item", str(item)]
    assert main([*args, "--add", "x,1,1,5,5"]) == 0
    assert main([*args, "--add", "y,10,10,5,5", "--annotator", "alice"]) == 0
    assert main([*args, "--add", "z,12,12,5,5", "--annotator", "bob"]) == 0
    capsys.readouterr()
    with open_project(root) as project:
        assert project.boxes(item) == [
            Box("x", 1, 1, 5, 5, None),
            Box("y", 10, 10, 5, 5, "alice"),
            Box("z", 12, 12, 5, 5, "bob"),
        ]
        # the canvas moves box y and draws a new one: those two are carol's, x stays nobody's
        store = bx.ItemBoxStore(project, item, "carol")
        old = project.boxes(item)
        change = store.write(
            [old[0], Box("y", 11, 10, 5, 5), old[2], Box("w", 20, 20, 4, 4)], "edit"
        )
        assert [b.annotator for b in project.boxes(item)] == [None, "carol", "bob", "carol"]
        store.revert(change)
        assert project.boxes(item) == old
