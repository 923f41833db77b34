"""What a killed run leaves behind, found and cleaned (or offered) on the next start.

* A mask save is an atomic write: a temporary ``.<name>.<random>.tmp`` beside the target, then
  a rename. ``kill -9`` in between leaves the temporary file. Before each save the app writes a
  small *save intent* (the target) in the recovery folder and removes it afterwards
  (:func:`saving`); an intent whose process is gone points at the folder to clean.
* A journal rewritten at a save (rotation) leaves a temporary file in the recovery folder the
  same way; lock files outlive a killed holder (harmless, the kernel dropped the lock).
* A journal with no unsaved work whose window is gone is clutter: removed. A journal with
  unsaved strokes is kept and reported, so the user hears of it at start-up and it is offered
  again when the image is opened.

Nothing that another running window holds (its journal locked, its save intent alive) is
touched. No Qt here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qbi_desktop.core.annotation.journal import SUFFIX, JournalError, describe_unsaved, inspect
from qbi_desktop.core.annotation.journal_lock import LOCK_SUFFIX, JournalLock
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jsonfile import read_json
from qbi_desktop.core.leftovers import pid_alive
from qbi_desktop.core.paths import user_dir

INTENT_FOLDER = "saving"
_TMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{6,12}\.tmp$")


@dataclass
class Unsaved:
    """A journal holding unsaved strokes of an image, left by a run that did not close."""

    journal: Path
    image: str | None
    n_strokes: int
    dataset: str | None = None  # the HDF5 dataset the strokes are on (None: any other file)
    base_unsaved: bool = False  # it holds a recovered mask saved nowhere else

    def describe(self) -> str:
        """``scan.nxs /entry/dark (2 stroke(s))``: the image, its dataset, the unsaved work."""
        name = Path(self.image).name if self.image else "an unsaved image"
        if self.dataset:
            name += f" {self.dataset}"
        return f"{name} ({describe_unsaved(self.n_strokes, self.base_unsaved)})"


@dataclass
class Leftovers:
    removed: list[Path] = field(default_factory=list)  # files deleted
    unsaved: list[Unsaved] = field(default_factory=list)  # journals kept, to be offered
    problems: list[str] = field(default_factory=list)

    def message(self) -> str:
        """What the user is told (empty when there is nothing to say)."""
        parts = []
        if self.unsaved:
            names = ", ".join(u.describe() for u in self.unsaved[:8])
            more = f" and {len(self.unsaved) - 8} more" if len(self.unsaved) > 8 else ""
            parts.append(
                f"An earlier run stopped without closing: unsaved mask work is kept for "
                f"{names}{more}. Open the image to recover it."
            )
        if self.removed:
            shown = ", ".join(str(p) for p in self.removed[:5])
            more = f" and {len(self.removed) - 5} more" if len(self.removed) > 5 else ""
            parts.append(
                f"Removed {len(self.removed)} unfinished file(s) an earlier run left while "
                f"saving a mask or its journal: {shown}{more}."
            )
        return "\n\n".join(parts + self.problems)


def _intent_path(target: Path) -> Path:
    digest = hashlib.blake2b(str(target).encode("utf-8", "surrogateescape"), digest_size=8)
    return user_dir("recovery") / INTENT_FOLDER / f"{digest.hexdigest()}-{os.getpid()}.json"


@contextlib.contextmanager
def saving(target: Path) -> Iterator[None]:
    """Around a mask save: leave a note of the target while the temporary file may exist."""
    target = Path(target).absolute()
    intent = _intent_path(target)
    try:
        intent.parent.mkdir(parents=True, exist_ok=True)
        intent.write_text(
            json.dumps({"target": str(target), "pid": os.getpid(), "host": socket.gethostname()})
        )
    except OSError:
        intent = None  # no note: a kill now leaves a temporary file that is not cleaned
    try:
        yield
    finally:
        if intent is not None:
            with contextlib.suppress(OSError):
                intent.unlink()


def _alive(pid: int, host: str) -> bool:
    if host != socket.gethostname():
        return True  # another machine sharing the home folder: not ours to judge
    return pid_alive(pid)


def _temporaries_of(target: Path) -> list[Path]:
    """Temporary files an atomic write of ``target`` makes (``.<name>.<random>.tmp``)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            m = _TMP.match(entry.name)
            if m and m["name"] == target.name and entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path))
    return found


def _remove(path: Path, result: Leftovers) -> None:
    try:
        path.unlink()
        result.removed.append(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        result.problems.append(f"{path}: could not remove it ({e.strerror or e})")


def clean_leftovers() -> Leftovers:
    """Clean what dead runs left (see the module doc); report journals with unsaved work."""
    result = Leftovers()
    folder = user_dir("recovery")
    intents = folder / INTENT_FOLDER
    if intents.is_dir():
        for note in sorted(intents.glob("*.json")):
            try:
                # a regular file of bounded size and depth: a FIFO named like a note blocked
                # this job for ever, a deeply nested one raised RecursionError
                data = read_json(note, "a note of a mask save")
                target = Path(data["target"])
                pid, host = int(data["pid"]), str(data.get("host", ""))
            except (UserFacingError, OSError, ValueError, KeyError, TypeError):
                with contextlib.suppress(OSError):
                    note.unlink()
                continue
            if _alive(pid, host):
                continue
            for tmp in _temporaries_of(target):
                _remove(tmp, result)
            with contextlib.suppress(OSError):
                note.unlink()
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if not entry.is_file() or entry.is_symlink():
            continue
        m = _TMP.match(name)
        if m and m["name"].endswith(SUFFIX):  # a journal rewrite cut short
            with _holding(folder / m["name"]) as held:
                if held:
                    _remove(entry, result)
        elif name.endswith(SUFFIX + LOCK_SUFFIX):
            journal = folder / name[: -len(LOCK_SUFFIX)]
            if not journal.exists():
                with _holding(journal):  # removes the lock file when it gets it
                    pass
        elif name.endswith(SUFFIX):
            _judge_journal(entry, result)
    return result


@contextlib.contextmanager
def _holding(journal: Path) -> Iterator[bool]:
    """Hold ``journal``'s lock while cleaning (False: a live window holds it: hands off)."""
    try:
        lock = JournalLock.acquire(journal)
    except UserFacingError:
        yield False
        return
    try:
        yield True
    finally:
        lock.release(remove=True)


def _judge_journal(entry: Path, result: Leftovers) -> None:
    with _holding(entry) as held:
        if not held:
            return
        try:
            header, n, _problems = inspect(entry)
        except JournalError:
            return  # not ours to judge: left alone
        if n or header["base_unsaved"]:
            image = header["image"]
            result.unsaved.append(
                Unsaved(entry, image.path, n, image.dataset, bool(header["base_unsaved"]))
            )
        else:  # the saved mask is its whole content: nothing to recover, not worth a message
            with contextlib.suppress(OSError):
                entry.unlink()


def has_candidates() -> bool:
    """Whether :func:`clean_leftovers` could find anything: an entry in the recovery folder
    (a journal, its copy or lock, a save note). The usual start has none and needs no worker:
    a task listed for nothing stayed in Tasks for seconds while the window was being built."""
    folder = user_dir("recovery")
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name != INTENT_FOLDER:
                    return True
                with os.scandir(entry.path) as notes:
                    if any(True for _ in notes):
                        return True
    except OSError:  # no folder, or not a folder: nothing to clean
        return False
    return False


def clean_leftovers_job():
    """:func:`clean_leftovers` as a job for a worker (start-up must not wait on the disk)."""
    from qbi_desktop.core.jobs import Progress

    yield Progress(0, 1, "looking for what an earlier run left")
    result = clean_leftovers()
    yield Progress(1, 1, "done")
    return result
