"""Datasets that arrive as archives (.zip, .tar, .tar.gz/.tgz, .tar.bz2/.tbz2, .tar.xz/.txz),
extracted safely into a folder of the project.

Safe by construction, in three steps:

1. **Check the whole archive before writing a byte.** Every entry is listed and judged: only
   regular files and folders are allowed (no symbolic or hard links, devices, FIFOs, nor zip
   entries whose mode bits say so); a name must be relative, without ``..``, drive letters,
   backslashes or NUL, must stay inside the target once resolved, and may not collide with
   another entry (also not case-insensitively nor after Unicode normalisation: the project may
   move to a laptop). For tar the standard library's ``data`` extraction filter judges every
   member as well, as a second opinion. Bombs: a cap on the number of entries, the total
   uncompressed size must fit the free disk space with a reserve, and a huge expansion (many
   times the archive's own size) is refused. Any problem refuses the archive whole, naming
   the archive and each bad entry.
2. **Extract into a temporary sibling folder** by streaming each file's bytes ourselves (so
   progress is by bytes and a cancel takes effect within a big file), into files created
   exclusively (never overwriting, never following a link), with plain permissions: nothing
   extracted is ever executable, and nothing in it is ever executed or unpickled.
3. **Rename the folder into place** only when complete; a failure or a cancel (the job's
   generator closed) removes the temporary folder, so nothing is left behind.

The tar data filter's own ``extractall`` is not used for writing because it extracts a member in
one go (no progress by bytes, no cancel inside a big file) and keeps the owner's execute bit;
calling the filter on every member before writing keeps its checks without those drawbacks.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tarfile
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from qbi_desktop.core.errors import UserFacingError, human_size
from qbi_desktop.core.jobs import Job, Progress

#: Archive name endings, longest first so ``.tar.gz`` wins over ``.gz``-less ``.tar``.
ARCHIVE_SUFFIXES: tuple[str, ...] = (
    ".tar.gz",
    ".tar.bz2",
    ".tar.xz",
    ".tgz",
    ".tbz2",
    ".txz",
    ".tar",
    ".zip",
)

#: Entries that only carry an OS's folder metadata: not extracted (macOS zips are full of them).
_JUNK = re.compile(r"(^|/)(__MACOSX(/|$)|\.DS_Store$)")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1 << 20
#: Longest file or folder name (bytes) that common file systems hold.
NAME_MAX = 255


@dataclass(frozen=True)
class Limits:
    """What an archive may ask of the disk; the defaults suit real datasets (MNIST as 70 000
    PNGs is fine) and stop bombs."""

    max_entries: int = 200_000
    #: uncompressed / compressed size above which an expansion counts as a bomb ...
    max_ratio: float = 250.0
    #: ... once it expands beyond this many bytes (masks of zeros compress ~1000x legitimately).
    ratio_floor: int = 256 << 20
    #: free space that must remain on the disk after extraction
    reserve: int = 100 << 20


@dataclass(frozen=True)
class Extracted:
    """An archive extracted into ``folder``; ``root`` is where its content starts (the folder,
    or its single top-level sub-folder)."""

    archive: Path
    folder: Path
    root: Path
    files: int
    bytes: int
    #: True when an earlier extraction with exactly the same content was found and is used
    #: instead (importing the same archive twice adds nothing twice); never delete it then.
    reused: bool = False


class UnsafeArchiveError(UserFacingError):
    """The archive was refused before anything was extracted; ``problems`` are
    ``(entry name, reason)`` pairs."""

    def __init__(self, archive: str | Path, problems: list[tuple[str, str]], limit: int = 20):
        self.archive = Path(archive)
        self.problems = list(problems)
        shown = "\n".join(f"  - entry {name!r}: {why}" for name, why in self.problems[:limit])
        more = len(self.problems) - limit
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(
            f"{self.archive}: archive refused, nothing was extracted; "
            f"{len(self.problems)} problem(s):\n{shown}{tail}"
        )


def is_archive(path: str | Path) -> bool:
    """Whether ``path`` is an archive to extract, by its name (so ``.npz`` and ``.xlsx``, which
    are zips inside, stay what they are)."""
    name = Path(path).name.lower()
    return any(name.endswith(s) for s in ARCHIVE_SUFFIXES)


def archive_stem(path: str | Path) -> str:
    """The archive's name without its archive ending: ``cells.tar.gz`` -> ``cells``."""
    name = Path(path).name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


# -- the plan: every entry judged before anything is written ----------------------------------


@dataclass(frozen=True)
class _Entry:
    name: str  # as stored in the archive
    parts: tuple[str, ...]  # the safe relative path
    is_dir: bool
    size: int
    ref: object  # ZipInfo / TarInfo


def _name_problem(name: str) -> str | None:
    """Why an entry name could write outside its target folder, or None if it is safe."""
    if not name or name in ("/", "."):
        return "has an empty name"
    if "\x00" in name:
        return "name contains a NUL character"
    if "\\" in name:
        return "name contains a backslash (a Windows path trick)"
    if name.startswith("/"):
        return "absolute path"
    if _DRIVE.match(name):
        return "Windows drive letter"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return "'..' component: would climb out of the target folder"
    if os.name == "nt" and any(":" in p for p in parts):
        return "':' in a name (an NTFS stream)"
    if not parts:
        return "has an empty name"
    if any(len(p.encode("utf-8", "surrogateescape")) > NAME_MAX for p in parts):
        return f"a file or folder name longer than {NAME_MAX} bytes (no file system holds it)"
    return None


def _safe_parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in name.split("/") if p not in ("", "."))


def _zip_entries(archive: Path, zf: zipfile.ZipFile, problems: list[tuple[str, str]]):
    supported = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
    for info in zf.infolist():
        name = info.filename
        problem = _name_problem(name)
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if problem is None and kind == stat.S_IFLNK:
            problem = "symbolic link (links are never extracted)"
        elif problem is None and kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            problem = "special file (device, FIFO or socket)"
        elif problem is None and info.flag_bits & 0x1:
            problem = "encrypted (password-protected archives are not supported)"
        elif problem is None and info.compress_type not in supported:
            problem = f"compression method {info.compress_type} is not supported"
        if problem:
            problems.append((name, problem))
            continue
        is_dir = info.is_dir() or kind == stat.S_IFDIR
        yield _Entry(name, _safe_parts(name), is_dir, 0 if is_dir else info.file_size, info)


def _tar_entries(archive: Path, tar: tarfile.TarFile, problems: list[tuple[str, str]], dest: Path):
    for member in tar:
        name = member.name
        problem = _name_problem(name)
        if problem is None:
            if member.issym():
                problem = f"symbolic link to {member.linkname!r} (links are never extracted)"
            elif member.islnk():
                problem = f"hard link to {member.linkname!r} (links are never extracted)"
            elif member.ischr() or member.isblk():
                problem = "device file"
            elif member.isfifo():
                problem = "FIFO (named pipe)"
            elif not (member.isreg() or member.isdir()):
                problem = "not a regular file or folder"
        if problem is None and hasattr(tarfile, "data_filter"):
            try:  # the standard library's judgement as a second opinion
                tarfile.data_filter(member, str(dest))
            except tarfile.FilterError as exc:
                problem = f"refused by the tar data filter ({exc})"
        if problem:
            problems.append((name, problem))
            continue
        is_dir = member.isdir()
        yield _Entry(name, _safe_parts(name), is_dir, 0 if is_dir else member.size, member)


def _open(archive: Path) -> zipfile.ZipFile | tarfile.TarFile:
    try:
        if archive.name.lower().endswith(".zip"):
            return zipfile.ZipFile(archive)
        return tarfile.open(archive, "r:*")
    except FileNotFoundError as exc:
        raise UserFacingError(f"{archive}: file not found") from exc
    except IsADirectoryError as exc:
        raise UserFacingError(f"{archive}: is a folder, not an archive file") from exc
    except OSError as exc:
        raise UserFacingError(f"{archive}: cannot read ({exc.strerror})") from exc
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, ValueError) as exc:
        raise UserFacingError(
            f"{archive}: not a readable archive, truncated or corrupt ({exc})"
        ) from exc


def _check(
    archive: Path, handle: zipfile.ZipFile | tarfile.TarFile, dest: Path, limits: Limits
) -> Job[list[_Entry]]:
    """Every entry of the archive, judged; raises :class:`UnsafeArchiveError` on any problem."""
    problems: list[tuple[str, str]] = []
    entries: list[_Entry] = []
    listing = (
        _zip_entries(archive, handle, problems)
        if isinstance(handle, zipfile.ZipFile)
        else _tar_entries(archive, handle, problems, dest)
    )
    count = 0
    try:
        for entry in listing:
            count += 1
            if count > limits.max_entries:
                raise UserFacingError(
                    f"{archive}: archive refused, nothing was extracted; it holds more than "
                    f"{limits.max_entries} entries"
                )
            entries.append(entry)
            if count % 1000 == 0:
                yield Progress(0, 0, f"checking {archive.name}: {count} entries")
    except (tarfile.TarError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise UserFacingError(
            f"{archive}: not a readable archive, truncated or corrupt ({exc})"
        ) from exc
    if count + len(problems) > limits.max_entries:
        raise UserFacingError(
            f"{archive}: archive refused, nothing was extracted; it holds more than "
            f"{limits.max_entries} entries"
        )
    # Collisions: the same path twice (the later would silently win), a file where another
    # entry needs a folder, or names that differ only by case (one file on macOS / Windows).
    # Names are compared as macOS and Windows compare them: case-insensitively and with Unicode
    # normalised (NFC "é" and NFD "e" + accent are one file there).
    files: dict[str, str] = {}
    folders: set[str] = set()
    for e in entries:
        for k in range(1, len(e.parts)):
            folders.add(_same_name_key(e.parts[:k]))
        if e.is_dir:
            folders.add(_same_name_key(e.parts))
    for e in entries:
        if e.is_dir:
            continue
        key = _same_name_key(e.parts)
        if key in files:
            other = files[key]
            how = (
                "the same name"
                if "/".join(e.parts) == "/".join(_safe_parts(other))
                else "the same name ignoring case and Unicode normalisation"
            )
            problems.append((e.name, f"a second entry for the same file (also {other!r}: {how})"))
        elif key in folders:
            problems.append((e.name, "is a file where other entries need a folder"))
        files.setdefault(key, e.name)
        # Belt and braces: the path the bytes go to must resolve inside the target.
        target = (dest / Path(*e.parts)).resolve()
        if not target.is_relative_to(dest.resolve()):
            problems.append((e.name, "would be written outside the target folder"))
    if problems:
        raise UnsafeArchiveError(archive, problems)
    return entries


def _same_name_key(parts: tuple[str, ...]) -> str:
    return unicodedata.normalize("NFC", "/".join(parts)).casefold()


def _check_sizes(archive: Path, entries: list[_Entry], parent: Path, limits: Limits) -> int:
    total = sum(e.size for e in entries if not _JUNK.search(e.name))
    packed = max(archive.stat().st_size, 1)
    if total > limits.ratio_floor and total / packed > limits.max_ratio:
        raise UserFacingError(
            f"{archive}: archive refused, nothing was extracted; it would expand "
            f"{total / packed:.0f}x to {human_size(total)} (a compression bomb?)"
        )
    for e in entries:
        if isinstance(e.ref, zipfile.ZipInfo) and e.size > limits.ratio_floor:
            ratio = e.size / max(e.ref.compress_size, 1)
            if ratio > limits.max_ratio:
                raise UserFacingError(
                    f"{archive}: archive refused, nothing was extracted; entry {e.name!r} "
                    f"would expand {ratio:.0f}x to {human_size(e.size)} (a compression bomb?)"
                )
    free = shutil.disk_usage(_existing(parent)).free
    if total + limits.reserve > free:
        raise UserFacingError(
            f"{archive}: archive refused, nothing was extracted; it needs {human_size(total)} "
            f"but {_existing(parent)} has {human_size(free)} free (keeping "
            f"{human_size(limits.reserve)} spare)"
        )
    return total


def _existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


# -- extraction ------------------------------------------------------------------------------


def _stream(handle: zipfile.ZipFile | tarfile.TarFile, entry: _Entry) -> IO[bytes]:
    if isinstance(handle, zipfile.ZipFile):
        return handle.open(entry.ref)  # type: ignore[arg-type]
    stream = handle.extractfile(entry.ref)  # type: ignore[arg-type]
    if stream is None:  # pragma: no cover - only regular members get here
        raise tarfile.ExtractError("no data")
    return stream


def unique_folder(parent: Path, name: str) -> Path:
    """``parent/name``, or ``name-2``, ``name-3``, ... when taken."""
    candidate, n = parent / name, 1
    while candidate.exists() or candidate.is_symlink():
        n += 1
        candidate = parent / f"{name}-{n}"
    return candidate


def _folder_name(archive: Path) -> str:
    text = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", archive_stem(archive)).strip().strip(".")
    # at most 120 bytes: room for the ".partial" / "-2" decorations within NAME_MAX
    text = text.encode("utf-8", "surrogateescape")[:120].decode("utf-8", "ignore")
    return text.strip().strip(".") or "archive"


def extract_job(
    archive: str | Path, parent: str | Path, *, limits: Limits | None = None
) -> Job[Extracted]:
    """Extract ``archive`` into a new folder ``parent/<archive stem>`` (``-2``, ``-3`` ... when
    taken), yielding Progress by bytes. Refuses unsafe or oversized archives before writing
    anything (:class:`UnsafeArchiveError` / :class:`UserFacingError`); a failure or a cancel
    leaves nothing behind (``parent`` itself is removed again if this job made it)."""
    archive, parent = Path(archive).absolute(), Path(parent).absolute()
    limits = limits or Limits()
    if not is_archive(archive):
        raise UserFacingError(f"{archive}: not an archive ({', '.join(ARCHIVE_SUFFIXES)})")
    if not archive.is_file():
        raise UserFacingError(f"{archive}: file not found")
    name = _folder_name(archive)
    yield Progress(0, 0, f"checking {archive.name}")
    with _open(archive) as handle:
        # The check uses a name that is not taken yet only for path arithmetic.
        entries = yield from _check(archive, handle, parent / name, limits)
        total = _check_sizes(archive, entries, parent, limits)
        if not any(not e.is_dir and not _JUNK.search(e.name) for e in entries):
            raise UserFacingError(f"{archive}: the archive holds no files")
        made_parent = not parent.exists()
        try:
            parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=parent))
        except OSError as exc:
            raise UserFacingError(f"{parent}: cannot write there ({exc.strerror})") from exc
        try:
            done = files = 0
            yield Progress(0, total, f"extracting {archive.name}")
            for entry in entries:
                if _JUNK.search(entry.name):
                    continue
                path = tmp.joinpath(*entry.parts)
                if entry.is_dir:
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                with _reading(archive, entry):
                    src = _stream(handle, entry)
                with src, _writing(path), open(path, "xb") as out:
                    while True:
                        with _reading(archive, entry):
                            block = src.read(_CHUNK)
                        if not block:
                            break
                        written += len(block)
                        if written > entry.size:  # more than the header said: refuse
                            raise UserFacingError(
                                f"{archive}: entry {entry.name!r} holds more data than "
                                "its header says (corrupt or malicious)"
                            )
                        out.write(block)
                        done += len(block)
                        if len(block) == _CHUNK:
                            yield Progress(done, total, f"extracting {entry.name}")
                if written != entry.size:
                    raise UserFacingError(
                        f"{archive}: entry {entry.name!r} is truncated ({written} of "
                        f"{entry.size} bytes)"
                    )
                files += 1
                yield Progress(done, total, f"extracting {entry.name}")
            if hasattr(os, "sync"):
                os.sync()  # one flush before the folder appears (an fsync per file is slow)
            same = _identical_sibling(tmp, parent, name)
            if same is not None:
                shutil.rmtree(tmp, ignore_errors=True)
                return Extracted(archive, same, content_root(same), files, done, reused=True)
            target = unique_folder(parent, name)
            os.rename(tmp, target)
            with contextlib.suppress(OSError):
                os.chmod(target, 0o777 & ~_umask())  # mkdtemp made it private
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if made_parent:
                with contextlib.suppress(OSError):
                    parent.rmdir()
            raise
    return Extracted(archive, target, content_root(target), files, done)


@contextlib.contextmanager
def _reading(archive: Path, entry: _Entry) -> Iterator[None]:
    """Errors reading an entry's bytes as a message naming the archive and the entry."""
    import lzma
    import zlib

    try:
        yield
    except UserFacingError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise UserFacingError(
            f"{archive}: entry {entry.name!r} cannot be read, the archive is truncated or "
            f"corrupt ({exc})"
        ) from exc
    except NotImplementedError as exc:
        raise UserFacingError(f"{archive}: entry {entry.name!r}: {exc}") from exc
    except OSError as exc:  # gzip's BadGzipFile is one, and a failing disk under the archive
        raise UserFacingError(f"{archive}: entry {entry.name!r} cannot be read ({exc})") from exc


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise UserFacingError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def _umask() -> int:
    from qbi_desktop.core.atomic import UMASK

    return UMASK


def _tree(folder: Path) -> dict[str, int]:
    return {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def _identical_sibling(fresh: Path, parent: Path, name: str) -> Path | None:
    """An earlier extraction ``name``, ``name-2``, ... with byte for byte the same files as
    ``fresh``, or None. Cheap unless names and sizes all match, which is the case it is for."""
    import filecmp

    wanted = _tree(fresh)
    candidate, n = parent / name, 1
    while candidate.exists():
        if candidate.is_dir() and not candidate.is_symlink() and _tree(candidate) == wanted:
            if all(filecmp.cmp(fresh / rel, candidate / rel, shallow=False) for rel in wanted):
                return candidate
        n += 1
        candidate = parent / f"{name}-{n}"
    return None


def content_root(folder: Path) -> Path:
    """Where an extracted archive's content starts: its single top-level folder if it holds
    nothing else (the usual ``data.zip`` -> ``data/...``), else the folder itself."""
    children = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(children) == 1 and children[0].is_dir() and not children[0].is_symlink():
        return children[0]
    return folder


def remove_extracted(extracted: Extracted) -> None:
    """Delete an extracted folder again (an import that used it failed or was cancelled), and
    its parent if that is left empty. A reused earlier extraction is left alone."""
    if extracted.reused:
        return
    shutil.rmtree(extracted.folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        extracted.folder.parent.rmdir()  # only succeeds when empty


__all__ = [
    "ARCHIVE_SUFFIXES",
    "Extracted",
    "Limits",
    "UnsafeArchiveError",
    "archive_stem",
    "content_root",
    "extract_job",
    "is_archive",
    "remove_extracted",
    "unique_folder",
]
