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

Each sweep returns a :class:`Swept` that says what it removed, so the caller can say so in the
log or on the command line. Where ``fcntl`` does not exist (Windows) nothing is swept: liveness
cannot be proved there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import re
import shutil
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


# -- sweeps -----------------------------------------------------------------------------------


def sweep_project(
    root: Path,
    referenced: set[str],
    *,
    masks: str = "masks",
    images: str = "images",
    annotators: str = "annotators",
    opinion_masks: set[str] | None = None,
) -> Swept:
    """Remove a dead run's leftovers from a project nobody else has open (the caller holds
    the project lock exclusively): mask and image files no catalog row references (``referenced``
    holds stored paths such as ``masks/12-0a1b2c3d.tif``), temporary files of atomic writes, and
    half-extracted ``sources/.*.partial`` folders. With ``opinion_masks`` (the stored paths of
    every annotator's own masks) the same for ``annotators/<person>/``; without it (the
    opinions could not be read) that folder is left alone."""
    swept = Swept(str(root))
    referenced = _spelled_alike(root, referenced)
    if opinion_masks is not None:
        opinion_masks = _spelled_alike(root, opinion_masks)
    for folder, pattern in ((masks, MASK_NAME), (images, IMAGE_NAME)):
        _sweep_folder(root, folder, pattern, referenced, swept)
    people = root / annotators
    if opinion_masks is not None and people.is_dir() and not people.is_symlink():
        for person in sorted(people.iterdir()):
            if person.is_dir() and not person.is_symlink():
                folder = f"{annotators}/{person.name}"
                _sweep_folder(root, folder, MASK_NAME, opinion_masks, swept)
    sources = root / "sources"
    if sources.is_dir():
        for entry in sorted(sources.iterdir()):
            if entry.name.startswith(".") and entry.name.endswith(".partial") and entry.is_dir():
                swept.add(entry)
    if swept:
        log.info("%s", swept)
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
    open), the catalog's paths need not be read."""
    folders = [Path(root) / masks, Path(root) / images]
    people = Path(root) / annotators
    with contextlib.suppress(OSError):
        if people.is_dir() and not people.is_symlink():
            folders += [p for p in people.iterdir() if p.is_dir() and not p.is_symlink()]
    for folder in folders:
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
    root: Path, folder: str, pattern: re.Pattern[str], referenced: set[str], swept: Swept
) -> None:
    """Files of ``root/folder`` named like ours (``pattern``) that ``referenced`` lacks, and
    atomic-write temporaries; never a sub-folder, a link or a file of another name."""
    path = root / folder
    if not path.is_dir():
        return
    for entry in sorted(path.iterdir()):
        if not entry.is_file() or entry.is_symlink():
            continue
        rel = f"{folder}/{entry.name}"
        if ATOMIC_TMP.match(entry.name) or (pattern.match(entry.name) and rel not in referenced):
            swept.add(entry)


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
