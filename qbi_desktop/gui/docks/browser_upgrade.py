"""Opening a project whose catalog an older version wrote: its migration (this version's
indexes, ~30 s at a million items) runs first as a listed task with progress and cancel
(core.catalog.upgrade), the status bar saying how far it has got, and the project opens when
it ends. A cancel leaves the catalog at its old version; the next open updates it again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog.upgrade import pending, upgrade_job
from qbi_desktop.core.jobs import Progress

#: How long the end of an update stays in the status bar (ms).
SHOWN_MS = 15000


def upgrade_first(panel: Any, path: str | Path) -> bool:
    """Start updating the catalog in ``path`` when it needs it, then open it in ``panel`` (the
    Browser panel); False when it needs no update (open it now)."""
    root = Path(path)
    running = getattr(panel, "upgrade_task", None)
    if running is not None and not running.finished:
        return True  # one update at a time: a second open of any project waits for it
    if not pending(root):
        return False
    bar = panel.window.statusBar()

    def show(progress: Progress) -> None:
        bar.showMessage(f"{root.name}: {progress.message}")

    def done(_old_version: int) -> None:
        panel.upgrade_task = None
        if panel.open_project(root):  # after the open's own message, which this one replaces
            bar.showMessage(f"{root.name}: catalog updated for this version", SHOWN_MS)

    def failed(message: str) -> None:
        panel.upgrade_task = None
        bar.clearMessage()
        panel.window.report_error(message)

    def cancelled() -> None:
        panel.upgrade_task = None
        bar.showMessage(
            f"{root.name}: update cancelled; the catalog is as it was and was not opened "
            "(opening it again updates it)",
            SHOWN_MS,
        )

    message = "Updating the catalog's indexes…"
    show(Progress(0, 0, message))
    panel.upgrade_task = panel.window.tasks.submit(
        f"Update the catalog of {root.name}",
        lambda: upgrade_job(root),
        on_result=done,
        on_error=failed,
        on_progress=show,
        message=message,
    )
    panel.upgrade_task.cancelled.connect(cancelled)
    return True
