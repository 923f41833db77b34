"""A second launch hands its files to the running instance (two real processes, offscreen)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile

REPO = Path(__file__).resolve().parents[1]


def _image(path: Path, value: int) -> Path:
    tifffile.imwrite(path, np.full((64, 80), value, np.uint16))
    return path


def _launch(
    home: Path, *args: str, cwd: Path = REPO, extra_env: dict | None = None
) -> subprocess.Popen:
    env = dict(os.environ, QBI_DESKTOP_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    env.update(extra_env or {})
    env.pop("QBI_DESKTOP_REPORT_READY", None)
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "qbi_desktop", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _log(home: Path) -> str:
    path = home / "logs" / "qbi-desktop.log"
    return path.read_text() if path.exists() else ""


def _wait_for_log(home: Path, text: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in _log(home):
            return
        assert process.poll() is None, f"app exited ({process.returncode}): {process.stderr.read()}"
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in the log:\n{_log(home)}")


def _stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        process.wait(10)


def test_second_launch_opens_its_file_in_the_running_window(tmp_path):
    home = tmp_path / "home"
    first = _image(tmp_path / "first.tif", 100)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    second = _image(elsewhere / "second.tif", 200)
    running = _launch(home, str(first))
    try:
        _wait_for_log(home, f"opened {first}", running)
        # the second launch names its file relative to its own working folder
        started = time.monotonic()
        other = _launch(home, "second.tif", cwd=elsewhere)
        out, err = other.communicate(timeout=30)
        assert other.returncode == 0, err
        assert "already running" in err
        assert time.monotonic() - started < 15
        _wait_for_log(home, f"opened {second}", running)
        assert running.poll() is None  # the first instance carries on
    finally:
        _stop(running)


def test_other_settings_folder_and_a_killed_instance_start_their_own_window(tmp_path):
    home, other_home = tmp_path / "home", tmp_path / "other"
    image = _image(tmp_path / "a.tif", 50)
    first = _launch(home, str(image))
    independent = None
    replacement = None
    try:
        _wait_for_log(home, f"opened {image}", first)
        # another settings folder (another user) is another instance
        independent = _launch(other_home, str(image))
        _wait_for_log(other_home, f"opened {image}", independent)
        assert independent.poll() is None
        # a crashed first instance leaves a stale lock and socket: the next launch takes over
        _stop(first, signal.SIGKILL)
        later = _image(tmp_path / "later.tif", 60)
        replacement = _launch(home, str(later))
        _wait_for_log(home, f"opened {later}", replacement)
        assert replacement.poll() is None
    finally:
        for process in (first, independent, replacement):
            if process is not None:
                _stop(process)


def test_a_launch_on_another_display_starts_its_own_window(tmp_path):
    # One shared account, two VNC sessions (:79 and :78), one settings folder.
    home = tmp_path / "home"
    on_79 = _image(tmp_path / "on79.tif", 70)
    on_78 = _image(tmp_path / "on78.tif", 80)
    also_79 = _image(tmp_path / "also79.tif", 90)
    first = _launch(home, str(on_79), extra_env={"DISPLAY": ":79"})
    second = None
    try:
        _wait_for_log(home, f"opened {on_79}", first)
        second = _launch(home, str(on_78), extra_env={"DISPLAY": ":78.0"})
        _wait_for_log(home, f"opened {on_78}", second)
        assert second.poll() is None, "the launch on :78 handed its file over and exited"
        assert "second launch" not in _log(home)
        # a later launch on :79 (screen 0 of the same server) still goes to the :79 window
        third = _launch(home, str(also_79), extra_env={"DISPLAY": ":79.0"})
        _out, err = third.communicate(timeout=30)
        assert third.returncode == 0 and "already running" in err, err
        _wait_for_log(home, f"opened {also_79}", first)
        assert _log(home).count("second launch: opening 1 file(s) here") == 1
    finally:
        for process in (first, second):
            if process is not None:
                _stop(process)


def test_instance_key_follows_the_display_session():
    from qbi_desktop.gui.single_instance import instance_key

    assert instance_key({"DISPLAY": ":78"}) != instance_key({"DISPLAY": ":79"})
    assert instance_key({"DISPLAY": ":78"}) == instance_key({"DISPLAY": ":78.0"})
    assert instance_key({"WAYLAND_DISPLAY": "wayland-0"}) != instance_key(
        {"WAYLAND_DISPLAY": "wayland-1"}
    )
    assert instance_key({"XDG_SESSION_ID": "3"}) != instance_key({"XDG_SESSION_ID": "7"})
