"""Rules that keep the structure honest: the core knows no Qt; the Qt binding does not crash."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import qbi_desktop
import qbi_desktop.core


def test_core_imports_no_qt():
    modules = [
        m.name for m in pkgutil.walk_packages(qbi_desktop.core.__path__, "qbi_desktop.core.")
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'superqt', 'qtpy', 'shiboken6'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert len(modules) > 10
    assert result.stdout.strip() == "", f"core pulled in Qt: {result.stdout}"


def test_many_signal_emits_do_not_crash_the_interpreter():
    # PySide6 6.12.0 on Python 3.11 drops a reference to True on every Signal.emit(bool) and
    # aborts after ~1000 emits; run it in a subprocess so a crash fails this test, not the run.
    code = (
        "import os; os.environ['QT_QPA_PLATFORM']='offscreen'\n"
        "from PySide6.QtCore import QObject, Signal, QCoreApplication\n"
        "app = QCoreApplication([])\n"
        "class S(QObject):\n    changed = Signal(bool)\n"
        "s = S(); seen = []\n"
        "s.changed.connect(seen.append)\n"
        "for i in range(20000):\n    s.changed.emit(True)\n"
        "print(len(seen))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-500:]}"
    assert result.stdout.strip() == "20000"


def test_no_module_passes_600_lines():
    # The project splits a module by concept once it passes ~600 lines, so each file stays
    # readable in one sitting; a file that grew past it is named here with its length.
    root = Path(qbi_desktop.__file__).parent
    lengths = {
        str(path.relative_to(root)): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(root.rglob("*.py"))
    }
    long = {name: n for name, n in lengths.items() if n > 600}
    assert long == {}, f"split these by concept: {long}"
