"""The paths a command is given, and the folder it writes into, checked before any work.

Looking at a path (:func:`probe`, :func:`exists`, :func:`is_dir`, :func:`is_file`,
:func:`is_link`): ``Path.exists()`` and friends raise ``OSError`` for a name the file system
cannot hold (a component longer than 255 bytes) or a folder we may not search;
here that is a :class:`UserFacingError` naming the path, and nothing there is False.

The output folder (:func:`check_out_folder`, :func:`refuse_replacing`, :func:`refuse_inside`):
every command that writes into a folder the user names (augment, simulate, normalize,
detect-spots, clean-spots, baseline, audit, agreement) refuses, before anything is written, a
folder where it would replace files that are not its own earlier run (a hand-corrected mask,
someone's notes), naming a few of them; and a folder that is, or is inside, its input folder,
where the outputs would mix with the inputs. What counts as a command's own earlier run is the
command's to say (its manifest header, the provenance in its TIFFs, its report's JSON).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from qbi_desktop.core.errors import UserFacingError

#: how many of the files a run would replace are named in the refusal (then "and N more")
SHOWN = 3


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "File name too long: one of its names is longer than the file system allows"
    return exc.strerror or str(exc)


def probe(path: str | Path, *, follow: bool = True) -> os.stat_result | None:
    """``os.stat`` (``follow=False``: ``os.lstat``) of ``path``; None when nothing is there; a
    :class:`UserFacingError` naming ``path`` when it cannot be looked at (a name too long, a
    NUL character, a folder we may not search). A link loop is nothing there, as pathlib has
    it: whatever reads the path names the loop."""
    try:
        return os.stat(path) if follow else os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise UserFacingError(f"{path}: cannot use this path ({_reason(exc)})") from None
        return None  # as pathlib has it: the reader of the link names the loop
    except ValueError:  # a NUL in the name
        raise UserFacingError(
            f"{path!r}: cannot use this path (it holds a NUL character)"
        ) from None


def exists(path: str | Path) -> bool:
    """Whether something is at ``path`` (a dangling link: False); see :func:`probe`."""
    return probe(path) is not None


def is_dir(path: str | Path) -> bool:
    info = probe(path)
    return info is not None and stat.S_ISDIR(info.st_mode)


def is_file(path: str | Path) -> bool:
    """A regular file (a FIFO or a device is not)."""
    info = probe(path)
    return info is not None and stat.S_ISREG(info.st_mode)


def is_link(path: str | Path) -> bool:
    info = probe(path, follow=False)
    return info is not None and stat.S_ISLNK(info.st_mode)


def lexists(path: str | Path) -> bool:
    """Whether any entry is at ``path``, a dangling link included."""
    return probe(path, follow=False) is not None


def check_out_folder(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a :class:`Path` for a folder to write into, refused at once when it names
    something that is not a folder or a path the file system cannot hold; nothing is made."""
    out = Path(path)
    info = probe(out)
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise UserFacingError(f"{flag} {out}: exists and is not a folder")
    return out


def listing(paths: Iterable[Path], base: Path, shown: int = SHOWN) -> str:
    """``a.tif, b.tif, c.tif and 5 more``: paths relative to ``base``, a few of them."""
    names = []
    for p in paths:
        try:
            names.append(str(Path(p).relative_to(base)))
        except ValueError:
            names.append(str(p))
    text = ", ".join(names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")


def would_replace(out: Path, names: Iterable[str] = (), patterns: Iterable[str] = ()) -> list[Path]:
    """The entries in ``out`` a run writing ``names`` (paths relative to ``out``) and files
    matching the glob ``patterns`` would replace, sorted (links count, dangling or not)."""
    if not is_dir(out):
        return []
    try:
        # one listing, not a look-up per name: a run may write millions of files
        here = set(os.listdir(out))
        found: set[Path] = set()
        if here:
            for name in names:
                top, _, rest = str(name).partition("/")
                if top in here and (not rest or lexists(out / name)):
                    found.add(out / name)
            for pattern in patterns:
                found.update(out.glob(pattern))
    except OSError as exc:
        raise UserFacingError(f"{out}: cannot list the folder ({_reason(exc)})") from None
    return sorted(found)


def refuse_replacing(
    out: Path,
    names: Iterable[str] = (),
    patterns: Iterable[str] = (),
    *,
    own: Callable[[Path], bool] | None = None,
    command: str = "qbi-desktop",
) -> None:
    """Refuse, naming a few, the files in ``out`` a run would replace (see
    :func:`would_replace`) unless ``own(path)`` says the file is this command's own earlier
    output (a resume or a re-run)."""
    found = [p for p in would_replace(out, names, patterns) if not (own is not None and own(p))]
    if found:
        raise_replacing(out, found, command)


def raise_replacing(
    out: Path, found: list[Path], command: str = "qbi-desktop", why: str | None = None
) -> None:
    """The refusal of :func:`refuse_replacing` for the ``found`` files of ``out``; ``why``
    (default: not written by this command) says why they are not taken as its own."""
    why = why or f"not written by this command ({command})"
    raise UserFacingError(
        f"{out}: already holds {listing(found, out)}, {why}, which this run would replace. "
        "Nothing was written: choose a new or empty folder, or move those files away"
    )


def refuse_inside(out: Path, inputs: Iterable[tuple[str | Path, str]], flag: str = "--out") -> None:
    """Refuse an output folder that is one of the ``inputs`` folders, as (folder, what it is)
    pairs, or inside one: the outputs would mix with the inputs (and be read as inputs by the
    next run)."""
    target = os.path.realpath(out)
    for folder, role in inputs:
        real = os.path.realpath(folder)
        if target == real or target.startswith(real.rstrip(os.sep) + os.sep):
            where = "is" if target == real else "is inside"
            raise UserFacingError(
                f"{flag} {out}: {where} the {role} {folder}; the outputs would mix with the "
                "inputs. Choose a folder outside it"
            )


def json_says(path: Path, check: Callable[[dict[str, Any]], bool]) -> bool:
    """Whether ``path`` is a regular JSON file holding an object ``check`` accepts (a
    command's own report or manifest); False, never an exception, for anything else."""
    from qbi_desktop.core.jsonfile import read_json

    try:
        value = read_json(path, "the file")
    except UserFacingError:
        return False
    try:
        return isinstance(value, dict) and bool(check(value))
    except Exception:  # noqa: BLE001 - a check on a stranger's file: not ours
        return False


class StagedFolder:
    """A report folder written whole or not at all: files go into a hidden folder beside
    ``out`` (``.<name>.<random>``, holding the export owner lock so a killed run's one is
    swept by the next); :meth:`commit` renames it to ``out`` when ``out`` does not exist, or
    moves each file into the existing ``out`` (replacing an earlier run's, and removing the
    ``drop`` names it did not write again). Any error before the commit leaves ``out`` as it
    was. Use :meth:`guarded` (commit on success, discard on any error)."""

    def __init__(self, out: str | Path, flag: str = "--out"):

        from qbi_desktop.core import leftovers

        self.out = Path(out).absolute()
        self.flag = flag
        self.written: list[str] = []
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            leftovers.sweep_exports(self.out)
            self.tmp, self._owner = leftovers.staging_beside(self.out)
        except OSError as exc:
            raise UserFacingError(
                f"{flag} {out}: cannot create the folder ({_reason(exc)}); nothing was written"
            ) from exc

    def write_bytes(self, rel: str, data: bytes) -> Path:
        """Stage ``data`` as ``rel`` (a path relative to the folder); the path it will have."""
        from qbi_desktop.core.atomic import write_error

        target = self.tmp / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        except OSError as exc:
            raise write_error(self.out / rel, exc, len(data)) from exc
        self.written.append(rel)
        return self.out / rel

    def write_text(self, rel: str, text: str) -> Path:
        return self.write_bytes(rel, text.encode("utf-8"))

    def commit(self, drop: Iterable[str] = ()) -> None:
        import contextlib
        import shutil

        from qbi_desktop.core import leftovers

        leftovers.release(self._owner)
        with contextlib.suppress(OSError):
            (self.tmp / leftovers.EXPORT_OWNER).unlink()
        try:
            if not lexists(self.out):
                try:
                    os.rename(self.tmp, self.out)  # the whole folder appears at once
                    return
                except OSError as exc:  # made meanwhile by someone else: merge below
                    if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                        raise
            for rel in self.written:
                (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.tmp / rel, self.out / rel)
            for rel in set(drop) - set(self.written):  # an earlier run's, not written again
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    (self.out / rel).unlink()
        except OSError as exc:
            raise UserFacingError(
                f"{self.flag} {self.out}: cannot move the finished files there ({_reason(exc)})"
            ) from exc
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def discard(self) -> None:
        import shutil

        from qbi_desktop.core import leftovers

        leftovers.release(self._owner)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def guarded(self, drop: Iterable[str] = ()) -> Any:
        """A context manager: the block stages the files; commit after it, discard on error."""
        import contextlib

        @contextlib.contextmanager
        def block() -> Any:
            try:
                yield self
            except BaseException:
                self.discard()
                raise
            self.commit(drop)

        return block()


__all__ = [
    "StagedFolder",
    "check_out_folder",
    "exists",
    "is_dir",
    "is_file",
    "is_link",
    "json_says",
    "lexists",
    "listing",
    "probe",
    "raise_replacing",
    "refuse_inside",
    "refuse_replacing",
    "would_replace",
]
