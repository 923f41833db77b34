"""NeXus / HDF5 files (h5py): list the image datasets, find the default one, read it lazily.

An image dataset is a numeric dataset of 2 or more dimensions whose last two are at least
2 x 2 (a stack of frames is (n, y, x), or (a, b, y, x) flattened to a x b slices). The default
follows the NeXus rules: the file's ``default`` attribute names an NXentry, the entry's
``default`` names an NXdata group, whose ``signal`` names the dataset; without them the first
NXdata group with a signal, else the largest image dataset. Slices are read one at a time,
never the whole file (:mod:`.nexus_frames`: a frame-per-chunk dataset decoded here, the next
slice read ahead while stepping); one slice's size is checked against the memory limit before it
is read.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.errors import ImageReadError
from qbi_desktop.core.io import ImageSource, _check_dtype, _check_file
from qbi_desktop.core.limits import check_image_size
from qbi_desktop.core.radiography.nexus_frames import FrameReader
from qbi_desktop.core.radiography.nexus_frames import close_all as _close_all
from qbi_desktop.core.radiography.nexus_probe import crash_reason

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
NEXUS_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs", ".nx5", ".nexus")


@dataclass(frozen=True)
class ImageDataset:
    """One image dataset of a file: its HDF5 path, shape and pixel type."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def slices(self) -> int:
        return int(np.prod(self.shape[:-2], dtype=np.int64)) if len(self.shape) > 2 else 1

    def describe(self) -> str:
        return f"{self.name}  ({' x '.join(map(str, self.shape))} {self.dtype})"


def hdf5_signature_offset(path: str | Path) -> int | None:
    """Where the HDF5 signature is in the file, or None. The HDF5 format lets a user block
    (any bytes: h5py's ``userblock_size``, a header another tool put first) precede it, so
    the library looks at offset 0, 512, 1024, 2048, ... : so do we (a few reads per file)."""
    try:
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            offset = 0
            while offset + len(HDF5_SIGNATURE) <= size:
                stream.seek(offset)
                if stream.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                    return offset
                offset = 512 if offset == 0 else offset * 2
    except OSError:
        pass
    return None


def is_hdf5(path: str | Path) -> bool:
    """Is the file an HDF5 file (its signature at offset 0, or after a user block)?"""
    return hdf5_signature_offset(path) is not None


def _open(path: Path):
    try:
        import h5py
    except ImportError:  # h5py is a dependency: only a broken or trimmed install lacks it
        raise ImageReadError(
            path,
            "HDF5/NeXus files need the h5py package, which this installation does not include "
            "(install QBI Desktop with pip to open them, or convert the scan to TIFF)",
        ) from None

    _check_file(path)
    if not path.is_file():
        raise ImageReadError(path, "is not a regular file")
    crash = crash_reason(path)  # HDF5 itself can crash on damaged metadata: tried in a child
    if crash:
        raise ImageReadError(path, crash)
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise ImageReadError(path, f"not a readable HDF5/NeXus file ({exc})") from None


#: soft and external links followed to reach one dataset (a loop of links ends here)
MAX_LINKS = 16

#: what h5py raises on damaged metadata besides OSError (e.g. RuntimeError "addr overflow"
#: while visiting a corrupt object header)
DAMAGED_FILE_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)


def _names_damage(function):
    """``function(path, ...)`` with any h5py error on a damaged file reported as an
    :class:`ImageReadError` naming the file (never a traceback)."""

    @functools.wraps(function)
    def wrapper(path, *args, **kwargs):
        try:
            return function(path, *args, **kwargs)
        except ImageReadError:
            raise
        except DAMAGED_FILE_ERRORS as exc:
            raise ImageReadError(path, f"damaged HDF5/NeXus file ({exc})") from None

    return wrapper


def _why_not_image(obj: Any) -> str | None:
    """Why ``obj`` is not an image dataset we read, or None if it is one."""
    import h5py

    if not isinstance(obj, h5py.Dataset):
        return "is a group, not a dataset"
    dtype = obj.dtype
    if dtype.names:
        return f"has a compound type (fields {', '.join(dtype.names[:6])}), not pixel values"
    if dtype.kind in "SUO":
        return "holds text, not pixel values"
    if dtype.kind not in "uif" or dtype.itemsize > 8:
        return f"has type {dtype}, not integer or floating-point pixel values"
    if obj.ndim < 2:
        return f"is {obj.ndim}-D (shape {tuple(obj.shape)}), not an image"
    if obj.shape[-1] < 2 or obj.shape[-2] < 2:
        return f"has shape {tuple(obj.shape)}: its frames are smaller than 2 x 2"
    if 0 in obj.shape:  # e.g. a scan's extendible dataset that was never written to
        return f"has shape {tuple(obj.shape)}: it holds no frames"
    if obj.is_virtual:
        return (
            f"is a virtual dataset (its pixels are mapped from {_virtual_sources(obj)}): "
            "open those files"
        )
    if obj.external:
        return "keeps its pixels in external raw files, which are not read"
    if obj.id.get_space_status() == h5py.h5d.SPACE_STATUS_NOT_ALLOCATED:
        # a scan's dataset never written to, or a few bytes declaring a million frames
        return f"has shape {tuple(obj.shape)} but no frame was ever written: it holds no frames"
    return None


def _virtual_sources(obj: Any) -> str:
    """The files a virtual dataset maps its pixels from, each said to be beside the file or
    not (a beamline's master file travels without its data files more often than with)."""
    import h5py

    try:
        sources: set[tuple[str, str]] = set()  # (file, the dataset of this file linking it)
        for source in obj.virtual_sources():
            name, via = source.file_name, ""
            if name == ".":  # Diamond's layout: this file's dataset, an external link
                link = obj.file.get(source.dset_name, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    name, via = link.filename, f" through {source.dset_name}"
            sources.add((name, via))
        folder = Path(obj.file.filename).parent
    except (OSError, RuntimeError, ValueError, KeyError):
        return "other files"
    said = []
    for name, via in sorted(sources)[:3]:
        if name == ".":
            said.append("this file")
            continue
        there = Path(name).name == name and (folder / name).is_file()
        said.append(f"{name}{via} ({'beside the file' if there else 'not found beside the file'})")
    return ", ".join(said) + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")


def _is_image(obj: Any) -> bool:
    return _why_not_image(obj) is None


def _survey(f) -> tuple[list[ImageDataset], list[tuple[str, str]]]:
    """The image datasets of the file and, for the others, why they are not."""
    found: list[ImageDataset] = []
    others: list[tuple[str, str]] = []

    def visit(name: str, obj: Any) -> None:
        import h5py

        if not isinstance(obj, h5py.Dataset):
            return
        reason = _why_not_image(obj)
        if reason is None:
            found.append(ImageDataset("/" + name, tuple(obj.shape), np.dtype(obj.dtype)))
        else:
            others.append(("/" + name, reason))

    # visititems does not follow soft/external links, so a link loop cannot hang it
    f.visititems(visit)
    return found, others


def _datasets(f) -> list[ImageDataset]:
    return _survey(f)[0]


def _resolve(path: Path, f: Any, name: str, opened: list, hops: int = 0) -> Any:
    """The object at ``name`` in the open file ``f`` of ``path``, following soft links and
    external links only to regular HDF5 files in ``path``'s folder (or below it), which are
    opened here and appended to ``opened`` (the caller closes them). Anything else is refused
    naming the file and ``name``: a link that leaves the folder, a FIFO or device (opening it
    could block), a missing target, a loop of links."""
    import h5py

    group = f["/"]
    parts = [p for p in name.split("/") if p]
    for i, part in enumerate(parts):
        rest = "/".join(parts[i + 1 :])
        if not isinstance(group, h5py.Group):
            raise ImageReadError(path, f"{name}: {group.name} is not a group")
        try:
            link = group.get(part, getlink=True)
        except (KeyError, OSError, RuntimeError, ValueError) as exc:
            raise ImageReadError(path, f"{name}: cannot read link {part!r} ({exc})") from None
        if link is None:
            raise ImageReadError(path, f"{name}: is not in the file (no dataset {name!r})")
        if isinstance(link, h5py.SoftLink | h5py.ExternalLink):
            if hops >= MAX_LINKS:
                raise ImageReadError(
                    path, f"{name}: is reached through more than {MAX_LINKS} links (a loop?)"
                )
            if isinstance(link, h5py.SoftLink):
                target = link.path if link.path.startswith("/") else f"{group.name}/{link.path}"
                return _resolve(path, f, f"{target}/{rest}", opened, hops + 1)
            other = _external_file(path, Path(group.file.filename), name, link)
            opened.append(other)
            return _resolve(path, other, f"{link.path}/{rest}", opened, hops + 1)
        try:
            group = group[part]
        except (KeyError, OSError, RuntimeError, ValueError) as exc:
            raise ImageReadError(path, f"{name}: cannot read {part!r} ({exc})") from None
    return group


def _external_file(path: Path, holder: Path, name: str, link: Any) -> Any:
    """Open the file an external link points to, if it is a regular HDF5 file inside the
    folder of ``path`` (the file the user opened)."""
    import stat

    import h5py

    said = f"{name}: is an external link to {link.filename}:{link.path}"
    target = Path(link.filename)
    target = target if target.is_absolute() else holder.parent / target
    folder = path.resolve().parent
    try:
        real = target.resolve()
        mode = os.stat(real).st_mode
    except (OSError, RuntimeError):
        raise ImageReadError(path, f"{said}, which does not exist") from None
    if not real.is_relative_to(folder):
        raise ImageReadError(path, f"{said}, outside the file's folder {folder}: not followed")
    if not stat.S_ISREG(mode):
        raise ImageReadError(path, f"{said}, which is not a regular file: not followed")
    if not is_hdf5(real):
        raise ImageReadError(path, f"{said}, which is not an HDF5 file")
    crash = crash_reason(real)
    if crash:
        raise ImageReadError(path, f"{said}: {crash}")
    try:
        return h5py.File(real, "r")
    except OSError as exc:
        raise ImageReadError(path, f"{said}, which cannot be read ({exc})") from None


@_names_damage
def list_image_datasets(path: str | Path) -> list[ImageDataset]:
    """Every image dataset of the file, in the file's order (links are not followed)."""
    path = Path(path)
    with _open(path) as f:
        return _datasets(f)


def _attr(obj: Any, key: str) -> str | None:
    value = obj.attrs.get(key)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
        value = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return value if isinstance(value, str) and value else None


def _nx_class(obj: Any) -> str | None:
    return _attr(obj, "NX_class")


def _child_group(f: Any, parent: Any, name: str | None) -> Any:
    """``parent[name]`` when it is a group of this file reached by a hard link, else None."""
    import h5py

    if not name or "/" in name:
        return None
    link = parent.get(name, getlink=True)
    if not isinstance(link, h5py.HardLink):
        return None
    obj = parent.get(name)
    return obj if isinstance(obj, h5py.Group) else None


def _signal_name(group: Any) -> str | None:
    name = _attr(group, "signal")
    return f"{group.name.rstrip('/')}/{name}" if name and "/" not in name else None


def _default_name(f) -> str | None:
    """The NXdata signal's path: the file's default entry's default data, else the first
    NXdata group with a signal (its link may still need following, see :func:`_resolve`)."""
    import h5py

    entry = _child_group(f, f, _attr(f, "default"))
    if entry is not None:
        data = _child_group(f, entry, _attr(entry, "default"))
        if data is not None and _signal_name(data):
            return _signal_name(data)
    hits: list[str] = []

    def visit(_name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group) and _nx_class(obj) == "NXdata" and _signal_name(obj):
            hits.append(_signal_name(obj))

    f.visititems(visit)
    return hits[0] if hits else None


@_names_damage
def default_dataset(path: str | Path) -> ImageDataset:
    """The dataset to show when the user does not choose: the NXdata signal, else the largest
    image dataset. A file without an image dataset is refused, naming what it holds."""
    path = Path(path)
    with _open(path) as f:
        images, others = _survey(f)
        name = _default_name(f)
        signal = ""
        if name:
            opened: list = []
            try:
                obj = _resolve(path, f, name, opened)
                reason = _why_not_image(obj)
                if reason is None:
                    return ImageDataset(name, tuple(obj.shape), np.dtype(obj.dtype))
            except ImageReadError as exc:
                reason = exc.problem.removeprefix(f"{name}: ")
            finally:
                _close_all(opened)
            if all(n != name for n, _ in others):
                signal = f"its NXdata signal {name} {reason}"
    if not images:
        parts = [f"{n} {r}" for n, r in others[:4]]
        if len(others) > 4:
            parts.append(f"and {len(others) - 4} more datasets that are not images")
        if not others:
            parts.append("it holds no datasets")
        if signal:
            parts.append(signal)
        raise ImageReadError(
            path,
            "holds no image dataset (a numeric dataset of 2 or more dimensions): "
            + "; ".join(parts),
        )
    return max(images, key=lambda d: (int(np.prod(d.shape, dtype=np.int64)), d.name))


#: frames a dataset may declare without storing them (they read as its fill value: a scan
#: stopped before its last frames); past this the stack ends at its last stored frame
MAX_UNSTORED_FRAMES = 10_000


def stored_frames(path: Path, name: str, obj: Any) -> tuple[int, str]:
    """How many frames of the image dataset ``obj`` to show, and a note when that is fewer than
    it declares. A few kB can declare a million chunked frames and store one: stepping,
    cleaning or importing those would walk a million empty frames. When more than
    :data:`MAX_UNSTORED_FRAMES` declared frames are not stored, the stack ends at the last
    stored frame; one still as sparse (frame 0 and frame 999 999 stored) is refused, as is one
    declaring more frames than a stack may have at all."""
    from qbi_desktop.core.radiography.frames import check_frame_count

    shape = tuple(int(n) for n in obj.shape)
    declared = int(np.prod(shape[:-2], dtype=np.int64)) if len(shape) > 2 else 1
    chunks = obj.chunks
    if chunks is None or declared <= MAX_UNSTORED_FRAMES:
        return declared, ""  # contiguous storage is allocated whole (or not at all)
    per_chunk = int(np.prod(chunks[:-2], dtype=np.int64))
    count = int(obj.id.get_num_chunks())
    if count * per_chunk >= declared - MAX_UNSTORED_FRAMES:
        return declared, ""  # at most a bounded number of frames unstored
    check_frame_count(path, name, declared)  # absurdly many: refused before looking further
    outer, step = shape[:-2], tuple(chunks[:-2])
    ends: list[int] = []  # the last frame each stored chunk holds (row-major frame index)

    def visit(info: Any) -> None:
        last = [min(o + c, n) - 1 for o, c, n in zip(info.chunk_offset, step, outer, strict=False)]
        ends.append(int(np.ravel_multi_index(last, outer)))

    try:
        obj.id.chunk_iter(visit)
        extent = max(ends) + 1 if ends else 0
    except (AttributeError, NotImplementedError):  # an HDF5 library before 1.12.3 / 1.14
        extent = declared
    stored = min(count * per_chunk, extent)
    said = f"{name}: declares {declared:,} frames and stores at most {stored:,} of them"
    if extent - stored > MAX_UNSTORED_FRAMES:
        raise ImageReadError(
            path,
            f"{said}, spread up to frame {extent - 1:,}: more than {MAX_UNSTORED_FRAMES:,} "
            "frames of it were never written (a damaged or crafted file?)",
        )
    return extent, (
        f"{said}: frames {extent:,} to {declared - 1:,} were never written and are left out"
    )


@_names_damage
def open_nexus(path: str | Path, dataset: str | None = None) -> ImageSource:
    """Open ``dataset`` of the HDF5/NeXus file (default: :func:`default_dataset`) as a lazy
    stack. A name that is not an image dataset, or a file without any, is refused."""
    path = Path(path)
    name = dataset or default_dataset(path).name
    f = _open(path)
    linked: list = []
    try:
        obj = _resolve(path, f, name, linked)
        reason = _why_not_image(obj)
        if reason is not None:
            raise ImageReadError(path, f"{name} is not an image dataset: it {reason}")
        dtype = _check_dtype(path, obj.dtype)
        shape = tuple(int(n) for n in obj.shape)
        check_image_size(path, shape[-2:], dtype.itemsize, what=f"dataset {name}")
        outer = shape[:-2]
        n, note = stored_frames(path, name, obj)
        if note:  # the stack ends at its last stored frame: one axis of that many frames
            outer = (n,)
        axes = ("IYX" if len(outer) == 1 else "YX") if len(outer) <= 1 else "Z" * len(outer) + "YX"
        metadata = {"format": "HDF5/NeXus", "dataset": name}
        if note:
            metadata["stored_frames"] = note
        source = ImageSource(
            path=path,
            dtype=dtype.newbyteorder("="),
            slice_shape=shape[-2:],
            n_slices=n,
            axes=axes,
            stack_shape=outer or (1,),
            metadata=metadata,
            _loader=FrameReader(path, f, obj, linked),
        )
    except BaseException:
        _close_all([*linked, f])
        raise
    return source
