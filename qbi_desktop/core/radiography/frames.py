"""The frames a command works on, whatever the input: image files, numbered series and NeXus
stacks, each expanded into one :class:`Frame` per 2-D image.

An input (:func:`expand_frames`) is an image file; a folder or a pattern (``scan_####.tif``,
``scan_*.tif`` quoted so the shell leaves it) naming a numbered series (every frame, checked
for gaps and sizes by :mod:`.series`); or an HDF5/NeXus file, whose image dataset (``dataset``,
default: the NXdata signal, :mod:`.nexus`) gives one frame per slice. A frame of a file is read
from the file; a NeXus frame from its slice alone (the file is opened, one slice read, closed).
Outputs are named by :attr:`Frame.stem`: the file's stem, or ``<file stem>_<frame>`` for a
NeXus frame (``scan_0003``), so each frame gets its own output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qbi_desktop.core import outfolder
from qbi_desktop.core.errors import ImageReadError, UserFacingError

#: frames one HDF5 dataset may give a command or an import: a crafted file can declare a
#: billion empty frames in a few bytes (unwritten chunks read as the fill value), and one item
#: or one output per frame must not grow without bound
MAX_STACK_FRAMES = 1_000_000


def check_frame_count(path: Path, dataset: str, n: int) -> None:
    """Refuse a dataset of more than :data:`MAX_STACK_FRAMES` frames, naming it."""
    if n > MAX_STACK_FRAMES:
        raise ImageReadError(
            path,
            f"{dataset}: declares {n:,} frames, more than the {MAX_STACK_FRAMES:,} a stack may "
            "have here (a damaged or crafted file?)",
        )


@dataclass(frozen=True)
class Frame:
    """One 2-D frame: the file ``path`` itself, slice ``index`` of its HDF5 ``dataset``, or
    (``dataset`` None) slice ``index`` of a file holding several images (a multi-page TIFF)."""

    path: Path
    index: int | None = None
    dataset: str | None = None
    digits: int = 4  # of the frame number in :attr:`stem`

    @property
    def stem(self) -> str:
        """What outputs of this frame are named after."""
        if self.index is None:
            return self.path.stem
        return f"{self.path.stem}_{self.index:0{self.digits}d}"

    def describe(self) -> str:
        """The frame in messages and provenance: the file, and for a NeXus frame its dataset
        and slice (``scan.nxs [/entry/data/data, frame 3]``)."""
        if self.index is None:
            return str(self.path)
        if self.dataset is None:
            return f"{self.path} [frame {self.index}]"
        return f"{self.path} [{self.dataset}, frame {self.index}]"

    def header(self) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and pixel type of the frame, from the file's header (no pixels read)."""
        if self.dataset is None:
            from qbi_desktop.core.io import open_image

            source = open_image(self.path)
        else:
            from qbi_desktop.core.radiography.nexus import open_nexus

            source = open_nexus(self.path, self.dataset)
        try:
            return tuple(source.slice_shape), np.dtype(source.dtype)
        finally:
            source.close()

    def read(self) -> np.ndarray:
        """The frame's pixels (native byte order); :class:`ImageReadError` names the file (and
        the dataset and slice)."""
        if self.dataset is None:
            from qbi_desktop.core.io import open_image, read_image

            if self.index is not None:
                source = open_image(self.path)
                try:
                    n = source.n_slices
                finally:
                    source.close()
                if not 0 <= self.index < n:
                    raise ImageReadError(self.path, f"has {n} frames, not frame {self.index}")
            return np.asarray(read_image(self.path, self.index or 0))
        from qbi_desktop.core.radiography.nexus import open_nexus

        source = open_nexus(self.path, self.dataset)
        try:
            if not 0 <= self.index < source.n_slices:
                raise ImageReadError(
                    self.path,
                    f"{self.dataset}: has {source.n_slices} frames, not frame {self.index}",
                )
            return np.asarray(source.plane(self.index).array)
        finally:
            source.close()


def check_outputs(
    frames: Sequence[Frame],
    out: Path,
    suffixes: Sequence[str],
    references: Iterable[tuple[str | Path, str]] = (),
    own: Callable[[Frame, Path], bool] | None = None,
    command: str = "qbi-desktop",
    why: str | None = None,
) -> None:
    """Refuse, before anything is written, outputs ``out/<frame stem><suffix>`` that land on
    one another (``a`` and ``a_spots`` both give ``a_spots.tif``; one result would be lost or
    taken as done), on an input, or on one of the other files the command reads,
    ``references`` as (path, what it is) pairs: an open beam, a dark current, a hot-pixel
    frame (it would be overwritten), naming both; and outputs that would replace a file
    already in ``out`` unless ``own(frame, path)`` says it is this command's own earlier
    output of that frame (a resume or a re-run), naming a few (a hand-corrected mask must not
    be replaced by a fresh detection)."""
    # realpath, not Path.resolve: a link loop among the inputs is named when that frame is
    # read, not a RuntimeError here
    inputs = {Path(os.path.realpath(f.path)): f for f in frames if f.dataset is None}
    read = {Path(os.path.realpath(path)): f"the {role} {path}" for path, role in references}
    claimed: dict[Path, Frame] = {}
    for frame in frames:
        for suffix in suffixes:
            target = Path(os.path.realpath(Path(out) / f"{frame.stem}{suffix}"))
            if target in read:
                raise UserFacingError(
                    f"{frame.describe()}: its output {target} would overwrite "
                    f"{read[target]}; choose another output folder"
                )
            if target in inputs:
                raise UserFacingError(
                    f"{frame.describe()}: its output {target} would overwrite the input "
                    f"{inputs[target].describe()}; choose another output folder"
                )
            if target in claimed and claimed[target] != frame:
                raise UserFacingError(
                    f"{frame.describe()}: its output {target} is also the output of "
                    f"{claimed[target].describe()}; one would replace the other"
                )
            claimed[target] = frame
    planned = {f"{frame.stem}{suffix}": frame for frame in frames for suffix in suffixes}
    found = outfolder.would_replace(Path(out), planned)
    found = [p for p in found if not (own is not None and own(planned[p.name], p))]
    if found:
        outfolder.raise_replacing(Path(out), found, command, why)


def as_frames(items: Iterable[str | Path | Frame]) -> list[Frame]:
    """Frames as given, and paths as the frame of their file."""
    return [item if isinstance(item, Frame) else Frame(Path(item)) for item in items]


def is_series_spec(spec: str | Path) -> bool:
    """A folder, or a name with ``#``/``*``/``?`` that is no existing file: a series."""
    path = Path(spec)
    if outfolder.is_dir(path):  # a name too long for the file system: named, no traceback
        return True
    return not outfolder.exists(path) and any(c in path.name for c in "#*?")


def expand_frames(
    specs: Sequence[str | Path],
    dataset: str | None = None,
    notes: list[str] | None = None,
    pages: bool = False,
) -> list[Frame]:
    """Every frame the inputs ``specs`` name (see the module doc), in order. ``dataset`` is the
    image dataset of the HDF5/NeXus inputs; given without any such input it is refused, as is a
    missing frame of a series or a file without an image dataset (each named). ``notes``
    receives what the user should know (a dataset cut to its stored frames). With ``pages``,
    a file holding several images (a multi-page TIFF, a hyperstack) gives one frame per image,
    named like a NeXus frame (``<stem>_0003``), and ``notes`` says so; without, it stays one
    frame (the command refuses or reads it as it must)."""
    from qbi_desktop.core.radiography.nexus import default_dataset, is_hdf5, open_nexus
    from qbi_desktop.core.radiography.series import find_series

    frames: list[Frame] = []
    hdf5 = False
    for spec in specs:
        path = Path(spec)
        if is_series_spec(spec):
            frames += [Frame(p) for p in find_series(spec).paths]
        elif outfolder.is_file(path) and is_hdf5(path):
            hdf5 = True
            name = dataset or default_dataset(path).name
            source = open_nexus(path, name)  # a name that is no image dataset is refused
            try:
                n = source.n_slices
                note = source.metadata.get("stored_frames")
                if note and notes is not None:
                    notes.append(f"{path}: {note}")
            finally:
                source.close()
            check_frame_count(path, name, n)
            digits = max(4, len(str(n - 1)))
            frames += [Frame(path, i, name, digits) for i in range(n)]
        elif pages:
            frames += _pages(path, notes)
        else:
            frames.append(Frame(path))
    if dataset and not hdf5:
        raise UserFacingError(f"--dataset {dataset}: applies to HDF5/NeXus inputs, none was given")
    return frames


def _pages(path: Path, notes: list[str] | None) -> list[Frame]:
    """The frames of an image file: itself, or one per image it holds."""
    from qbi_desktop.core.io import open_image

    source = open_image(path)  # an unreadable file is named here, before any work
    try:
        n = source.n_slices
        series = int(source.metadata.get("series", 1) or 1)
        other_pages = int(source.metadata.get("other_series_pages", 0) or 0)
    finally:
        source.close()
    if notes is not None and (series > 1 or other_pages):
        more = f"{series - 1} more series" if series > 1 else f"{other_pages} more page(s)"
        notes.append(
            f"{path}: holds further, separate images (TIFF series: {more}); only the first "
            "series is read"
        )
    if n <= 1:
        return [Frame(path)]
    check_frame_count(path, "the file", n)
    digits = max(4, len(str(n - 1)))
    if notes is not None:
        first, last = f"{path.stem}_{0:0{digits}d}", f"{path.stem}_{n - 1:0{digits}d}"
        notes.append(f"{path}: holds {n} images; each is a frame ({first} .. {last})")
    return [Frame(path, i, None, digits) for i in range(n)]


#: frames of a stack used to find its hot pixels (spread over it: a pixel bright in most of
#: them is the camera's, a gamma spot hits one)
STACK_HOT_FRAMES = 4


def stack_hot_pixels(frames: Sequence[Frame]):
    """The hot pixels of a stack (e.g. the frames of one NeXus dataset) from
    :data:`STACK_HOT_FRAMES` frames spread over it; None for fewer than 3 frames."""
    from qbi_desktop.core.spots import hot_pixels

    n = len(frames)
    if n < 3:
        return None
    picks = sorted({round(i * (n - 1) / (STACK_HOT_FRAMES - 1)) for i in range(STACK_HOT_FRAMES)})
    return hot_pixels(np.stack([frames[i].read() for i in picks]))
