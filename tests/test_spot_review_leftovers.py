"""A spot review of a deleted item (``<project>/spots/<id>-<hash>.spots.json``) is clutter an
item taking the id could meet: deleting items takes their reviews with them (as their masks),
and the repair removes leftovers that another program's deletion left, counting them."""

from __future__ import annotations

import sqlite3

import numpy as np
from PIL import Image

from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.catalog.images import hash_file
from qbi_desktop.core.catalog.repair import leftover_review_count, repair_catalog
from qbi_desktop.core.spot_review import SpotReview, project_review_path, reviews_of_items
from qbi_desktop.core.spots import SpotCandidate


def _project_with_reviews(tmp_path):
    """Three items, each with a saved spot review (the first also an annotator's own)."""
    files = []
    for n in range(3):
        files.append(tmp_path / "img" / f"{n}.png")
        files[-1].parent.mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(n).integers(0, 255, (12, 16), dtype=np.uint8)
        Image.fromarray(pixels).save(files[-1])
    root = tmp_path / "proj"
    with open_project(root, create=True) as project, project.transaction() as tx:
        ids = tx.add_items([NewItem(f.name, hash_file(f), f, width=16, height=12) for f in files])
    spot = SpotCandidate(
        1, (2, 4, 4, 6), (2.5, 4.5), 4, 900.0, 12.0, np.array([2, 2, 3, 3]), np.array([4, 5, 4, 5])
    )
    reviews = {}
    with open_project(root) as project:
        for item, f in zip(ids, files, strict=True):
            review = SpotReview.from_candidates((12, 16), [spot], "median", {"k": 5})
            review.set_state(1, "rejected")
            path = project_review_path(root, item, hash_file(f))
            path.parent.mkdir(exist_ok=True)
            reviews[item] = [review.save(path)]
        own = project_review_path(root, ids[0], hash_file(files[0]), "Ada")
        reviews[ids[0]].append(SpotReview((12, 16)).save(own))
    return root, ids, reviews


def test_repair_removes_the_reviews_of_deleted_items_and_counts_them(tmp_path):
    root, ids, reviews = _project_with_reviews(tmp_path)
    kept = reviews[ids[2]][0]
    # the id of item 2 now names another image (deleted and its id reused): its review too
    stale = project_review_path(root, ids[1], "f" * 64)
    SpotReview((12, 16)).save(stale)
    other = root / "spots" / "notes.txt"  # not a review of ours: never touched
    other.write_text("mine")
    # another program (or an older version) deleted item 0 behind our back: its reviews stay
    db = sqlite3.connect(root / "catalog.sqlite")
    with db:
        db.execute("DELETE FROM items WHERE id = ?", (ids[0],))
    db.close()
    assert leftover_review_count(root) == 3  # item 0's two reviews and the stale one
    assert all(p.is_file() for p in reviews[ids[0]])  # counting removes nothing

    result = repair_catalog(root)  # a whole catalog: not copied, but the leftovers go
    assert not result.repaired
    assert sorted(p.name for p in result.leftover_reviews) == sorted(
        [*(p.name for p in reviews[ids[0]]), stale.name]
    )
    assert "removed 3 spot review(s)" in result.note and str(root / "spots") in result.note
    assert not any(p.exists() for p in [*reviews[ids[0]], stale])
    assert kept.is_file() and reviews[ids[1]][0].is_file() and other.read_text() == "mine"
    assert SpotReview.load(kept, (12, 16)).spots[1].state == "rejected"  # the live one intact
    assert leftover_review_count(root) == 0
    assert repair_catalog(root).note is None  # nothing left over: nothing said


def test_the_reviews_of_items_about_to_be_deleted_are_found(tmp_path):
    root, ids, reviews = _project_with_reviews(tmp_path)
    assert reviews_of_items(root, [ids[0]]) == sorted(reviews[ids[0]])  # each annotator's too
    assert reviews_of_items(root, [ids[1], ids[2]]) == sorted(reviews[ids[1]] + reviews[ids[2]])
    assert reviews_of_items(tmp_path / "nowhere", ids) == []


def test_deleting_items_takes_their_reviews_with_them(tmp_path):
    root, ids, reviews = _project_with_reviews(tmp_path)
    with open_project(root) as project:
        project.remove_items([ids[0]])
    assert not any(p.exists() for p in reviews[ids[0]])  # both, as the item's masks go
    assert all(p.is_file() for p in reviews[ids[1]] + reviews[ids[2]])
    assert leftover_review_count(root) == 0


def test_the_repair_command_says_which_leftover_reviews_it_removed(tmp_path):
    from cli_helpers import run_cli

    root, ids, reviews = _project_with_reviews(tmp_path)
    db = sqlite3.connect(root / "catalog.sqlite")
    with db:
        db.execute("DELETE FROM items WHERE id = ?", (ids[1],))
    db.close()
    done = run_cli("repair", "--project", str(root))
    assert done.returncode == 0, done.stderr
    assert "nothing needs repair" in done.stdout
    assert "removed 1 spot review(s)" in done.stdout and reviews[ids[1]][0].name in done.stdout
    assert not reviews[ids[1]][0].exists() and reviews[ids[2]][0].is_file()
