"""Classes of a project: order, counts, rename and merge (undoable), on real catalogs."""

from __future__ import annotations

import pytest

from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.errors import UserFacingError

try:
    from tests.test_catalog_edits import mnist_like
except ImportError:  # pragma: no cover
    from test_catalog_edits import mnist_like


def test_class_list_keeps_the_stored_order_then_labels_present(tmp_path):
    project = mnist_like(tmp_path, 30, 10)  # labels 0..9, four each
    assert C.class_list(project) == [str(k) for k in range(10)]
    C.set_class_list(project, ["9", "cat", "9", " "])
    assert C.class_list(project) == ["9", "cat"] + [str(k) for k in range(9)]
    assert C.class_counts(project)["3"] == 4


def test_rename_keeps_who_labelled_and_is_undone_with_the_list(tmp_path):
    project = mnist_like(tmp_path, 30, 10)
    project.set_label([1], "7", "alice")
    order = C.class_list(project)
    change = C.rename_class(project, "7", "seven", "bob")
    counts = C.class_counts(project)
    assert "7" not in counts and counts["seven"] == 5
    assert project.get(1)["annotator"] == "alice"  # label_by kept
    assert C.class_list(project)[7] == "seven"  # same key as before
    with pytest.raises(UserFacingError, match="already exists: merge"):
        C.rename_class(project, "seven", "3")
    C.revert_class_edit(project, change, order, "bob")
    assert C.class_counts(project)["7"] == 5 and C.class_list(project) == order


def test_merge_moves_every_item_and_counts_add_up(tmp_path):
    project = mnist_like(tmp_path, 30, 10)
    change = C.merge_classes(project, ["1", "2", "3"], "small", "ann")
    counts = C.class_counts(project)
    assert counts["small"] == 12 and not {"1", "2", "3"} & set(counts)
    assert change.changed == 12
    assert C.class_list(project)[:3] == ["0", "small", "4"]
    project.revert(change.labels, "ann")
    assert C.class_counts(project)["2"] == 4
    with pytest.raises(UserFacingError, match="'nope' is not in the project"):
        C.merge_classes(project, ["nope"], "1")
    with pytest.raises(UserFacingError, match="non-empty name"):
        C.rename_class(project, "1", "  ")


def test_rename_and_merge_carry_box_labels_and_undo_them_together(tmp_path):
    from qbi_desktop.core.catalog import Box

    project = mnist_like(tmp_path, 20, 10)
    project.set_boxes(1, [Box("7", 1, 2, 3, 4, "carol"), Box("cell", 0, 0, 2, 2)], "ann")
    project.set_boxes(2, [Box("cell", 5, 5, 1, 1)], "ann")
    order = C.class_list(project)
    assert "cell" in order  # a class only boxes use is a class too
    edit = C.merge_classes(project, ["7", "cell"], "object", "bob")
    assert [b.label for b in project.boxes(1)] == ["object", "object"]
    assert project.boxes(1)[0].annotator == "carol"  # who drew it is kept
    assert C.box_counts(project) == {"object": 3}
    assert set(edit.ids) >= {1, 2} and edit.boxes is not None
    back, restored = C.revert_class_edit(project, edit, order, "bob")
    assert [b.label for b in project.boxes(1)] == ["7", "cell"]
    assert C.box_counts(project) == {"7": 1, "cell": 2} and C.class_list(project) == order
    assert restored >= 2
    C.revert_class_edit(project, back, C.class_list(project), "bob")  # redo
    assert C.box_counts(project) == {"object": 3}
    with pytest.raises(UserFacingError, match="already exists"):
        C.rename_class(project, "object", "3")


def test_cli_labels_and_classes_match_the_browser_edits(tmp_path, capsys):
    from qbi_desktop.cli import main
    from qbi_desktop.core.catalog import open_project

    project = mnist_like(tmp_path, 20, 10)
    root = str(project.root)
    project.close()
    assert main(["label", "--project", root, "--ids", "1-3", "--class", "eleventh"]) == 0
    assert "new class 'eleventh' added" in capsys.readouterr().out
    assert main(["label", "--project", root, "--ids", "4", "--clear"]) == 0
    assert main(["classes", "--project", root, "--merge", "1,2=small", "--annotator", "me"]) == 0
    out = capsys.readouterr().out
    assert " 1  small  " in out and "eleventh  3" in out
    assert main(["classes", "--project", root, "--rename", "small=tiny"]) == 0
    assert main(["classes", "--project", root, "--rename", "tiny=0"]) == 2
    assert "already exists: merge" in capsys.readouterr().err
    assert main(["label", "--project", root, "--ids", "1", "--class", " "]) == 2
    with open_project(root) as project:
        assert [project.get(i)["label"] for i in (1, 2, 3, 4)] == ["eleventh"] * 3 + [None]
        assert "small" not in C.class_counts(project) and C.class_counts(project)["tiny"] > 0


def test_an_import_into_a_project_says_which_classes_it_added(tmp_path):
    from qbi_desktop.core.formats import import_job
    from qbi_desktop.core.jobs import run_job

    try:
        from tests.cocofiles import write_coco
    except ImportError:  # pragma: no cover
        from cocofiles import write_coco

    project = mnist_like(tmp_path, 20, 5)  # classes '0'..'9'
    coco = write_coco(
        tmp_path / "coco", 2, shape=(20, 30), polygon=[2, 2, 12, 2, 12, 9, 2, 9], area=70, seed=1
    )
    report = run_job(import_job(project, "coco", [coco]))
    assert "blob" in C.class_list(project)
    assert any("did not have were added: 'blob'" in w for w in report.warnings), report.warnings
    again = run_job(import_job(project, "coco", [coco]))  # nothing new the second time
    assert not any("were added" in w for w in again.warnings), again.warnings


def test_a_first_class_list_of_digits_only_where_there_is_no_class(tmp_path):
    from qbi_desktop.core.catalog import open_project

    project = open_project(tmp_path / "empty", create=True)
    assert C.class_list(project) == []
    assert C.first_class_list(project) == [str(d) for d in range(10)]
    assert C.stored_list(project.db) == [str(d) for d in range(10)]
    project.close()

    labelled = mnist_like(tmp_path, 20, 5)  # labels 0..9 present, no stored list
    C.set_class_list(labelled, ["9", "8"])
    with pytest.raises(UserFacingError, match=r"already has classes \(9, 8, 0, 1, .*\); not"):
        C.first_class_list(labelled)
    assert C.stored_list(labelled.db) == ["9", "8"]  # untouched
