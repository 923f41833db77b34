"""The crash-safe stroke journal: every completed stroke is on disk before the next one starts.

File layout (little-endian)::

    b"QBIMJRN1"                                  8-byte magic
    record*                                      until end of file
    record  := u32 payload_length | u32 crc32(payload) | payload
    payload := b"H" + JSON header                 always the first record
             | b"B" + u8 dtype | u32 h | u32 w | zlib(mask bytes)   base mask (absent = all 0)
             | b"D" + delta                       one completed stroke
             | b"U" + delta / b"R" + delta        an undo (the inverse delta) / a redo
             | b"L" + JSON label table            the label table changed
    delta   := u32 y0 y1 x0 x1 | u32 n | u8 index dtype | u8 value dtype | u32 n_values
               | indices (flat, within the bbox) | new values (n_values = n, or 1 shared)

The header identifies the image the mask belongs to (:class:`ImageIdentity`: path, shape,
dtype and a content hash) and carries the label table; ``base_unsaved`` says the base mask
holds work saved nowhere else (recovered strokes), so such a journal is offered even with no
stroke after it. The header is untrusted input: it is read field by field
(:mod:`qbi_desktop.core.annotation.journal_header`), and its ``mask_path`` is only a record of
where the mask was last saved — where a recovered mask goes is decided by the app, never by the
journal (:mod:`qbi_desktop.core.annotation.journal_places`).

One writer per journal: :meth:`Journal.open_at` takes a lock
(:mod:`qbi_desktop.core.annotation.journal_lock`) that a second window or process cannot get,
so nobody truncates a journal another window is writing. A journal is self-contained: its base
record holds the mask as it was when the journal was (re)started — empty, the loaded mask, or
the mask just saved — so replay needs no other file. Each append is one ``write`` followed by
``fdatasync``: after a crash or ``kill -9`` every stroke whose ``append`` returned is on disk.

Records are coded in :mod:`qbi_desktop.core.annotation.journal_records`; the image identity
and its content hash in :mod:`qbi_desktop.core.annotation.image_identity`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.annotation.image_identity import ImageIdentity
from qbi_desktop.core.annotation.journal_header import HeaderError, parse_header
from qbi_desktop.core.annotation.journal_lock import (  # noqa: F401 (callers catch it here)
    JournalLock,
    JournalLockedError,
)
from qbi_desktop.core.annotation.journal_records import (
    DELTA_KINDS,
    MAGIC,
    apply_delta_record,
    decode_base,
    encode_base,
    encode_delta,
    header_payload,
    iter_records,
    record,
)
from qbi_desktop.core.annotation.mask_delta import StrokeDelta
from qbi_desktop.core.atomic import atomic_open
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.labels import LabelTable
from qbi_desktop.core.paths import user_dir
from qbi_desktop.core.safefile import read_bytes

SUFFIX = ".journal"


class JournalError(UserFacingError):
    """A journal cannot be used (not a journal, damaged header, unwritable folder...)."""


class JournalMismatchError(JournalError):
    """The journal belongs to a different image; nothing from it was applied."""


class RecoveryPendingError(JournalError):
    """A journal with unsaved strokes for this image exists; decide to recover or discard it."""

    def __init__(self, info: RecoveryInfo):
        self.info = info
        super().__init__(
            f"{info.path}: holds {info.describe()} from {info.created}, unsaved; "
            "recover them (replay) or discard the journal before starting a new one"
        )


@dataclass(frozen=True)
class RecoveryInfo:
    """A journal found on start-up that holds strokes: what to offer the user."""

    path: Path
    n_strokes: int
    created: str
    image: ImageIdentity
    problems: list[str] = field(default_factory=list)
    mask_path: str | None = None  # where the header says the mask was saved (untrusted)
    base_unsaved: bool = False  # the base holds recovered work saved nowhere else

    def describe(self) -> str:
        """What recovering brings back, in words (:func:`describe_unsaved`)."""
        return describe_unsaved(self.n_strokes, self.base_unsaved)


def describe_unsaved(n_strokes: int, base_unsaved: bool) -> str:
    """The unsaved work a journal holds, as every message names it: its strokes, and a mask
    recovered earlier and never saved (the journal's base after a recovery, with 0 strokes
    until the next one: "0 stroke(s)" was said of it while it restored real work)."""
    strokes = f"{n_strokes} stroke(s)"
    if not base_unsaved:
        return strokes
    base = "a mask recovered earlier, never saved"
    return f"{base}, and {strokes}" if n_strokes else base


@dataclass
class ReplayResult:
    mask: np.ndarray
    n_applied: int
    problems: list[str]
    labels: LabelTable | None
    header: dict[str, Any]


def _read_file(path: Path) -> bytes:
    # only a regular file: a FIFO named like a journal must not block the opening of an image
    if not path.exists() and not path.is_symlink():
        raise JournalError(f"{path}: journal not found")
    try:
        return read_bytes(path, "the recovery journal", limit=MAX_JOURNAL_BYTES)
    except UserFacingError as e:
        raise JournalError(str(e)) from None


#: Far above a day's painting (a stroke is a few KB); a bigger "journal" is refused unread.
MAX_JOURNAL_BYTES = 4 * 1024**3


def read_header(path: str | Path) -> dict[str, Any]:
    """The journal's header (image identity, label table, creation time)."""
    path = Path(path)
    data = _read_file(path)
    return _parse_header(data, path)


def _parse_header(data: bytes, path: Path) -> dict[str, Any]:
    if not data.startswith(MAGIC):
        raise JournalError(f"{path}: not a QBI Desktop mask journal (wrong magic bytes)")
    for i, _pos, payload in iter_records(data, path):
        if i is None or not payload.startswith(b"H"):
            break
        try:
            header = parse_header(payload[1:])
        except HeaderError as e:
            raise JournalError(
                f"{path}: the journal header is not valid ({e}); the journal cannot be used"
            ) from None
        header["image"] = ImageIdentity.from_dict(header["image"])
        return header
    raise JournalError(f"{path}: the journal header is damaged; the journal cannot be used")


def inspect(path: str | Path) -> tuple[dict[str, Any], int, list[str]]:
    """``(header, strokes a replay restores, problems)`` of the journal at ``path``; raises
    :class:`JournalError` when it is not a usable journal."""
    path = Path(path)
    data = _read_file(path)
    header = _parse_header(data, path)
    n, problems = _count_strokes(data, path)
    return header, n, problems


def _count_strokes(data: bytes, path: Path) -> tuple[int, list[str]]:
    """Strokes a replay restores: strokes and redos count, undos take one back."""
    n, problems = 0, []
    for i, _pos, payload in iter_records(data, path):
        if i is None:
            problems.append(payload)  # type: ignore[arg-type]
        elif payload[:1] in (b"D", b"R"):
            n += 1
        elif payload[:1] == b"U":
            n = max(0, n - 1)
    return n, problems


# -- replay ------------------------------------------------------------------------------------
def replay_full(path: str | Path, expected_image_id: ImageIdentity) -> ReplayResult:
    """Rebuild the mask from the journal at ``path``: base, then every intact stroke in order.

    A journal cut off mid-record (crash while writing) gives every intact stroke before the
    cut, and ``problems`` says what was lost. A journal from another image raises
    :class:`JournalMismatchError` and applies nothing.
    """
    path = Path(path)
    data = _read_file(path)
    header = _parse_header(data, path)
    theirs: ImageIdentity = header["image"]
    if not theirs.same_image(expected_image_id):
        raise JournalMismatchError(
            f"{path}: this recovery journal belongs to a different image, "
            f"{theirs.describe()}, not {expected_image_id.describe()}; nothing was applied"
        )
    h, w = header["mask_shape"]
    if (h, w) != tuple(expected_image_id.shape[:2]):
        raise JournalError(
            f"{path}: mask shape {h}x{w} does not match the image "
            f"{expected_image_id.shape[0]}x{expected_image_id.shape[1]}"
        )
    labels = None
    with contextlib.suppress(UserFacingError, TypeError, ValueError, KeyError, AttributeError):
        labels = LabelTable.from_dict(header.get("labels"))
    mask = np.zeros((h, w), dtype=np.uint8)
    problems: list[str] = []
    n_applied = 0
    for i, pos, payload in iter_records(data, path):
        if i is None:
            problems.append(payload)  # type: ignore[arg-type]
            break
        kind = payload[:1]
        try:
            if kind == b"H":
                continue
            if kind == b"B":
                mask = decode_base(payload, (h, w))
            elif kind in DELTA_KINDS:
                mask = apply_delta_record(payload, mask)
                n_applied += -1 if kind == b"U" else 1
            elif kind == b"L":
                labels = LabelTable.from_dict(json.loads(payload[1:].decode("utf-8")))
            else:
                raise ValueError(f"unknown record type {kind!r}")
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            RecursionError,
            struct.error,
            zlib.error,
            UserFacingError,
        ) as e:
            problems.append(
                f"{path}: record {i} at byte {pos} is malformed ({e}); it and the records "
                "after it were not applied"
            )
            break
    return ReplayResult(mask, n_applied, problems, labels, header)


def replay(path: str | Path, expected_image_id: ImageIdentity) -> tuple[np.ndarray, int, list[str]]:
    """``(mask, strokes applied, problems)`` — see :func:`replay_full`."""
    r = replay_full(path, expected_image_id)
    return r.mask, r.n_applied, r.problems


# -- the journal writer ---------------------------------------------------------------------------
class Journal:
    """An open journal: :meth:`append` each completed stroke (pass it as the editor's on_commit).

    Typical life: on opening an image, :meth:`pending_at` → offer recovery (:func:`replay`) →
    :meth:`open_at` (``overwrite=True`` once the user chose) → ``append`` per stroke →
    :meth:`rotate` after each explicit save → :meth:`discard` on a clean close. While open, the
    journal is locked: another :meth:`open_at` of the same file (another window, another
    process) raises :class:`JournalLockedError` and changes nothing.
    """

    def __init__(
        self,
        path: Path,
        fd: int,
        image_id: ImageIdentity,
        n_records: int = 0,
        lock: JournalLock | None = None,
    ):
        self.path = path
        self._fd: int | None = fd
        self.image_id = image_id
        self.n_strokes = n_records
        self._lock = lock

    # -- where journals live ----------------------------------------------------------------------
    @staticmethod
    def path_for(image_id: ImageIdentity, mask_path: str | Path | None = None) -> Path:
        """``<mask file>.journal`` next to the mask, or one in the user recovery folder."""
        if mask_path is not None:
            mask_path = Path(mask_path)
            return mask_path.with_name(mask_path.name + SUFFIX)
        stem = Path(image_id.path).stem if image_id.path else "unsaved"
        digest = image_id.content_hash.split(":")[-1][:16]
        return user_dir("recovery") / f"{stem}-{digest}{SUFFIX}"

    @staticmethod
    def pending(
        image_id: ImageIdentity, mask_path: str | Path | None = None
    ) -> RecoveryInfo | None:
        """A journal for this image holding strokes (to offer recovery), else None."""
        return Journal.pending_at(Journal.path_for(image_id, mask_path), image_id)

    @staticmethod
    def pending_at(path: Path, image_id: ImageIdentity) -> RecoveryInfo | None:
        """The journal at ``path`` if it belongs to this image and holds unsaved work (strokes,
        or a recovered base saved nowhere else), else None. Unreadable or foreign: None."""
        path = Path(path)
        if not path.exists():
            return None
        try:
            data = _read_file(path)
            header = _parse_header(data, path)
        except JournalError:
            return None
        if not header["image"].same_image(image_id):
            return None
        n, problems = _count_strokes(data, path)
        if n == 0 and not header["base_unsaved"]:
            return None
        return RecoveryInfo(
            path,
            n,
            header["created"],
            header["image"],
            problems,
            mask_path=header["mask_path"],
            base_unsaved=header["base_unsaved"],
        )

    @classmethod
    def open_for(
        cls,
        image_id: ImageIdentity,
        mask_path: str | Path | None = None,
        *,
        base_mask: np.ndarray | None = None,
        labels: LabelTable | None = None,
        overwrite: bool = False,
        base_unsaved: bool = False,
    ) -> Journal:
        """:meth:`open_at` the journal's usual place (:meth:`path_for`), recording ``mask_path``."""
        return cls.open_at(
            cls.path_for(image_id, mask_path),
            image_id,
            mask_path,
            base_mask=base_mask,
            labels=labels,
            overwrite=overwrite,
            base_unsaved=base_unsaved,
        )

    @classmethod
    def open_at(
        cls,
        path: Path,
        image_id: ImageIdentity,
        mask_path: str | Path | None = None,
        *,
        base_mask: np.ndarray | None = None,
        labels: LabelTable | None = None,
        overwrite: bool = False,
        base_unsaved: bool = False,
    ) -> Journal:
        """Start the journal at ``path`` for this image, beginning from ``base_mask`` (None =
        empty mask; ``base_unsaved``: it holds work saved nowhere else). ``mask_path`` is only
        recorded in the header (where the mask was last saved).

        Another window or process holding the journal raises :class:`JournalLockedError`
        before anything is touched. An existing journal with strokes for this image raises
        :class:`RecoveryPendingError` unless ``overwrite`` (the user chose to recover or
        discard it). A journal of another image at the same place is kept under a
        ``.orphan-<time>`` name, never deleted.
        """
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise JournalError(
                f"{path.parent}: cannot create the recovery folder ({e.strerror or e})"
            ) from None
        lock = JournalLock.acquire(path)
        try:
            cls._clear_place(path, image_id, overwrite)
            shape = tuple(int(s) for s in image_id.shape[:2])
            if base_mask is not None and base_mask.shape != shape:
                raise JournalError(
                    f"{path}: base mask shape {base_mask.shape} does not match the image {shape}"
                )
            mpath = None if mask_path is None else Path(mask_path)
            cls._write_fresh(path, image_id, shape, base_mask, labels, mpath, base_unsaved)
            return cls(path, cls._open_append(path), image_id, lock=lock)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _clear_place(cls, path: Path, image_id: ImageIdentity, overwrite: bool) -> None:
        """Before a journal is written at ``path`` (its lock held): refuse to replace unsaved
        work unless ``overwrite``; keep another image's journal under an ``.orphan`` name."""
        if not (path.exists() or path.is_symlink()):
            return
        info = cls.pending_at(path, image_id)
        if info is not None and not overwrite:
            raise RecoveryPendingError(info)
        if info is None:
            try:
                header = _parse_header(_read_file(path), path)
                foreign = not header["image"].same_image(image_id)
            except JournalError:
                foreign = True
            if foreign and (path.is_symlink() or path.stat().st_size > 0):
                stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
                os.replace(path, path.with_name(f"{path.name}.orphan-{stamp}"))

    def moved_to(self, path: Path, image_id: ImageIdentity) -> Journal:
        """This journal under another identity at ``path``: the header names ``image_id``,
        every record after it (base, strokes, undos, labels) is copied as it is. Used when the
        full content hash replaces a provisional one (see image_identity).

        The new file is complete and durable (atomic write) before this one is deleted, so a
        crash in between leaves one or two journals that replay to the same mask. ``path``
        holding unsaved work raises :class:`RecoveryPendingError` and changes nothing; another
        window holding it raises :class:`JournalLockedError`. This journal stays open then.
        """
        path = Path(path)
        lock = JournalLock.acquire(path)
        try:
            self._clear_place(path, image_id, overwrite=False)
            data = _read_file(self.path)
            tail = None
            for i, pos, payload in iter_records(data, self.path):
                if i is None or not payload.startswith(b"H"):
                    break
                try:
                    header = json.loads(payload[1:].decode("utf-8"))
                    header["image"] = image_id.to_dict()
                except (ValueError, TypeError):
                    break
                head = record(b"H" + json.dumps(header).encode("utf-8"))
                tail = data[pos + len(record(payload)) :]
                break
            if tail is None:
                raise JournalError(f"{self.path}: the journal header is damaged; not moved")
            try:
                with atomic_open(path) as stream:
                    stream.write(MAGIC + head + tail)
            except OSError as e:
                raise JournalError(
                    f"{path}: cannot write the recovery journal ({e.strerror or e})"
                ) from None
            moved = Journal(path, self._open_append(path), image_id, self.n_strokes, lock=lock)
        except BaseException:
            lock.release()
            raise
        self.discard()
        return moved

    @staticmethod
    def _write_fresh(
        path: Path,
        image_id: ImageIdentity,
        shape: tuple[int, ...],
        base_mask: np.ndarray | None,
        labels: LabelTable | None,
        mask_path: Path | None,
        base_unsaved: bool = False,
    ) -> None:
        has_base = base_mask is not None and bool(base_mask.any())
        blob = MAGIC + record(
            header_payload(image_id, shape, labels, mask_path, has_base, base_unsaved)
        )
        if has_base:
            blob += record(encode_base(base_mask))
        try:
            with atomic_open(path) as stream:
                stream.write(blob)
        except OSError as e:
            raise JournalError(
                f"{path}: cannot write the recovery journal ({e.strerror or e}); painting works "
                "but strokes are not protected against a crash until this is fixed"
            ) from None

    @staticmethod
    def _open_append(path: Path) -> int:
        # never through a symlink: the journal is written where the app put it, nowhere else
        flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_BINARY", 0)
        flags |= getattr(os, "O_NOFOLLOW", 0)
        try:
            return os.open(path, flags)
        except OSError as e:
            raise JournalError(f"{path}: cannot open the journal ({e.strerror or e})") from None

    # -- writing --------------------------------------------------------------------------------
    def _write(self, payload: bytes) -> None:
        if self._fd is None:
            raise JournalError(f"{self.path}: the journal is closed")
        data = record(payload)
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # short writes are rare but legal
                written += os.write(self._fd, data[written:])
            if hasattr(os, "fdatasync"):
                os.fdatasync(self._fd)
            else:  # pragma: no cover - macOS / Windows
                os.fsync(self._fd)
        except OSError as e:
            raise JournalError(
                f"{self.path}: could not record the stroke ({e.strerror or e}); the mask in "
                "memory is intact — save it now"
            ) from None

    def append(self, delta: StrokeDelta) -> None:
        """Append one completed stroke, undo or redo and make it durable (write + fdatasync).
        ``n_strokes`` follows what a replay restores: an undo takes one back."""
        self._write(encode_delta(delta))
        if getattr(delta, "kind", "stroke") == "undo":
            self.n_strokes = max(0, self.n_strokes - 1)
        else:
            self.n_strokes += 1

    __call__ = append  # so a Journal can be passed directly as MaskEditor(on_commit=...)

    def append_labels(self, labels: LabelTable) -> None:
        """Record a change of the label table (names, colours, new labels)."""
        self._write(b"L" + json.dumps(labels.to_dict()).encode("utf-8"))

    def rotate(
        self,
        base_mask: np.ndarray,
        labels: LabelTable | None = None,
        mask_path: str | Path | None = None,
        base_unsaved: bool = False,
    ) -> None:
        """After an explicit save: start afresh from the saved mask (old strokes dropped).

        The new journal replaces the old one atomically, so a crash during rotation leaves one
        of the two complete journals, both of which replay to the saved mask.
        """
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        shape = tuple(int(s) for s in self.image_id.shape[:2])
        mpath = None if mask_path is None else Path(mask_path)
        self._write_fresh(self.path, self.image_id, shape, base_mask, labels, mpath, base_unsaved)
        self._fd = self._open_append(self.path)
        self.n_strokes = 0

    def close(self) -> None:
        """Stop writing and let others open the journal (its file stays for recovery)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def discard(self) -> None:
        """Delete the journal and close it (a clean close after saving). Deleted before the
        lock goes, so nobody opens it in between."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
