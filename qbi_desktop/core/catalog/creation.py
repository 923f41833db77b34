"""Making a new catalog so that it appears whole or not at all.

SQLite creates its file at the first connection and writes the schema after: two processes
making one project at the same moment (two imports started together, the GUI and a command)
saw each other's empty or half-made file and called it damaged ("the catalog file is empty",
"table meta already exists"). Each creator now builds a complete catalog under a name of its
own and links it into place; the first link wins, the others open the winner's catalog as
an ordinary existing project.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from pathlib import Path

from qbi_desktop.core.atomic import DiskFullError
from qbi_desktop.core.catalog.connection import connect_catalog
from qbi_desktop.core.catalog.errors import ProjectError
from qbi_desktop.core.leftovers import pid_alive

#: prefix of a catalog being made (never read as the project's; removed once linked or lost)
NEW_PREFIX = ".catalog-new-"
_NEW_NAME = re.compile(re.escape(NEW_PREFIX) + r"(\d+)-[0-9a-f]+\.sqlite(-wal|-shm)?")
#: a catalog being made is older than this only when its creator was killed (making one
#: takes well under a second); the age also spares a creator on another machine of a shared
#: folder, whose process id means nothing here
STALE_S = 600.0


def remove_stale(folder: Path) -> list[Path]:
    """Remove what creators killed while making a catalog in ``folder`` left: files named like
    a catalog being made whose process is gone and which are older than :data:`STALE_S`.
    Never raises; returns what it removed."""
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _NEW_NAME.fullmatch(entry.name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) and now - entry.stat().st_mtime > STALE_S:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def create_catalog(db_path: Path) -> bool:
    """A complete new catalog at ``db_path``, unless one appears there first: then that one
    is left as it is (and the caller opens it). True when the catalog there is ours."""
    remove_stale(db_path.parent)
    new = db_path.parent / f"{NEW_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.sqlite"
    # O_EXCL: our own file; mode 0o666 less the umask, as SQLite would have made it
    os.close(os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        try:
            connect_catalog(new, initialise=True).close()  # the last close folds the WAL in
        except DiskFullError as exc:  # the message names the catalog, not our working name
            raise DiskFullError(db_path, what=f"the catalog {db_path}") from exc
        except ProjectError as exc:
            raise type(exc)(str(exc).replace(str(new), str(db_path))) from exc
        try:
            os.link(new, db_path)  # never replaces: unlike a rename, fails if the name exists
        except FileExistsError:  # another process made it first
            return False
        return True
    finally:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{new}{suffix}")
