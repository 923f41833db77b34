"""Regression target definitions and typed values, on real catalogs (no display)."""

from __future__ import annotations

import sqlite3

import pytest

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog import targets as T
from qbi_desktop.core.errors import UserFacingError

try:
    from tests.test_catalog_edits import mnist_like
except ImportError:  # pragma: no cover
    from test_catalog_edits import mnist_like


def test_definition_is_stored_once_per_project_and_read_back_after_reopening(tmp_path):
    project = mnist_like(tmp_path, 20, 5)
    T.define(project, T.TargetDef("count", "cells", 0, 500, 0))
    T.define(project, T.TargetDef("dose", "Gy", 0.0, None, 2, ("intensity",)))
    root = project.root
    project.close()
    with open_project(root) as again:
        defs = T.definitions(again)
        assert list(defs) == ["count", "dose"]
        assert defs["count"] == T.TargetDef("count", "cells", 0, 500, 0, ("crop_zoom",))
        assert defs["dose"].changes_with == ("intensity",)
        assert defs["dose"].range_text() == "0.00 … ∞"


def test_typed_values_are_checked_rounded_and_refused_with_a_message(tmp_path):
    count = T.TargetDef("count", "cells", 0, 500, 0)
    assert T.parse_value(" 12 ", count) == 12.0
    assert T.parse_value("12.4", count) == 12.0  # rounded to the definition's decimals
    assert T.parse_value("3,5", T.TargetDef("x")) == 3.5  # decimal comma
    assert T.parse_value("", count) is None  # empty: clear
    for text, said in (
        ("abc", "count [cells]: 'abc' is not a number"),
        ("501", "count [cells]: '501' is outside the allowed range 0 … 500"),
        ("-1", "is outside the allowed range"),
        ("nan", "is not a finite number"),
        ("1e999", "is not a finite number"),
    ):
        with pytest.raises(T.TargetValueError) as excinfo:
            T.parse_value(text, count)
        assert said in str(excinfo.value)


def test_one_value_on_many_items_is_one_undoable_transaction(tmp_path):
    project = mnist_like(tmp_path, 20, 5)
    T.define(project, T.TargetDef("count", "", 0, 100, 1))
    project.set_target([2], "count", 7.0, "old")
    change = T.set_value(project, [1, 2, 3], "count", "42.26", "ann")
    assert [project.targets(i) for i in (1, 2, 3)] == [{"count": 42.3}] * 3
    assert change.changed == 3
    with pytest.raises(T.TargetValueError):
        T.set_value(project, [1, 2, 3], "count", "200", "ann")
    assert project.targets(1) == {"count": 42.3}  # nothing written by a refused value
    project.revert(change, "ann")
    assert [project.targets(i) for i in (1, 2, 3)] == [{}, {"count": 7.0}, {}]
    assert [h["what"] for h in project.history(2)][-1] == "target:count"


def test_redefining_a_range_names_values_outside_it_and_keeps_them(tmp_path):
    project = mnist_like(tmp_path, 20, 5)
    project.set_target([4, 5], "count", 80.0)
    outside = T.define(project, T.TargetDef("count", "", 0, 50, 0))
    assert outside == [4, 5]
    assert project.targets(4) == {"count": 80.0}


@pytest.mark.parametrize(
    "bad, said",
    [
        (dict(name=""), "give a name"),
        (dict(name="a,b"), "no ','"),
        (dict(name="x", low=5, high=1), "above highest"),
        (dict(name="x", decimals=-1), "decimals"),
        (dict(name="x", low=float("inf")), "not a finite number"),
        (dict(name="x", changes_with=("zoom",)), "changes_with 'zoom'"),
    ],
)
def test_impossible_definitions_are_refused(bad, said):
    with pytest.raises(UserFacingError, match=said):
        T.TargetDef(**bad)


def test_hand_damaged_definitions_are_refused_naming_the_record(tmp_path):
    project = mnist_like(tmp_path, 5, 1)
    db = sqlite3.connect(project.root / "catalog.sqlite")
    db.execute(
        "INSERT INTO meta(key, value) VALUES ('target_definitions', ?)",
        ('{"count": {"low": "zero"}}',),
    )
    db.commit()
    db.close()
    with pytest.raises(UserFacingError, match="target_definitions.*count.*not a finite number"):
        T.definitions(project)


def _augment_project(tmp_path):
    """Three real 16-bit images with a count (crop/zoom changes it) and a mean transmission
    (intensity changes it)."""
    import numpy as np
    import tifffile

    from qbi_desktop.core.catalog import NewItem
    from qbi_desktop.core.catalog.images import hash_file

    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(3)
    items = []
    for i in range(3):
        path = data / f"img{i}.tif"
        tifffile.imwrite(path, rng.integers(1000, 60000, (32, 40), dtype=np.uint16))
        items.append(
            NewItem(
                name=f"img{i}",
                hash=hash_file(path),
                path=path,
                width=40,
                height=32,
                label="a",
                targets={"count": float(10 + i), "transmission": 0.5 + i / 10},
            )
        )
    project = open_project(tmp_path / "proj", create=True)
    with project.transaction() as tx:
        ids = tx.add_items(items)
    T.define(project, T.TargetDef("count", "cells", 0, 100, 0))
    T.define(project, T.TargetDef("transmission", "", 0, 1, 3, ("intensity",)))
    return project, ids


def test_augmented_copies_keep_the_targets_their_pipeline_cannot_change(tmp_path):
    from qbi_desktop.core.augment import Pipeline
    from qbi_desktop.core.augment.catalog_source import augment_into_project_job
    from qbi_desktop.core.augment.targets import project_target_fates
    from qbi_desktop.core.jobs import run_job

    project, ids = _augment_project(tmp_path)
    root = project.root
    project.close()
    safe = Pipeline.from_options(
        seed=5,
        rotation_range=30,
        horizontal_flip=True,
        vertical_flip=True,
        brightness_range=[0.8, 1.2],
    )
    fates = {f.name: f for f in project_target_fates(root, safe)}
    assert fates["count"].kept
    assert not fates["transmission"].kept
    assert "brightness_range may change it" in fates["transmission"].reason

    result = run_job(augment_into_project_job(root, safe, 2))
    assert len(result.new_ids) == 6
    with open_project(root) as project:
        for new in result.new_ids:
            item = project.get(new)
            parent = item["provenance_params"]["parent"]
            assert project.targets(new) == {"count": project.targets(parent)["count"]}
            assert "transmission" in item["provenance_params"]["targets_dropped"]

    zoom = Pipeline.from_options(seed=5, zoom_range=0.2)
    fates = {f.name: f for f in project_target_fates(root, zoom)}
    assert not fates["count"].kept and fates["transmission"].kept
    assert "zoom_range may change it (it changes with crop/zoom)" in fates["count"].reason
    result = run_job(augment_into_project_job(root, zoom, 1))
    with open_project(root) as project:
        assert all(set(project.targets(i)) == {"transmission"} for i in result.new_ids)


def test_cli_defines_sets_and_refuses_targets_like_the_browser(tmp_path, capsys):
    from qbi_desktop.cli import main

    project = mnist_like(tmp_path, 10, 2)
    root = str(project.root)
    project.close()
    argv = ["target", "--project", root, "--name", "count"]
    assert (
        main([*argv, "--define", "--unit", "cells", "--min", "0", "--max", "50", "--decimals", "0"])
        == 0
    )
    assert main([*argv, "--ids", "1,3-5", "--value", "12.4", "--annotator", "cli"]) == 0
    assert "count = 12: 4 of 4 item(s) changed" in capsys.readouterr().out
    assert main([*argv, "--ids", "2", "--value", "99"]) == 2
    assert "outside the allowed range 0 … 50" in capsys.readouterr().err
    assert main([*argv, "--ids", "2", "--value", "many"]) == 2
    assert main([*argv, "--ids", "2-x", "--value", "3"]) == 2
    assert "'2-x' is not an id" in capsys.readouterr().err
    assert main([*argv, "--ids", "999", "--value", "3"]) == 2
    assert main(["target", "--project", str(tmp_path / "nowhere"), "--name", "x", "--define"]) == 2
    with open_project(root) as again:
        assert {i: again.targets(i) for i in (1, 2, 5)} == {
            1: {"count": 12.0},
            2: {},
            5: {"count": 12.0},
        }
        assert T.definitions(again)["count"].unit == "cells"
    assert main([*argv, "--ids", "1", "--clear"]) == 0
    with open_project(root) as again:
        assert again.targets(1) == {}
