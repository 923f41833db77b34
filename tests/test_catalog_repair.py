"""A damaged catalog: refused at open with the way out named, repaired when only its indexes
are damaged (the rows, labels and name search all back, the damaged file kept), refused with
nothing changed when the rows themselves are damaged. Core, command line and the Browser."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from qbi_desktop.cli import main
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.errors import CatalogCorruptError
from qbi_desktop.core.catalog.repair import repair_catalog
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def _project(base: Path) -> Path:
    rng = np.random.default_rng(5)
    for label in ("crack", "void"):
        folder = base / "images" / label
        folder.mkdir(parents=True)
        for i in range(6):
            image = rng.integers(0, 255, (20, 24), dtype=np.uint8)
            Image.fromarray(image).save(folder / f"{label}{i}.png")
    root = base / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [base / "images"]))
    return root


def _contents(root: Path) -> list[tuple]:
    with open_project(root) as project:
        rows = project.query(limit=None)
        return sorted((r["name"], r["label"]) for r in rows)


def _damage(catalog: Path, object_name: str) -> None:
    """Overwrite the cell pointers of ``object_name``'s root page, as a torn write would."""
    db = sqlite3.connect(catalog)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    (root_page,) = db.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = ?", (object_name,)
    ).fetchone()
    db.close()
    with open(catalog, "r+b") as f:
        f.seek((root_page - 1) * page_size + 8)  # past a leaf page's 8-byte header
        f.write(b"\xff\xff" * 2)


@pytest.fixture
def made(tmp_path):
    root = _project(tmp_path)
    return root, _contents(root)


def test_a_damaged_index_is_rebuilt_from_the_rows_and_the_damaged_file_kept(made):
    root, before = made
    _damage(root / "catalog.sqlite", "items_label")
    with pytest.raises(CatalogCorruptError) as refused:
        open_project(root)
    assert f"qbi-desktop repair --project {root}" in str(refused.value)
    damaged_bytes = (root / "catalog.sqlite").read_bytes()

    result = repair_catalog(root)
    assert result.rows["items"] == 12
    assert result.damaged.read_bytes() == damaged_bytes  # kept as it was
    assert _contents(root) == before
    with open_project(root) as project:  # the indexes and the name search work again
        project.check_pages()
        assert len(project.query(limit=None, filters={"label": "void"})) == 6
        assert {r["name"] for r in project.query(limit=None, filters={"name": "crack3"})} == {
            "crack3.png"
        }


def test_damaged_rows_are_refused_and_nothing_is_changed(made):
    root, _ = made
    _damage(root / "catalog.sqlite", "items")
    before = (root / "catalog.sqlite").read_bytes()
    files = sorted(p.name for p in root.iterdir())
    with pytest.raises(CatalogCorruptError, match="the damage is in the data itself"):
        repair_catalog(root)
    assert (root / "catalog.sqlite").read_bytes() == before
    assert sorted(p.name for p in root.iterdir()) == files  # no copy, no leftover


def test_the_repair_command_mends_an_index_and_says_where_the_damaged_file_is(made, capsys):
    root, before = made
    _damage(root / "catalog.sqlite", "items_name")
    assert main(["info", "--project", str(root)]) == 2
    assert "repair --project" in capsys.readouterr().err
    assert main(["repair", "--project", str(root)]) == 0
    out = capsys.readouterr().out
    assert "repaired, 12 item(s)" in out and "catalog.damaged-" in out
    assert main(["info", "--project", str(root)]) == 0
    assert _contents(root) == before


def test_the_browser_offers_the_repair_and_opens_the_project_after_it(
    qtbot, main_window, made, tmp_path
):
    root, before = made
    untouched = tmp_path / "copy"
    shutil.copytree(root, untouched)
    _damage(root / "catalog.sqlite", "items_label")
    _damage(untouched / "catalog.sqlite", "items_label")
    panel = main_window.panels["browser"]

    # Close (the default, Enter) leaves the catalog as it is
    assert not panel.open_project(untouched)
    qtbot.waitUntil(lambda: panel.repair_question is not None)
    box = panel.repair_question
    assert "the catalog is damaged" in box.text()
    QApplication.processEvents()
    qtbot.keyClick(QApplication.focusWidget() or box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.repair_question is None)
    assert panel.repair_task is None and panel.project is None
    assert not any(p.name.startswith("catalog.damaged-") for p in untouched.iterdir())

    # Repair: the project opens with its items
    assert not panel.open_project(root)
    qtbot.waitUntil(lambda: panel.repair_question is not None)
    repair = next(b for b in panel.repair_question.buttons() if b.text() == "Repair")
    qtbot.mouseClick(repair, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.project is not None, timeout=20000)
    assert panel.model.rowCount() == len(before) == 12
    assert "catalog repaired, 12 items" in main_window.statusBar().currentMessage()
    assert any(p.name.startswith("catalog.damaged-") for p in root.iterdir())


def test_repair_project_on_a_whole_catalog_says_nothing_needed_repair(qtbot, main_window, made):
    """Dataset > Repair Project… on a healthy project: it opens, the status says the catalog
    is whole, and no copy of it is kept (the result holds no damaged file to name)."""
    root, before = made
    panel = main_window.panels["browser"]
    task = panel.repair_project(root)
    qtbot.waitUntil(lambda: task.finished and panel.project is not None, timeout=20000)
    assert task.state == "done"
    assert panel.model.rowCount() == len(before)
    assert "the catalog is whole; nothing needed repair" in main_window.statusBar().currentMessage()
    assert not any(p.name.startswith("catalog.damaged-") for p in root.iterdir())
