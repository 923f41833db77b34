"""Start-up: opening the window imports what its first frame needs, not the headless commands
(and the catalog, formats, scipy and scikit-learn behind them)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
import qbi_desktop.gui.app as app

def run_gui(files, demo=False, new_instance=False):
    heavy = ("qbi_desktop.commands", "scipy", "sklearn", "skimage", "qbi_desktop.core.formats")
    loaded = sorted(m for m in sys.modules if m.startswith(heavy))
    print("launch", files, demo, "|" + ",".join(loaded))
    return 0

app.run_gui = run_gui
from qbi_desktop.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("argv", [[], ["--demo"], ["--new-instance", "scan.tif"], ["./scan"]])
def test_window_launch_imports_no_command_modules(argv):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    line = [x for x in result.stdout.splitlines() if x.startswith("launch")]
    assert line, result.stdout
    assert line[0].endswith("|"), f"loaded before the window: {line[0]}"


def test_commands_and_help_still_reach_the_full_parser():
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "simulate", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "simulate" in result.stdout and "launch" not in result.stdout
    bad = subprocess.run(
        [sys.executable, "-c", PROBE, "--demo", "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "unknown option(s): --no-such-option" in bad.stderr
