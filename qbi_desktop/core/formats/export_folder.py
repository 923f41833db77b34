"""The folder an export is written into: everything goes into a hidden temporary folder beside
the target, renamed into place only when complete, so a failed or cancelled export leaves no
half folder; every file is recorded with its size and SHA-256 for the Data Package description,
and every item file copied is compared with the content hash recorded at import.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qbi_desktop.core import leftovers
from qbi_desktop.core.atomic import DiskFullError, write_error
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.safefile import kind_of, open_regular


def check_export_folder(out: str | Path) -> Path:
    """``out`` as an absolute path where an export can go (a new or empty folder), or a
    :class:`UserFacingError` saying why not; nothing is created. The export dialog asks this
    before it closes, so a refused folder does not cost the user the dialog's choices."""
    out = Path(out).absolute()
    if out.is_symlink():
        # the finished export replaces the folder by rename: a link would be replaced, not
        # followed, and the export left hidden beside it
        raise UserFacingError(
            f"{out}: is a symbolic link; choose the folder it points to "
            f"({os.path.realpath(out)}) or a new folder"
        )
    if out.exists() and not out.is_dir():
        mode = out.stat().st_mode
        what = "a file" if stat.S_ISREG(mode) else kind_of(mode)
        raise UserFacingError(
            f"{out}: is {what}, not a folder; choose a new or empty folder for the export"
        )
    if out.exists() and any(out.iterdir()):
        raise UserFacingError(
            f"{out}: export folder exists and is not empty; choose a new or empty folder"
        )
    blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UserFacingError(f"{out}: cannot create the export folder there, {blocker} is a file")
    return out


class ExportFolder:
    """Collects an export in a temporary folder; :meth:`commit` moves it to ``out``.

    Records every file with its size and SHA-256 for the Data Package description.
    """

    def __init__(self, out: str | Path):
        self.out = check_export_folder(out)
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserFacingError(
                f"{self.out}: cannot create the export folder ({exc.strerror or exc})"
            ) from exc
        #: hidden folders of earlier exports here whose process died (kill -9), now removed
        self.swept = leftovers.sweep_exports(self.out)
        try:  # (its lock, held while this export is made, tells a dead run's folder from ours)
            self.tmp, self._owner = leftovers.staging_beside(self.out)
        except OSError as exc:
            raise UserFacingError(
                f"{self.out.parent}: cannot write there ({exc.strerror})"
            ) from exc
        self.files: dict[str, tuple[int, str]] = {}  # relative path -> (bytes, sha256)
        self._names: dict[str, set[str]] = {}  # folder ("" or "a/b/") -> folder_key of entries
        self._dirs: dict[tuple[str, str], str] = {}  # (folder, name asked) -> name written
        #: (folder asked, folder written) for the folders :meth:`unique` renamed
        self.renamed_folders: list[tuple[str, str]] = []
        #: item files that are missing or changed since import: the export is refused
        self.problems: list[str] = []

    def unique(self, rel: str) -> str:
        """``rel`` or, if already taken, ``stem_2.ext``, ``stem_3.ext``, ...; each level of the
        path is compared case-folded and in NFC (:func:`~qbi_desktop.core.catalog.classes.
        folder_key`), as Windows and macOS compare names: folders ``Dog/`` and ``dog/`` (or
        two ``café/`` in NFC and NFD) would be one folder there, so the second becomes
        ``dog_2/`` (listed in :attr:`renamed_folders`); a folder keeps its name for every
        later file in it."""
        *dirs, name = rel.split("/")
        parent = self._folders(dirs)
        return parent + self._free(parent, name, folder=False)

    def _folders(self, dirs: list[str]) -> str:
        """The folder path (``"a/b/"``, or ``""``) the folders ``dirs`` are written as."""
        parent = ""
        for part in dirs:
            known = self._dirs.get((parent, part))
            if known is None:
                known = self._free(parent, part, folder=True)
                self._dirs[(parent, part)] = known
                if known != part:
                    self.renamed_folders.append((f"{parent}{part}", f"{parent}{known}"))
            parent = f"{parent}{known}/"
        return parent

    def make_dir(self, rel: str) -> str:
        """Create the folder ``rel`` even when no file goes into it (an empty class folder),
        named as :meth:`unique` names folders, so later files in it land in the same folder;
        the relative path made (without a trailing ``/``)."""
        made = self._folders([part for part in rel.split("/") if part]).rstrip("/")
        try:
            (self.tmp / made).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserFacingError(
                f"{self.out / made}: cannot create the folder ({exc.strerror or exc})"
            ) from exc
        return made

    def _free(self, parent: str, name: str, *, folder: bool) -> str:
        """``name`` or ``name_2``... (``stem_2.ext`` for a file): one no other entry of the
        folder ``parent`` has under :func:`folder_key`; taken for it."""
        from qbi_desktop.core.catalog.classes import folder_key

        taken = self._names.setdefault(parent, set())
        stem, dot, ext = name.rpartition(".")
        candidate, n = name, 1
        while folder_key(candidate) in taken:
            n += 1
            candidate = f"{stem}_{n}.{ext}" if dot and not folder else f"{name}_{n}"
        taken.add(folder_key(candidate))
        return candidate

    def notes(self) -> list[str]:
        """The export report's note of the folders renamed by :meth:`unique`."""
        if not self.renamed_folders:
            return []
        shown = ", ".join(f"{a}/ -> {b}/" for a, b in self.renamed_folders[:5])
        more = f" and {len(self.renamed_folders) - 5} more" if len(self.renamed_folders) > 5 else ""
        return [
            f"{len(self.renamed_folders)} folder(s) renamed because their names differ from "
            f"another folder's only in upper/lower case or Unicode normalisation (one folder "
            f"on Windows and macOS): {shown}{more}; a folder-per-class reader takes the new "
            "name as the class"
        ]

    def write_bytes(self, rel: str, data: bytes) -> str:
        rel = self.unique(rel)
        path = self.tmp / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError as exc:  # disk full, read-only: a message, and guarded() cleans up
            with contextlib.suppress(OSError):
                path.unlink()  # before the free space is measured for the message
            error = write_error(self.out / rel, exc, len(data))
            if not isinstance(error, UserFacingError):
                error = UserFacingError(f"{self.out / rel}: cannot write ({exc.strerror or exc})")
            raise error from exc
        self.files[rel] = (len(data), hashlib.sha256(data).hexdigest())
        return rel

    def copy_file(self, rel: str, source: Path, expect: str | None = None) -> str:
        """Copy ``source`` to ``rel``; with ``expect`` (the catalog's content hash of the file)
        a file that differs is noted in :attr:`problems` (the export is then refused)."""
        rel = self.unique(rel)
        path = self.tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        digest, content = hashlib.sha256(), hashlib.blake2b(digest_size=16)
        size = 0
        try:
            with open_regular(source, "the image") as src, open(path, "xb") as out:
                while block := src.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    content.update(block)
                    size += len(block)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(self.out / rel, size or None) from exc
            raise UserFacingError(f"{source}: cannot copy for export ({exc.strerror})") from exc
        if expect is not None and content.hexdigest() != expect:
            self.problems.append(f"{source}: changed since it was imported (content differs)")
        self.files[rel] = (size, digest.hexdigest())
        return rel

    def write_json(self, rel: str, value: Any, indent: int | None = 1) -> str:
        """Strict JSON: a NaN or infinite number is refused, never written as ``NaN``.
        ``indent=None`` writes it compact, with json's C encoder (an indented dump runs in
        Python: 20 s for a COCO file of 40 000 annotations)."""
        try:
            text = json.dumps(value, indent=indent, allow_nan=False)
        except ValueError as exc:
            raise UserFacingError(
                f"{self.out}: cannot write {rel}: a number in it is NaN or infinite ({exc}); "
                "fix the boxes or targets holding it"
            ) from None
        return self.write_bytes(rel, text.encode())

    def commit(self) -> None:
        # One flush of everything before the folder appears; an fsync per file costs
        # ~3 ms each, which for 10 000 images is half a minute.
        leftovers.release(self._owner)
        with contextlib.suppress(OSError):
            (self.tmp / leftovers.EXPORT_OWNER).unlink()
        if hasattr(os, "sync"):
            os.sync()
        if self.out.exists():
            self.out.rmdir()  # empty (checked in __init__)
        os.replace(self.tmp, self.out)

    def discard(self) -> None:
        leftovers.release(self._owner)
        shutil.rmtree(self.tmp, ignore_errors=True)

    @contextlib.contextmanager
    def guarded(self) -> Iterator[ExportFolder]:
        """Commit on success, discard on any error or on cancel (generator closed)."""
        try:
            yield self
            self.commit()
        except OSError as exc:  # the finished export could not be moved into place
            self.discard()
            if isinstance(exc, UserFacingError):
                raise
            raise UserFacingError(
                f"{self.out}: cannot move the finished export there ({exc.strerror or exc}); "
                "nothing was written"
            ) from exc
        except BaseException:
            self.discard()
            raise


class ExportRefused(UserFacingError):
    """The items' files are not what the catalog says (missing, changed): nothing written."""

    def __init__(self, out: Path, problems: list[str], limit: int = 20):
        self.problems = list(problems)
        shown = "\n".join(f"  - {p}" for p in problems[:limit])
        more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
        super().__init__(
            f"{out}: export refused, nothing was written; {len(problems)} item file(s) are "
            f"missing or changed since import (run verify, or import them again):\n{shown}{more}"
        )
