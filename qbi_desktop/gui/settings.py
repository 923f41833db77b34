"""Persistent settings (QSettings, INI format, in the platform's config folder).

A settings file that cannot be parsed is moved aside as a ``.bak`` and the app starts with
defaults, saying so in the log: a broken file must never stop the app from starting.
"""

from __future__ import annotations

import logging
import shutil

from PySide6.QtCore import QSettings

from qbi_desktop.core.paths import user_dir

log = logging.getLogger(__name__)

MAX_RECENT = 12


def settings_path():
    return user_dir("config") / "qbi-desktop.ini"


def open_settings() -> QSettings:
    path = settings_path()
    settings = QSettings(str(path), QSettings.Format.IniFormat)
    if settings.status() == QSettings.Status.FormatError:
        backup = path.with_suffix(".ini.bak")
        shutil.copyfile(path, backup)
        path.unlink()
        log.warning("settings file %s was corrupt; reset to defaults (backup in %s)", path, backup)
        settings = QSettings(str(path), QSettings.Format.IniFormat)
        settings.setValue("meta/reset_from_corrupt", str(backup))
    return settings


def recent_files(settings: QSettings) -> list[str]:
    value = settings.value("recent_files", [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in (value or [])]


def add_recent_file(settings: QSettings, path: str) -> list[str]:
    files = [path] + [p for p in recent_files(settings) if p != path]
    files = files[:MAX_RECENT]
    settings.setValue("recent_files", files)
    return files
