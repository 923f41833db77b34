"""Persistent settings (QSettings, INI format, in the platform's config folder).

A settings file that cannot be read is moved aside as ``qbi-desktop.ini.bak`` (an older backup
is kept as ``.bak.1`` ...) and the app starts with defaults; ``RESET_KEY`` then holds the
backup's path so the window can tell the user once. A broken file must never stop the app.
QSettings itself accepts almost anything (binary junk reads as "no keys"), so the file is
checked line by line for what Qt writes: ``[section]``, ``key=value``, comments.
"""

from __future__ import annotations

import logging
import os

from PySide6.QtCore import QSettings

from qbi_desktop.core.paths import user_dir

log = logging.getLogger(__name__)

MAX_RECENT = 12
RESET_KEY = "meta/reset_from_corrupt"


def settings_path():
    return user_dir("config") / "qbi-desktop.ini"


def settings_problem(path) -> str | None:
    """Why the INI file at ``path`` cannot be trusted, or None when it looks like Qt wrote it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if b"\x00" in data:
        return "contains binary data"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    logical: list[str] = []
    for raw in text.splitlines():
        if logical and logical[-1].endswith(
            "\\"
        ):  # Qt reads a trailing backslash as a continuation
            logical[-1] = logical[-1][:-1] + raw.strip()
        else:
            logical.append(raw.strip())
    for number, line in enumerate(logical, 1):
        if not line or line.startswith((";", "#")):
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                return f"line {number}: unfinished section header"
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            return f"line {number}: not a key=value line"
        value = value.strip()
        if value.startswith(("@ByteArray(", "@Variant(")) and not value.endswith(")"):
            return f"line {number}: truncated value"
    return None


def _backup_path(path):
    backup = path.with_suffix(".ini.bak")
    n = 1
    while backup.exists():
        backup = path.with_suffix(f".ini.bak.{n}")
        n += 1
    return backup


def open_settings() -> QSettings:
    """The app's settings; a corrupt file is moved aside (kept) and replaced by defaults."""
    path = settings_path()
    problem = settings_problem(path)
    settings = QSettings(str(path), QSettings.Format.IniFormat)
    if problem is None and settings.status() == QSettings.Status.FormatError:
        problem = "has a format error"
    if problem is not None:
        backup = _backup_path(path)
        del settings  # release the file before moving it
        os.replace(path, backup)
        log.warning(
            "settings file %s %s; reset to defaults (old file kept as %s)", path, problem, backup
        )
        settings = QSettings(str(path), QSettings.Format.IniFormat)
        settings.setValue(RESET_KEY, str(backup))
        settings.sync()
    return settings


#: a setting's text longer than this is not one the app wrote (paths, names, a pipeline's JSON)
MAX_SETTING_CHARS = 64 * 1024


def _ignored(key: str, value: object, why: str, default: object) -> object:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    log.warning("setting %s=%s ignored (%s); using %r", key, shown, why, default)
    return default


def read_setting(
    settings: QSettings,
    key: str,
    default: bool | int | float | str,
    low: float | None = None,
    high: float | None = None,
) -> bool | int | float | str:
    """``settings[key]`` as the type of ``default`` (bool, int, float or str), within
    ``low``..``high`` for numbers. A settings file is the user's to edit (or another version's):
    a value of another type ('abc' for a number, a list for a name), not finite, out of range or
    absurdly long is logged as ignored and ``default`` returned, so the app always starts."""
    value = settings.value(key)
    if value is None:
        return default
    if isinstance(default, bool):
        text = str(value).strip().lower()
        if isinstance(value, bool):
            return value
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off", ""):
            return False
        return _ignored(key, value, "not true or false", default)
    if isinstance(default, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return _ignored(key, value, "not a number", default)
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return _ignored(key, value, "not a number", default)
        if number != number or number in (float("inf"), float("-inf")):
            return _ignored(key, value, "not a finite number", default)
        if (low is not None and number < low) or (high is not None and number > high):
            return _ignored(key, value, f"outside {low}..{high}", default)
        if isinstance(default, int):
            if not -(2**31) <= number < 2**31:  # what a Qt widget holds
                return _ignored(key, value, "too large", default)
            if number != int(number):
                return _ignored(key, value, "not a whole number", default)
            return int(number)
        return number
    if not isinstance(value, str):
        return _ignored(key, value, "not text", default)
    if len(value) > MAX_SETTING_CHARS:
        return _ignored(key, value, f"longer than {MAX_SETTING_CHARS:,} characters", default)
    return value


def read_list(settings: QSettings, key: str, limit: int = 1000) -> list[str]:
    """``settings[key]`` as a list of non-empty strings (at most ``limit``). QSettings' INI
    files cannot tell a one-item list from a string: ``["defect"]`` comes back as
    ``"defect"``, which iterated would be its letters. Anything else that is not a list of
    text (a number, an over-long entry) is logged as ignored."""
    value = settings.value(key)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return _ignored(key, value, "not a list", [])
    items = [str(v) for v in value if isinstance(v, str | int | float) and str(v)]
    kept = [v for v in items if len(v) <= MAX_SETTING_CHARS]
    if len(kept) < len(items):
        _ignored(key, value, f"entries longer than {MAX_SETTING_CHARS:,} characters", None)
    return kept[:limit]


def recent_files(settings: QSettings) -> list[str]:
    return read_list(settings, "recent_files", MAX_RECENT)


def add_recent_file(settings: QSettings, path: str) -> list[str]:
    files = [path] + [p for p in recent_files(settings) if p != path]
    files = files[:MAX_RECENT]
    settings.setValue("recent_files", files)
    return files


def apply_size_limits(settings: QSettings) -> None:
    """Size limits from the ``limits/`` group (e.g. ``limits/decoded_bytes=4GiB``) for readers.

    A value that is not a size is logged and ignored: the default stays in force.
    """
    import dataclasses

    from qbi_desktop.core import limits

    for field in dataclasses.fields(limits.Limits):
        value = settings.value(f"limits/{field.name}")
        if value in (None, ""):
            continue
        try:
            limits.set_limits(**{field.name: str(value)})
        except ValueError as exc:
            log.warning("setting limits/%s ignored: %s", field.name, exc)
