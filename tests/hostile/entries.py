"""The entry points of the app that read a corpus case, each run inside a forked child.

Every function takes a :class:`Run` (the case, its private copy of the input files and a work
folder) and returns a dict: ``status`` is ``accepted`` (the app took the input), ``refused``
(it said no with a UserFacingError / CLI exit code 2) or ``error`` (any other exception, with
its type), plus whatever the judge needs to check (paths written, shapes seen...).
CLI entries run ``qbi_desktop.cli.main`` exactly as the ``qbi-desktop`` script does, with an
uncaught exception printed as the interpreter would (a ``Traceback``).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GOOD_PIPELINE = {
    "format": "qbi-augment",
    "version": 1,
    "seed": 0,
    "options": {"horizontal_flip": True},
}


@dataclass
class Run:
    case: dict[str, Any]
    entry: str
    inp: Path  # the case's files (a private copy)
    work: Path  # project/, out/, home/ live here
    corpus: Path

    @property
    def source(self) -> Path:
        return self.inp / self.case["source"]

    @property
    def project(self) -> Path:
        return self.work / "project"

    @property
    def out(self) -> Path:
        extra = self.case.get("check", {}).get("out")
        return self.inp / extra if extra else self.work / "out"

    def import_sources(self) -> tuple[str, list[Path], dict[str, Any]]:
        kind = self.case["import_kind"] or "imagefolder"
        src = self.source
        if self.case["kind"] == "image":
            src = src.parent.parent  # imagefolder: images/<class>/<the case's only image>
        options: dict[str, Any] = {}
        if self.case.get("images"):
            options["images_dir"] = str(self.inp / self.case["images"])
        return kind, [src], options


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "status": "error",
        "exc_type": type(exc).__name__,
        "message": str(exc)[:2000],
        "traceback": traceback.format_exc()[-4000:],
    }


def core_call(fn) -> dict[str, Any]:
    from qbi_desktop.core.errors import UserFacingError

    try:
        result = fn()
    except UserFacingError as exc:
        return {"status": "refused", "message": str(exc)[:4000], "exc_type": type(exc).__name__}
    except BaseException as exc:  # noqa: BLE001 - judged as not clean
        return _error(exc)
    return {"status": "accepted", **(result or {})}


# -- core entry points ----------------------------------------------------------------------------
def viewer(run: Run) -> dict[str, Any]:
    """The viewer's core path: open lazily, decode the planes (first three), read them."""
    from qbi_desktop.core.io import decode_plane_job, open_image
    from qbi_desktop.core.jobs import run_job

    def go():
        source = open_image(run.source)
        try:
            for i in range(min(source.n_slices, 3)):
                plane = source.plane(i)
                if not plane.complete:
                    run_job(decode_plane_job(source, i))
                plane.read(0, plane.height, 0, plane.width, 1)
            return {"shape": list(source.slice_shape), "n_slices": source.n_slices}
        finally:
            source.close()

    return core_call(go)


def _import(run: Run):
    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.formats import import_job
    from qbi_desktop.core.jobs import run_job

    kind, sources, options = run.import_sources()
    with open_project(run.project, create=True) as project:
        report = run_job(import_job(project, kind, sources, **options))
        masks = [project.mask(i) for i in project.ids()[:50]]
        return {
            "added": report.added,
            "warnings": list(report.warnings)[:20],
            "items": _item_paths(project),
            "mask_pixels": [None if m is None else int((m != 0).sum()) for m in masks],
        }


def _item_paths(project) -> list[str]:
    db = project.connect()
    try:
        rows = db.execute("SELECT path FROM items WHERE path IS NOT NULL").fetchall()
    finally:
        db.close()
    return [str(project.resolve(r[0])) for r in rows]


def import_core(run: Run) -> dict[str, Any]:
    """What the Browser's import dialog runs: ``core.formats.import_job`` into a new project."""
    return core_call(lambda: _import(run))


def thumbnails(run: Run) -> dict[str, Any]:
    """The Browser's thumbnail job on a project: the case's project, or one the case is
    imported into. Items it silently leaves without a thumbnail are reported as such."""
    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.catalog.thumbnails import thumbnail_job
    from qbi_desktop.core.jobs import run_job

    def go():
        root = run.source if run.case["kind"] == "project" else run.project
        if run.case["kind"] != "project":
            _import(run)
        with open_project(root) as project:
            n = len(project)
            said: list[str] = []
            made = run_job(thumbnail_job(project), lambda p: said.append(p.message))
            have = len(project.thumbnails(project.ids()))
        notes = sorted({m for m in said if m})
        return {"n_items": n, "thumbnails": have, "made": made, "message": "\n".join(notes)}

    return core_call(go)


def journal(run: Run) -> dict[str, Any]:
    """Open the image as Annotate does, recover the pending journal, save (Ctrl+S)."""
    from qbi_desktop.core.io import read_image
    from qbi_desktop.core.jobs import run_job
    from qbi_desktop.gui.annotate.session import MaskSession, default_mask_path, prepare_job

    def go():
        image = read_image(run.source)
        session = MaskSession(image, run.source)
        session.apply_prepared(run_job(prepare_job(image, run.source)))
        offered = session.recovery is not None
        problems = session.recover() if offered else []
        saved = session.save()
        journal_at = str(session.journal.path) if session.journal is not None else None
        session.close()
        return {
            "offered": offered,
            "problems": problems,
            "saved": str(saved),
            "default": str(default_mask_path(run.source)),
            "journal_at": journal_at,
        }

    return core_call(go)


# -- the real window ------------------------------------------------------------------------------
class _Window:
    """The real MainWindow, offscreen, with a timer that answers modal dialogs (their text
    counts as a message) so that a question never hangs a run."""

    def __init__(self):
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        from qbi_desktop.gui.main_window import MainWindow

        self.app = QApplication.instance() or QApplication(["qbi-hostile"])
        self.w = MainWindow()
        self.w.resize(1400, 900)
        self.w.show()
        self.app.processEvents()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.w.error_reported.connect(self.errors.append)
        self.closer = QTimer()
        self.closer.timeout.connect(self._answer_modal)
        self.closer.start(200)

    def _answer_modal(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        modal = self.app.activeModalWidget()
        if modal is not None:
            text = modal.text() if isinstance(modal, QMessageBox) else modal.windowTitle()
            self.dialogs.append(f"{type(modal).__name__}: {text}")
            modal.close()

    def settle(self, seconds: float = 45) -> None:
        """Run the event loop until no task has been active for half a second."""
        deadline = time.monotonic() + seconds
        quiet_since = None
        while time.monotonic() < deadline:
            self.app.processEvents()
            time.sleep(0.01)
            if self.w.tasks.active():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 0.5:
                break

    def finish(self) -> dict[str, Any]:
        w = self.w
        self.app.processEvents()
        self.closer.stop()
        alive = w.isVisible() and not w.tasks.active()
        result = {
            "alive": alive,
            "documents": len(w.documents),
            "shape": list(w.current.source.slice_shape) if w.current is not None else None,
            "n_slices": w.current.source.n_slices if w.current is not None else None,
            "errors": self.errors[:5],
            "dialogs": self.dialogs[:5],
        }
        w.tasks.cancel_all()
        w.tasks.wait(5000)
        w.close()
        return result


def window(run: Run) -> dict[str, Any]:
    """The real window opens the file through ``open_file``; we wait for every task it starts,
    then read the error it reported and check that it is still alive. A pending journal is
    recovered (QBI_ANNOTATE_AUTO_RECOVER); for a journal case the mask is then saved with the
    Save Mask action (Ctrl+S)."""
    win = _Window()
    w = win.w
    w.open_file(run.source)
    win.settle()
    if run.case["kind"] == "journal" and "annotate" in getattr(w, "panels", {}):
        panel = w.panels["annotate"]
        panel.unsaved_answer = "save"
        panel.actions["save"].trigger()
        win.settle(10)
    result = win.finish()
    message = "\n".join(win.errors + win.dialogs)[:4000]
    if not result["alive"]:
        return {"status": "error", "exc_type": "WindowGone", "message": "window gone", **result}
    about_it = [e for e in win.errors if run.source.name in e]
    if about_it or (win.errors and not w.documents):  # said no about this file
        return {"status": "refused", "message": message, **result}
    if w.documents:  # opened; a message may still have been said about a file beside it
        return {"status": "accepted", "message": message, **result}
    return {"status": "error", "message": "nothing opened and nothing said", **result}


def window_import(run: Run) -> dict[str, Any]:
    """The Browser's import in the real window: a new project, then ``run_import`` as the
    import dialog's OK does; a refusal shows the problems dialog (read from its table)."""
    win = _Window()
    panel = win.w.panels["browser"]
    if not panel.open_project(run.project, create=True):
        result = win.finish()
        return {"status": "error", "message": "cannot create the project", **result}
    kind, sources, options = run.import_sources()
    panel.last_problems = None
    panel.run_import(kind, [str(p) for p in sources], **options)
    win.settle()
    problems = getattr(panel, "last_problems", None)
    said = list(win.errors)
    if problems is not None:
        table = problems.table
        said.append(problems.windowTitle())
        for r in range(table.rowCount()):
            cells = [table.item(r, c) for c in range(table.columnCount())]
            said.append(" | ".join((c.toolTip() or c.text()) if c else "" for c in cells))
    n_items = len(panel.project) if panel.project is not None else 0
    panel.close_project()
    result = win.finish()
    message = "\n".join(said + win.dialogs)[:4000]
    if not result["alive"]:
        return {"status": "error", "exc_type": "WindowGone", "message": "window gone", **result}
    if said:
        return {"status": "refused", "message": message, **result}
    return {"status": "accepted", "message": message, "added": n_items, **result}


def window_project(run: Run) -> dict[str, Any]:
    """The Browser opens the case's project folder in the real window (File > Open Project)."""
    win = _Window()
    panel = win.w.panels["browser"]
    opened = panel.open_project(run.source)
    win.settle()
    n_items = len(panel.project) if opened and panel.project is not None else 0
    if opened:
        panel.close_project()
    result = win.finish()
    message = "\n".join(win.errors + win.dialogs)[:4000]
    if not result["alive"]:
        return {"status": "error", "exc_type": "WindowGone", "message": "window gone", **result}
    if not opened or win.errors:
        return {"status": "refused", "message": message, **result}
    return {"status": "accepted", "message": message, "n_items": n_items, **result}


# -- the CLI --------------------------------------------------------------------------------------
def cli(argv: list[str]) -> dict[str, Any]:
    from qbi_desktop.cli import main

    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - what the interpreter does with an uncaught one
        traceback.print_exc()
        rc = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return {
        "status": {0: "accepted", 2: "refused"}.get(rc, "error"),
        "rc": rc,
        "argv": [str(a) for a in argv],
    }


def _pipeline_file(run: Run) -> Path:
    path = run.work / "good-pipeline.json"
    path.write_text(json.dumps(GOOD_PIPELINE))
    return path


def cli_import(run: Run) -> dict[str, Any]:
    kind, sources, options = run.import_sources()
    argv = ["import", "--project", str(run.project), "--kind", kind, *map(str, sources)]
    if "images_dir" in options:
        argv += ["--images", options["images_dir"]]
    if run.case["kind"] == "project":  # import more into the (broken) project
        argv = [
            "import",
            "--project",
            str(run.source),
            "--kind",
            "coco",
            str(run.inp / "src/coco.json"),
            "--images",
            str(run.inp / "src"),
        ]
    return cli(argv)


def cli_export(run: Run) -> dict[str, Any]:
    return cli(
        [
            "export",
            "--project",
            str(run.source),
            "--kind",
            run.case["export_kind"],
            "--out",
            str(run.out),
        ]
    )


def cli_detect_spots(run: Run) -> dict[str, Any]:
    return cli(["detect-spots", "--out", str(run.out), str(run.source)])


def cli_augment(run: Run) -> dict[str, Any]:
    kind = run.case["kind"]
    pipeline = run.source if kind == "pipeline" else _pipeline_file(run)
    if kind == "image":
        data = run.source.parent
    elif kind == "pipeline":
        data = run.inp / "images"
    else:  # npz file, project folder
        data = run.source
    return cli(
        [
            "augment",
            "--pipeline",
            str(pipeline),
            "--input",
            str(data),
            "--output",
            str(run.out),
            "--copies",
            "1",
        ]
    )


def cli_baseline(run: Run) -> dict[str, Any]:
    prefix = {"mnist": "mnist", "npz": "npz", "project": "project"}[run.case["kind"]]
    split = ["--split", "kfold", "--folds", "2"] if prefix == "project" else []
    return cli(
        [
            "baseline",
            "--data",
            f"{prefix}:{run.source}",
            "--model",
            "dummy",
            *split,
            "--report",
            str(run.out),
            "--quiet",
        ]
    )


def cli_simulate(run: Run) -> dict[str, Any]:
    return cli(["simulate", "--params", str(run.source), "--out", str(run.out), "--count", "1"])


def roundtrip_export(run: Run) -> dict[str, Any]:
    """Import with the core (as the dialog does), then ``qbi-desktop export`` the project."""
    first = import_core(run)
    if first["status"] != "accepted":
        return first
    result = cli(
        [
            "export",
            "--project",
            str(run.project),
            "--kind",
            run.case["export_kind"],
            "--out",
            str(run.out),
        ]
    )
    result["items"] = first.get("items", [])
    return result


ENTRIES = {
    "viewer": viewer,
    "window": window,
    "window-import": window_import,
    "window-project": window_project,
    "import": import_core,
    "thumbnails": thumbnails,
    "journal": journal,
    "cli-import": cli_import,
    "cli-export": cli_export,
    "cli-detect-spots": cli_detect_spots,
    "cli-augment": cli_augment,
    "cli-baseline": cli_baseline,
    "cli-simulate": cli_simulate,
    "roundtrip-export": roundtrip_export,
}
