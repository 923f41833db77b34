"""Bad launches: no display, a dead display, a missing or non-image file, a corrupt settings
file. Each runs the real app in a subprocess, as a user would start it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

REPO = Path(__file__).resolve().parents[1]


def _env(home: Path, **extra: str) -> dict:
    env = dict(os.environ, QBI_DESKTOP_HOME=str(home), PYTHONPATH=str(REPO), **extra)
    env.pop("QBI_DESKTOP_REPORT_READY", None)
    return env


def _log(home: Path) -> str:
    path = home / "logs" / "qbi-desktop.log"
    return path.read_text() if path.exists() else ""


def _run_app_until(home: Path, args: list[str], *needles: str, timeout: float = 30) -> str:
    """Start the app offscreen, wait until every needle is in its log, check it still runs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "qbi_desktop", "--new-instance", *args],
        cwd=REPO,
        env=_env(home, QT_QPA_PLATFORM="offscreen"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not all(n in _log(home) for n in needles):
            assert process.poll() is None, f"the app exited: {process.stderr.read()}"
            assert time.monotonic() < deadline, f"not in the log: {needles}\n{_log(home)}"
            time.sleep(0.1)
        time.sleep(0.3)
        assert process.poll() is None, "the app stopped after the bad input"
        return _log(home)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def _no_display_env(home: Path, **extra: str) -> dict:
    env = _env(home, **extra)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(name, None)
    env.update(extra)
    return env


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 / Wayland displays")
def test_no_display_gives_a_message_and_exit_code_3(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "qbi_desktop"],
        cwd=REPO,
        env=_no_display_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3  # not a signal (a negative code) and no core dump
    assert "no display found" in result.stderr and "QT_QPA_PLATFORM=offscreen" in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 displays")
def test_display_without_an_x_server_gives_a_message_not_a_crash(tmp_path):
    number = next(n for n in range(91, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    result = subprocess.run(
        [sys.executable, "-m", "qbi_desktop"],
        cwd=REPO,
        env=_no_display_env(tmp_path, DISPLAY=f":{number}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert f"cannot connect to the X display ':{number}'" in result.stderr


def test_missing_and_non_image_files_are_reported_and_the_app_keeps_running(tmp_path):
    home = tmp_path / "home"
    missing = tmp_path / "no such radiograph.tif"
    notes = tmp_path / "notes.tif"
    notes.write_text("these are my notes, not an image\n")
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.arange(64 * 64, dtype=np.uint16).reshape(64, 64))
    log = _run_app_until(
        home, [str(missing), str(notes), str(good)], str(missing), str(notes), f"opened {good}"
    )
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert any(str(missing) in line for line in errors), log
    assert any(str(notes) in line for line in errors), log


def test_corrupt_settings_file_is_reset_with_a_message_and_a_backup(tmp_path):
    home = tmp_path / "home"
    ini = home / "config" / "qbi-desktop.ini"
    ini.parent.mkdir(parents=True)
    junk = bytes(range(256)) * 8  # what a disk error leaves behind
    ini.write_bytes(junk)
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.ones((32, 32), np.uint16))
    log = _run_app_until(home, [str(good)], f"opened {good}", "reset to defaults")
    backup = ini.with_suffix(".ini.bak")
    assert backup.read_bytes() == junk  # the user's old file is kept
    assert "could not be read and was reset to defaults" in log  # told to the user
    assert str(backup) in log
    from qbi_desktop.gui.settings import settings_problem

    assert settings_problem(ini) is None  # the new file is a good one


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"\x00\x01\x02binary", "binary"),
        (b"[window]\ngeometry=@ByteArray(\\x1\\xd9\\xd0", "truncated"),
        (b"[window\nfoo=1\n", "section"),
        (b"[view]\nthis line has no equals sign\n", "key=value"),
        (b"[x]\nk=\xff\xfe\n", "UTF-8"),
    ],
)
def test_settings_problems_are_named(tmp_path, content, problem):
    from qbi_desktop.gui.settings import settings_problem

    path = tmp_path / "s.ini"
    path.write_bytes(content)
    assert problem in (settings_problem(path) or "")


def test_settings_qt_writes_are_not_taken_for_corrupt(qtbot, main_window):
    from qbi_desktop.gui.settings import add_recent_file, settings_path, settings_problem

    settings = main_window.settings
    add_recent_file(settings, "/data/a b,c=d é.tif")
    settings.setValue("notes/text", "two\nlines; with = signs \\ and a backslash\\")
    main_window.save_layout()  # window geometry and dock state: long @ByteArray values
    settings.sync()
    assert settings_path().stat().st_size > 200
    assert settings_problem(settings_path()) is None
