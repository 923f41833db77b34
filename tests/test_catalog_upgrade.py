"""The first open of an older catalog: its migration runs as a job that says how far it has
got ("Updating the catalog's indexes (3/34)…"), and a cancel or a kill leaves the catalog at
its old version, whole, to be migrated by the next open. The command line announces it."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from qbi_desktop.core.catalog import SCHEMA_VERSION, open_project, schema
from qbi_desktop.core.catalog.upgrade import pending, upgrade_job
from qbi_desktop.core.jobs import Cancelled, run_job
from tests.cli_helpers import run_cli
from tests.test_catalog_scale import _reference
from tests.test_catalog_v9 import V8


@pytest.fixture
def v8(tmp_path):
    shutil.copytree(V8, tmp_path / "p")
    return tmp_path / "p"


def _state(root) -> tuple[int, set[str], str]:
    """(schema version, index names, integrity check) of the catalog in ``root``."""
    db = sqlite3.connect(root / "catalog.sqlite")
    try:
        version = schema.schema_version(db)
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        return version, names, db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def test_the_migration_reports_each_step_and_the_open_then_finds_it_done(v8):
    before = _reference(sqlite3.connect(v8 / "catalog.sqlite"), {"label": "bird"}, "-name", 0, 5)
    assert pending(v8)
    seen = []
    assert run_job(upgrade_job(v8), on_progress=seen.append) == 8
    steps = [p for p in seen if p.done < p.total]
    assert [p.message for p in steps] == [
        f"Updating the catalog's indexes ({i}/{len(steps)})…" for i in range(1, len(steps) + 1)
    ]
    # v9's ten Browser indexes, its opinion indexes, v10's, v11's mask flags and five indexes,
    # v12's duplicate flags and ten indexes, v13's target combinations and two indexes, v14's
    # duplicate flags of the targets and two indexes
    assert len(steps) == 34
    assert seen[-1].done == seen[-1].total
    version, names, ok = _state(v8)
    assert (version, ok) == (SCHEMA_VERSION, "ok")
    assert {
        "items_label_name",
        "items_facets",
        "items_name_tail",
        "items_prov_has_mask",
        "items_dups",
    } <= names
    assert not pending(v8)
    with open_project(v8) as p:
        assert p.page_ids({"label": "bird"}, "-name", 0, 5).tolist() == before


def test_a_cancelled_migration_leaves_the_catalog_at_its_old_version(v8):
    seen = []
    with pytest.raises(Cancelled):
        run_job(upgrade_job(v8), on_progress=seen.append, should_stop=lambda: len(seen) == 4)
    version, names, ok = _state(v8)
    assert (version, ok) == (8, "ok")
    assert "items_label_name" not in names and "items_name_tail" not in names
    assert pending(v8)
    with open_project(v8) as p:  # the next open migrates it as usual
        assert schema.schema_version(p.db) == SCHEMA_VERSION


def test_a_killed_migration_leaves_the_catalog_whole_at_its_old_version(v8):
    """The child stops for good in the middle of the migration (after three indexes) and is
    killed there."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import sys, time
                from qbi_desktop.core.catalog.upgrade import upgrade_job
                from qbi_desktop.core.jobs import run_job

                def report(progress):
                    if progress.done == 4:
                        print("stopped", flush=True)
                        time.sleep(60)

                run_job(upgrade_job({str(v8)!r}), on_progress=report)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "stopped"
    finally:
        child.kill()
        child.wait(timeout=30)
    version, names, ok = _state(v8)
    assert (version, ok) == (8, "ok")
    assert "items_label_name" not in names
    with open_project(v8) as p:
        assert schema.schema_version(p.db) == SCHEMA_VERSION


def test_what_is_not_an_older_catalog_of_ours_is_left_to_the_open(tmp_path):
    assert not pending(tmp_path / "none")
    (tmp_path / "other").mkdir()
    db = sqlite3.connect(tmp_path / "other" / "catalog.sqlite")
    db.execute("CREATE TABLE stuff (x)")
    db.execute("PRAGMA user_version = 3")
    db.close()
    assert pending(tmp_path / "other")  # an older version number: the job looks closer
    with pytest.raises(Exception, match="not a QBI Desktop catalog"):
        run_job(upgrade_job(tmp_path / "other"))
    db = sqlite3.connect(tmp_path / "other" / "catalog.sqlite")
    assert schema.schema_version(db) == 3  # left untouched
    db.execute("PRAGMA user_version = 99")
    db.close()
    assert not pending(tmp_path / "other")


def test_a_command_on_an_older_catalog_announces_the_update(v8):
    result = run_cli("classes", "--project", str(v8))
    assert result.returncode == 0, result.stderr
    assert "Updating the catalog's indexes (1/34)…" in result.stderr
    assert "Updating the catalog's indexes (34/34)…" in result.stderr
    assert _state(v8)[0] == SCHEMA_VERSION
    again = run_cli("classes", "--project", str(v8))
    assert again.returncode == 0 and "Updating" not in again.stderr


def test_an_older_catalog_in_a_folder_whose_name_a_uri_escapes_is_updated_too(tmp_path):
    """'#', '?' and '%' in a folder's name: read as a URI unescaped, the catalog was not found
    older, and its migration ran inside the open, with nothing shown."""
    root = tmp_path / "beam#3 ?50%"
    shutil.copytree(V8, root)
    assert pending(root)
    assert run_job(upgrade_job(root)) == 8
    assert not pending(root)
    with open_project(root) as project:
        assert project.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
