"""Where the app saved each image plane's mask, so the mask is found again on the next open.

Masks are no longer saved beside the raw data by default (a beamline's data folder is often
read-only), so opening an image cannot simply look beside it: after every successful save the
app records ``image path + plane (+ HDF5 dataset) -> mask file`` here, in the user's own data
folder, with the image's content hash (a changed image does not get an old mask).

A plane is named by its file, its index in the file and, for a NeXus/HDF5 file, the dataset it
is of: frame 1 of ``/entry/data/data`` and frame 1 of ``/entry/instrument/detector/dark`` are
different images with different masks. TIFFs and series have no dataset (``""``): their keys are
the ones older versions wrote. An HDF5 plane with no entry of its own still finds the mask an
older version recorded without the dataset, when the content hash says it is this image's.

Only the app writes this record; it is read as untrusted JSON all the same (wrong types are
ignored, entry by entry).

The record is rewritten atomically under a lock, so two windows saving at once lose no entry.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from pathlib import Path

from qbi_desktop.core.atomic import atomic_write_text
from qbi_desktop.core.paths import user_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

FILE_NAME = "mask-index.json"
MAX_ENTRIES = 20000  # the oldest are forgotten beyond this
MAX_BYTES = 32 * 1024**2


def index_path() -> Path:
    return user_dir("data") / FILE_NAME


def default_folder() -> Path:
    """Where masks are saved unless the user chose another folder: ``<user data>/masks``."""
    return user_dir("data") / "masks"


def _key(image_path: Path, index: int, dataset: str = "") -> str:
    key = f"{Path(image_path).resolve()}#{int(index)}"
    # NUL cannot be in a path: no file name and plane can spell another plane's key
    return f"{key}\0{dataset}" if dataset else key


def _keys(image_path: Path, index: int, dataset: str) -> list[str]:
    """The plane's own key first, then (an HDF5 dataset's plane) the key without the dataset
    that versions before datasets were told apart wrote."""
    own = _key(image_path, index, dataset)
    return [own, _key(image_path, index)] if dataset else [own]


def _read(path: Path) -> dict[str, dict]:
    try:
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            return {}
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    entries = raw.get("masks") if isinstance(raw, dict) else None
    if not isinstance(entries, dict):
        return {}
    return {
        k: v
        for k, v in entries.items()
        if isinstance(k, str)
        and isinstance(v, dict)
        and isinstance(v.get("mask"), str)
        and isinstance(v.get("content"), str)
    }


@contextlib.contextmanager
def _locked(path: Path):
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def lookup(image_path: Path, index: int, content_hash: str, dataset: str = "") -> Path | None:
    """The mask file last saved for this plane (``dataset``: the HDF5 dataset it is of, ``""``
    for other files), if it still exists and the image is unchanged."""
    entries = _read(index_path())
    for key in _keys(image_path, index, dataset):
        entry = entries.get(key)
        if entry is None or entry["content"] != content_hash:
            continue
        mask = Path(entry["mask"])
        if mask.is_absolute() and mask.is_file():
            return mask
    return None


def recorded(image_path: Path, index: int, dataset: str = "") -> bool:
    """Whether a saved mask is recorded for this plane (whatever image content it was for)."""
    entries = _read(index_path())
    return any(key in entries for key in _keys(image_path, index, dataset))


def remember(
    image_path: Path, index: int, content_hash: str, mask_path: Path, dataset: str = ""
) -> None:
    """Record that this plane's mask was saved to ``mask_path`` (best effort: a record that
    cannot be written only means the next open does not load the mask by itself)."""
    path = index_path()
    key = _key(image_path, index, dataset)
    with contextlib.suppress(OSError), _locked(path):
        entries = _read(path)
        entries.pop(key, None)
        entries[key] = {
            "mask": str(Path(mask_path).resolve()),
            "content": content_hash,
            "saved": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        if dataset:
            entries[key]["dataset"] = dataset
        if len(entries) > MAX_ENTRIES:  # dicts keep insertion order: the oldest go first
            entries = dict(list(entries.items())[-MAX_ENTRIES:])
        atomic_write_text(path, json.dumps({"version": 1, "masks": entries}, indent=0))
