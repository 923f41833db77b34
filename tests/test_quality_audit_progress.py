"""The audit says what it is doing from its first report to its last, stage by stage, and stops
at any stage when cancelled. Before, Dataset > Audit…'s bar stayed blank while the catalog's
rows and the cached features were read (seconds at 70 000 items), and the stages were named
inconsistently."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.jobs import Cancelled, run_job
from qbi_desktop.core.quality.audit import audit_job
from qbi_desktop.core.quality.features import project_items_job

try:
    from tests.gui_audit_helpers import digits_project
except ImportError:  # pragma: no cover
    from gui_audit_helpers import digits_project

STAGES = ("Reading", "features", "label check", "duplicates", "outliers", "unlabelled")
N = 400


@pytest.fixture
def root(tmp_path):
    d = load_digits()
    x = (d.images[:N] * 16).clip(0, 255).astype(np.uint8)
    root, ids = digits_project(tmp_path, x, d.target[:N], train=300)
    with open_project(root) as project:
        project.set_label(ids[-20:], None)  # some unlabelled items: the last stage runs too
    return root


def _audit(root, said: list[str], should_stop=None):
    """The audit as Dataset > Audit… runs it, every progress message put in ``said``."""
    project = open_project(root)
    try:

        def job():
            items = yield from project_items_job(project)
            return (yield from audit_job(items))

        run_job(job(), on_progress=lambda p: said.append(p.message), should_stop=should_stop)
    finally:
        project.close()


def _stage(message: str) -> str | None:
    return next((s for s in STAGES if message.startswith(s)), None)


def test_every_report_names_its_stage_in_order_from_the_first(root):
    said: list[str] = []
    _audit(root, said)
    assert said[0] == f"Reading {N:,} items…"
    assert said[-1] == "audit done"
    stages = [_stage(m) for m in said[:-1]]
    assert None not in stages, [m for m in said if _stage(m) is None]
    assert list(dict.fromkeys(stages)) == list(STAGES)  # each stage once, in this order


@pytest.mark.parametrize("stage", STAGES)
def test_cancel_stops_the_audit_in_each_stage(root, stage):
    seen: list[str] = []

    def stop() -> bool:  # asked after each report, as the worker's cancel flag is
        return _stage(seen[-1]) == stage

    with pytest.raises(Cancelled):
        _audit(root, seen, stop)
    later = STAGES[STAGES.index(stage) + 1 :]
    assert _stage(seen[-1]) == stage
    assert not [m for m in seen if _stage(m) in later]  # nothing of a later stage ran
    with open_project(root) as project:  # the audit's connection was closed: usable again
        assert len(project) == N


def test_the_audit_bar_speaks_from_its_first_paint(qtbot, main_window, root):
    assert main_window.panels["browser"].open_project(root)
    audit = main_window.panels["audit"]
    task = audit.start()
    table = main_window.tasks_panel.table
    bar = table.cellWidget(0, 2)
    assert table.item(0, 0).text() == f"Audit of {root.name}"
    assert bar.text() == f"Reading {N:,} items…"  # before the worker reported anything
    qtbot.waitUntil(lambda: audit.dialog is not None, timeout=60000)
    assert task.state == "done"
    assert bar.text().startswith("done in")
