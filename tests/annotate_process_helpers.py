"""Set-up shared by the tests that paint in a real app in a child process and kill it (-9): the
child's environment and the start of its script (the window and a wait loop)."""

from __future__ import annotations

import os
from pathlib import Path

try:
    from tests.conftest import REPO
except ImportError:  # pragma: no cover - rootdir without package
    from conftest import REPO


def child_env(home: Path) -> dict[str, str]:
    """The environment of a child app: offscreen, its own home, this checkout importable, and
    no automatic answer to the recovery question."""
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        QBI_DESKTOP_HOME=str(home),
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    env.pop("QBI_ANNOTATE_AUTO_RECOVER", None)
    return env


def script_window(width: int, height: int, timeout: int) -> str:
    """Script lines that show the main window (``app`` and ``MainWindow`` already there) with
    the Annotate panel discarding unsaved work, and define ``wait(cond)``: the child prints
    "timeout" and exits 3 when ``cond`` stays false ``timeout`` seconds."""
    return f"""
window = MainWindow()
window.resize({width}, {height})
window.show()
panel = window.panels["annotate"]
panel.unsaved_answer = "discard"


def wait(cond, timeout={timeout}):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            print("timeout", flush=True)
            sys.exit(3)
        app.processEvents()
        time.sleep(0.002)

"""
