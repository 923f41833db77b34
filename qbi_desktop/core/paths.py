"""Where the app keeps settings, logs, recovery journals and caches: the platform's user folders.

``QBI_DESKTOP_HOME`` moves all of them under one folder (tests, portable installs).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "qbi-desktop"


def _root(kind: str) -> Path:
    override = os.environ.get("QBI_DESKTOP_HOME")
    if override:
        return Path(override) / kind
    dirs = platformdirs.PlatformDirs(APP, appauthor=False)
    return Path(
        {
            "config": dirs.user_config_dir,
            "logs": dirs.user_log_dir,
            "recovery": os.path.join(dirs.user_state_dir, "recovery"),
            "cache": dirs.user_cache_dir,
            "data": dirs.user_data_dir,  # things the user made: masks saved by default
        }[kind]
    )


def user_dir(kind: str) -> Path:
    """One of ``config``, ``logs``, ``recovery``, ``cache``, ``data``; created on first use."""
    path = _root(kind)
    path.mkdir(parents=True, exist_ok=True)
    return path
