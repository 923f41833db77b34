"""``qbi-desktop --self-test`` from the source tree: every check runs and passes, and a broken
installation makes it fail loudly (non-zero exit, the FAIL line names the check)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHECKS = (
    "libraries",
    "tiff",
    "window",
    "frame",
    "stroke+undo",
    "augment preview",
    "knn baseline",
    "project",
)


def _self_test(home: Path, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    # the checks are judged here; the time on a quiet machine by packaging/ci.sh
    env = dict(
        os.environ,
        QBI_DESKTOP_HOME=str(home),
        QBI_DESKTOP_SELFTEST_SECONDS="110",
        **(extra_env or {}),
    )
    env.pop("QT_QPA_PLATFORM", None)  # the self-test must choose offscreen by itself
    return subprocess.run(
        [sys.executable, "-m", "qbi_desktop", "--self-test"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_self_test_passes_and_reports_each_check(tmp_path):
    result = _self_test(tmp_path / "home")
    assert result.returncode == 0, result.stdout + result.stderr
    # the offscreen platform's harmless "propagateSizeHints" warning is not shown to the user
    assert "propagateSizeHints" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name in CHECKS:
        line = next((x for x in lines if x.split()[1:2] == name.split()[:1]), None)
        assert line is not None, f"no line for check {name!r}:\n{result.stdout}"
        assert line.startswith(("PASS", "SKIP")), line
    # the window checks run on the real main window, never skipped
    for name in ("window", "frame", "stroke+undo"):
        assert any(x.startswith("PASS") and x.split()[1] == name for x in lines), result.stdout
    versions = next(x for x in lines if x.startswith("versions:"))
    assert "numpy" in versions and "Qt 6." in versions
    assert "self-test passed" in lines[-1]
    # the same report is kept in the log folder (a windowed app on Windows has no console)
    report = (tmp_path / "home" / "logs" / "self-test.txt").read_text()
    assert "PASS window" in report and "self-test passed" in report


def test_self_test_fails_when_a_library_is_broken(tmp_path):
    # A tifffile that cannot be imported: what a bundle missing a module looks like.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tifffile.py").write_text("raise ImportError('tifffile left out of the build')\n")
    result = _self_test(tmp_path / "home", {"PYTHONPATH": str(broken)})
    assert result.returncode == 1, result.stdout + result.stderr
    fail_lines = [x for x in result.stdout.splitlines() if x.startswith("FAIL")]
    assert any(x.split()[1] == "tiff" and "tifffile left out" in x for x in fail_lines), fail_lines
    assert "self-test FAILED" in result.stdout.splitlines()[-1]
