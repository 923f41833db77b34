"""Cleaning up what a killed or failed run left behind: only what is provably ours and dead.

"Ours" is decided by name and place (a mask file name the catalog writer makes, a hidden
``.partial`` extraction folder in ``sources/``, an export's hidden folder that holds our owner
lock, a ``decoded-<pid>-*.raw`` scratch file). "Dead" is decided by a lock the living hold, never
by guessing from age:

* a project is held by every process that has it open, with a shared ``flock`` on
  ``catalog.sqlite-open``; a process that gets the lock *exclusively* knows no one else has the
  project open, so files no catalog row references and half-made folders are a dead run's
  (the kernel drops a killed process's locks, so kill -9 leaves no stale lock);
* an export folder in the making holds an exclusive lock on its ``.qbi-export-owner`` file;
* a scratch file names its process id, and a process that no longer runs is dead.

Opening a project must not wait on listing tens of thousands of mask files, so a sweep that
found its folders clean leaves a stamp (:data:`STAMP`: each swept folder's change time and
inode); while the folders still match it, :func:`has_candidates` answers from a few ``stat``
calls. When they do not, the GUI sweeps on a worker after the open (:func:`sweep_project_job`):
it then removes only files changed before the moment the open held the lock exclusively
(:func:`open_moment`), which no living process can be making.

Each sweep returns a :class:`Swept` that says what it removed, so the caller can say so in the
log or on the command line. Where ``fcntl`` does not exist (Windows) nothing is swept: liveness
cannot be proved there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import posixpath
import re
import shutil
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path

from qbi_desktop.core.errors import human_size

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("qbi_desktop.leftovers")

#: The lock every process holds (shared) while it has a project open.
PROJECT_LOCK = "catalog.sqlite-open"
#: The state of the swept folders when a sweep last found them clean (JSON).
STAMP = "catalog.sqlite-swept"
#: The lock an export holds (exclusive) inside its hidden folder while it is being written.
EXPORT_OWNER = ".qbi-export-owner"
#: Mask files the catalog writer makes: ``<item id>-<8 hex>.tif``.
MASK_NAME = re.compile(r"^\d+-[0-9a-f]{8}\.tif$")
#: Images the catalog writer makes (simulated, augmented): ``<stem>-<8 hex>.tif``.
IMAGE_NAME = re.compile(r"^.+-[0-9a-f]{8}\.tif$")
#: Temporary files of core.atomic (``.<name>.<random>.tmp``).
ATOMIC_TMP = re.compile(r"^\..+\.tmp$")
#: Decode scratch files of core.io: ``decoded-<pid>-<random>.raw``.
SCRATCH_NAME = re.compile(r"^decoded-(\d+)-.+\.raw$")
#: ... and as versions before the pid was in the name made them (``decoded-<random>.raw``).
LEGACY_SCRATCH_NAME = re.compile(r"^decoded-[a-z0-9_]{8}\.raw$")


@dataclass
class Swept:
    """What a sweep removed (files and folders) and how many bytes that freed."""

    where: str
    paths: list[Path] = field(default_factory=list)
    nbytes: int = 0

    def __bool__(self) -> bool:
        return bool(self.paths)

    def add(self, path: Path) -> None:
        size = _size(path)
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("could not remove the leftover %s (%s)", path, exc.strerror)
            return
        self.paths.append(path)
        self.nbytes += size

    def __str__(self) -> str:
        if not self.paths:
            return f"nothing left over in {self.where}"
        names = ", ".join(p.name for p in self.paths[:5])
        more = f" and {len(self.paths) - 5} more" if len(self.paths) > 5 else ""
        return (
            f"removed {len(self.paths)} leftover(s) of a run that stopped "
            f"({human_size(self.nbytes)}) from {self.where}: {names}{more}"
        )


def _size(path: Path) -> int:
    try:
        if path.is_dir() and not path.is_symlink():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.lstat().st_size
    except OSError:
        return 0


# -- locks ------------------------------------------------------------------------------------


def open_lock(path: Path) -> int | None:
    """A descriptor for the lock file ``path`` (created), or None where locks are unavailable."""
    if fcntl is None:
        return None
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError:
        return None


def try_exclusive(fd: int | None) -> bool:
    if fd is None or fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def share(fd: int | None) -> None:
    """Hold ``fd`` shared (waits only while another process sweeps under the exclusive lock)."""
    if fd is not None and fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except OSError:
            pass


def release(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def is_held(path: Path) -> bool:
    """True when a living process holds the lock file ``path`` (or liveness cannot be known)."""
    fd = None
    if fcntl is None:
        return True
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def open_moment(fd: int | None) -> int | None:
    """Touch the lock file ``fd`` (held exclusively by the caller) and return its change time in
    ns, on the file system's own clock: a file changed before it was made by a run that is gone
    (no other process had the project open then); None when it cannot be told."""
    if fd is None:
        return None
    try:
        os.utime(fd)
        return os.fstat(fd).st_ctime_ns
    except (OSError, NotImplementedError):
        return None


# -- sweeps -----------------------------------------------------------------------------------


def sweep_project(
    root: Path,
    referenced: set[str],
    *,
    masks: str = "masks",
    images: str = "images",
    annotators: str = "annotators",
    opinion_masks: set[str] | None = None,
    before_ns: int | None = None,
) -> Swept:
    """Remove a dead run's leftovers from a project nobody else has open (the caller holds
    the project lock exclusively): mask and image files no catalog row references (``referenced``
    holds stored paths such as ``masks/12-0a1b2c3d.tif``), temporary files of atomic writes, and
    half-extracted ``sources/.*.partial`` folders. With ``opinion_masks`` (the stored paths of
    every annotator's own masks) the same for ``annotators/<person>/``; without it (the
    opinions could not be read) that folder is left alone.

    With ``before_ns`` (:func:`open_moment`) the caller may have shared the lock since: only
    what changed before that moment is removed; younger files may be a living run's work.
    A sweep that leaves every folder clean writes the :data:`STAMP`."""
    root = Path(root)
    swept = Swept(str(root))
    # the state before matters only to a sweep after the lock was shared (see the end)
    before = None if before_ns is None else _project_state(root, masks, images, annotators)
    referenced = _spelled_alike(root, referenced)
    if opinion_masks is not None:
        opinion_masks = _spelled_alike(root, opinion_masks)
    young = 0
    for folder, pattern in ((masks, MASK_NAME), (images, IMAGE_NAME)):
        young += _sweep_folder(root, folder, pattern, referenced, swept, before_ns)
    people = root / annotators
    if opinion_masks is not None and people.is_dir() and not people.is_symlink():
        for person in sorted(people.iterdir()):
            if person.is_dir() and not person.is_symlink():
                folder = f"{annotators}/{person.name}"
                young += _sweep_folder(root, folder, MASK_NAME, opinion_masks, swept, before_ns)
    sources = root / "sources"
    if sources.is_dir():
        for entry in sorted(sources.iterdir()):
            if entry.name.startswith(".") and entry.name.endswith(".partial") and entry.is_dir():
                if _younger(entry, before_ns):
                    young += 1
                else:
                    swept.add(entry)
    if swept:
        log.info("%s", swept)
    if opinion_masks is not None:
        after = _project_state(root, masks, images, annotators)
        # Under the exclusive lock what is left is clean. After sharing it, only a sweep that
        # removed and skipped nothing while no folder changed proves it (a living run may add).
        if before_ns is None or (not swept and not young and after == before):
            _write_stamp(root, after)
    return swept


def _younger(path: Path, before_ns: int | None) -> bool:
    if before_ns is None:
        return False
    try:
        return path.lstat().st_ctime_ns >= before_ns
    except OSError:
        return True


def _project_state(
    root: Path, masks: str = "masks", images: str = "images", annotators: str = "annotators"
) -> dict[str, object]:
    """What a clean sweep notes: each swept folder's state and how many rows refer to files
    (a row removed by a run killed before it deleted the file leaves the folder unchanged)."""
    return {
        "folders": _folder_states(root, masks, images, annotators),
        "references": _reference_counts(root / "catalog.sqlite"),
    }


def _reference_counts(db_path: Path) -> list[int] | None:
    # imported here: core.catalog.project imports this module, and its light users (the
    # user-cache sweep, a mask save's notes) need not load the catalog package and numpy
    from qbi_desktop.core.catalog.connection import open_read_only

    try:
        db = open_read_only(db_path)
    except sqlite3.Error:
        return None
    try:
        return [
            db.execute(sql).fetchone()[0]
            for sql in (
                "SELECT count(*) FROM masks",
                "SELECT count(*) FROM items WHERE path IS NOT NULL",
                "SELECT count(*) FROM opinions WHERE kind = 'mask'",
            )
        ]
    except sqlite3.Error:
        return None
    finally:
        db.close()  # never PRAGMA optimize here: an open must not write the catalog


def _folder_states(
    root: Path, masks: str = "masks", images: str = "images", annotators: str = "annotators"
) -> dict[str, list[int] | None]:
    """Each swept folder's change time and inode (None: absent), the people's folders too."""
    names = [masks, images, annotators, "sources", *_people_folders(root, annotators)]
    return {name: _state(root / name) for name in names}


def _people_folders(root: Path, annotators: str) -> list[str]:
    """``annotators/<person>`` of each person's folder (no links), sorted; none if unreadable."""
    people = root / annotators
    with contextlib.suppress(OSError):
        if people.is_dir() and not people.is_symlink():
            return sorted(
                f"{annotators}/{p.name}"
                for p in people.iterdir()
                if p.is_dir() and not p.is_symlink()
            )
    return []


def _state(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    # st_mtime_ns changes when an entry is added, removed or renamed
    return [st.st_mtime_ns, st.st_ino, st.st_dev]


def _write_stamp(root: Path, states: dict[str, object]) -> None:
    from qbi_desktop.core.atomic import atomic_write_bytes

    try:
        atomic_write_bytes(root / STAMP, json.dumps(states).encode())
    except OSError as exc:  # a missing stamp only costs the next open a sweep
        log.info("could not note the clean sweep in %s (%s)", root / STAMP, exc)


def _stamp_matches(
    root: Path, masks: str = "masks", images: str = "images", annotators: str = "annotators"
) -> bool:
    """Whether the project is as the last clean sweep left it (no entry added to or removed
    from a swept folder, as many rows referring to files): a few ``stat`` calls and counts
    instead of listing every file."""
    path = root / STAMP
    try:
        if not stat.S_ISREG(path.lstat().st_mode):  # a FIFO would block the open for ever
            return False
        with open(path, "rb") as f:
            noted = json.loads(f.read(1 << 20))
    except (OSError, ValueError):
        return False
    if not isinstance(noted, dict) or noted.get("references") is None:
        return False
    return noted == _project_state(root, masks, images, annotators)


def catalog_references(db_path: Path) -> tuple[set[str], set[str] | None]:
    """The stored paths the catalog refers to (item masks and images) and those of every
    annotator's own masks (None when they cannot be read), read on a read-only connection of
    their own (a worker's, and never ``PRAGMA optimize``: an open must not write the catalog).
    Raises ``sqlite3.Error`` when the catalog cannot be read."""
    from qbi_desktop.core.catalog import opinions
    from qbi_desktop.core.catalog.connection import open_read_only

    db = open_read_only(db_path)
    try:
        referenced = {r[0] for r in db.execute("SELECT path FROM masks")}
        referenced |= {r[0] for r in db.execute("SELECT path FROM items WHERE path IS NOT NULL")}
    finally:
        db.close()
    return referenced, opinions.mask_paths(db_path)


def sweep_project_job(root: Path, before_ns: int):
    """:func:`sweep_project` after an open that held the lock at ``before_ns`` (see
    :func:`open_moment`), as a job for a worker: the open did not wait for it."""
    from qbi_desktop.core.jobs import Progress

    root = Path(root)
    yield Progress(0, 1, f"looking for what a stopped run left in {root}")
    try:
        referenced, mine = catalog_references(root / "catalog.sqlite")
    except sqlite3.Error as exc:  # cleaning up must never stop the work
        log.warning("%s: the leftover check could not read the catalog (%s)", root, exc)
        return Swept(str(root))
    swept = sweep_project(root, referenced, opinion_masks=mine, before_ns=before_ns)
    yield Progress(1, 1, "done")
    return swept


def _spelled_alike(root: Path, stored: set[str]) -> set[str]:
    """The stored paths as the sweep spells a file (``masks/12-0a1b2c3d.tif``): a catalog that
    wrote ``masks/./x``, ``masks//x``, ``masks/../masks/x``, ``masks\\x`` (Windows) or an
    absolute path inside the project names the same file, which must not be taken for a
    leftover and deleted."""
    out = set(stored)
    base = posixpath.normpath(Path(root).absolute().as_posix())
    for path in stored:
        text = str(path)
        if not _PLAIN.match(text):  # most are: a million-item catalog opens without this loop
            text = posixpath.normpath(text.replace("\\", "/"))
        if text.startswith(base + "/"):
            text = text[len(base) + 1 :]
        out.add(text)
    return out


#: A stored path already spelled as the sweep spells it: relative, no ``.``/``..``/empty parts,
#: no backslash.
_PLAIN = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.?(?:/|$))(?!.*//)(?!.*/$)[^\\]+$")


def has_candidates(
    root: Path, *, masks: str = "masks", images: str = "images", annotators: str = "annotators"
) -> bool:
    """Whether :func:`sweep_project` could find anything at all: a file named like ours or an
    atomic-write temporary in the swept folders, or a ``.partial`` source. When not (the usual
    open), the catalog's paths need not be read. Folders as the last clean sweep left them
    (:data:`STAMP`) have none: a project with many masks opens without listing them."""
    if _stamp_matches(Path(root), masks, images, annotators):
        return False
    names = [masks, images, *_people_folders(Path(root), annotators)]
    for folder in (Path(root) / name for name in names):
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if MASK_NAME.match(entry.name) or IMAGE_NAME.match(entry.name):
                        return True
                    if ATOMIC_TMP.match(entry.name):
                        return True
        except OSError:
            continue
    sources = Path(root) / "sources"
    with contextlib.suppress(OSError):
        if sources.is_dir():
            with os.scandir(sources) as entries:
                return any(e.name.startswith(".") and e.name.endswith(".partial") for e in entries)
    return False


def _sweep_folder(
    root: Path,
    folder: str,
    pattern: re.Pattern[str],
    referenced: set[str],
    swept: Swept,
    before_ns: int | None = None,
) -> int:
    """Files of ``root/folder`` named like ours (``pattern``) that ``referenced`` lacks, and
    atomic-write temporaries; never a sub-folder, a link or a file of another name; with
    ``before_ns`` only those changed before it. Returns how many were left for being younger.

    Names are matched first and only the few unreferenced ones are ``stat``-ed: a folder of
    70 000 masks took 1.5 s to sweep with a ``stat`` (and a ``Path``) per file."""
    path = root / folder
    victims: list[Path] = []
    young = 0
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                name = entry.name
                if not ATOMIC_TMP.match(name) and (
                    not pattern.match(name) or f"{folder}/{name}" in referenced
                ):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                if before_ns is not None and st.st_ctime_ns >= before_ns:
                    young += 1
                    continue
                victims.append(Path(entry.path))
    except (NotADirectoryError, FileNotFoundError):
        return 0
    except OSError as exc:
        log.warning("could not look for leftovers in %s (%s)", path, exc.strerror)
        return 0
    for victim in sorted(victims):
        swept.add(victim)
    return young


def staging_beside(out: Path) -> tuple[Path, int | None]:
    """A hidden folder ``.<name>.*`` beside ``out`` to fill and rename into place, and the owner
    lock held while it is filled (what :func:`sweep_exports` tells a dead run's folder by).
    Its permissions are those of any new folder (``mkdtemp`` makes it 0700). OSError when it
    cannot be made."""
    import tempfile

    from qbi_desktop.core.atomic import UMASK

    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    os.chmod(tmp, 0o777 & ~UMASK)
    owner = open_lock(tmp / EXPORT_OWNER)
    try_exclusive(owner)
    return tmp, owner


def sweep_exports(out: Path) -> Swept:
    """Hidden folders of earlier exports to ``out`` (``.<name>.*`` beside it, holding our owner
    lock) whose process is gone."""
    out = Path(out).absolute()
    swept = Swept(str(out.parent))
    try:
        siblings = sorted(out.parent.glob(f".{glob_escape(out.name)}.*"))
    except OSError:
        return swept
    for entry in siblings:
        owner = entry / EXPORT_OWNER
        if entry.is_dir() and not entry.is_symlink() and owner.is_file() and not is_held(owner):
            swept.add(entry)
    if swept:
        log.info("%s", swept)
    return swept


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return True
    return True


def sweep_user_cache(folder: Path) -> Swept:
    """Decode scratch files (``decoded-<pid>-*.raw``) whose process no longer runs.

    Files named the old way carry no pid; they are removed too: on POSIX removing a name never
    disturbs a process that still maps the file (its data lives until it is unmapped).
    """
    swept = Swept(str(folder))
    if os.name != "posix" or not folder.is_dir():
        return swept
    for entry in sorted(folder.iterdir()):
        if not entry.is_file() or entry.is_symlink():
            continue
        match = SCRATCH_NAME.match(entry.name)
        if (match and not pid_alive(int(match.group(1)))) or LEGACY_SCRATCH_NAME.match(entry.name):
            swept.add(entry)
    if swept:
        log.info("%s", swept)
    return swept
