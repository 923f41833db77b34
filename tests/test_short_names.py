"""Labels for open files: the bare name when it is unique, the folder added when it is not."""

from __future__ import annotations

from qbi_desktop.core.short_names import distinct_names


def test_unique_names_stay_bare():
    assert distinct_names(["/data/run1/edge.tif", "/data/run1/ob.tif", "mnist 3"]) == [
        "edge.tif",
        "ob.tif",
        "mnist 3",
    ]


def test_same_names_get_the_folder_that_tells_them_apart():
    labels = distinct_names(["/data/run1/edge.tif", "/data/run2/edge.tif", "/data/ob.tif"])
    assert labels == ["edge.tif — run1", "edge.tif — run2", "ob.tif"]


def test_deeper_folders_when_the_parent_names_match_too():
    labels = distinct_names(["/a/day1/raw/e.tif", "/a/day2/raw/e.tif"])
    assert labels == ["e.tif — day1/raw", "e.tif — day2/raw"]
    assert len(set(distinct_names(["/x/e.tif", "/x/e.tif", "e.tif"]))) == 3
