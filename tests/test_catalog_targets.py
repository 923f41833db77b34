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
