"""A numbered file series (``edge20mm_0000.tif``, ``edge20mm_0001.tif`` ...) as one lazy stack.

A series is given as a folder (its largest numbered series), a pattern with ``#`` for the
digits (``edge20mm_####.tif``) or ``*``/``?`` wildcards (``edge20mm_*.tif``), or one of its
files. The frames must be numbered without gaps and have one shape and pixel type: a missing
number or a frame of another size is refused, naming the frame. Only the headers are read when
the series is opened; each frame is read when it is shown.

Paddings: ``s_0001.tif``, ``s_001.tif`` and ``s_1.tif`` all name frame 1. A folder holding
one frame in several paddings is refused, naming the files (:func:`refuse_other_padding`, the
rule the series import shares): taking the longest series would be a silent guess. Numbers
written without padding (``s_1.tif`` .. ``s_12.tif``) are one series, not ``s_1..s_9`` with
the rest left out.
"""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from qbi_desktop.core.errors import ImageReadError, UserFacingError
from qbi_desktop.core.io import ImageSource, Plane, open_image, read_image
from qbi_desktop.core.spots.references import _NUMBERED, IMAGE_SUFFIXES, _regular_files


class SeriesError(UserFacingError):
    """The series cannot be opened as one stack; the message names the frame and the problem."""


@dataclass
class Series:
    """The frames of one numbered series, in number order."""

    folder: Path
    prefix: str
    digits: int
    suffix: str
    numbers: list[int]

    @property
    def unpadded(self) -> bool:
        """Numbers written as they are (``s_9``, ``s_10``): not one width for every frame."""
        return self.digits == 1 and bool(self.numbers) and self.numbers[-1] >= 10

    @property
    def pattern(self) -> str:
        if self.unpadded:
            return f"{self.prefix}*{self.suffix}"
        return f"{self.prefix}{'#' * self.digits}{self.suffix}"

    def name(self, number: int) -> str:
        return f"{self.prefix}{number:0{self.digits}d}{self.suffix}"

    @property
    def paths(self) -> list[Path]:
        return [self.folder / self.name(n) for n in self.numbers]


def _groups(folder: Path) -> dict[tuple[str, int, str], list[tuple[int, str]]]:
    groups: dict[tuple[str, int, str], list[tuple[int, str]]] = defaultdict(list)
    for entry in _regular_files(folder):
        p = Path(entry.name)
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        m = _NUMBERED.match(p.stem)
        if m:
            key = (m.group("prefix"), len(m.group("number")), p.suffix)
            groups[key].append((int(m.group("number")), entry.name))
    # numbers without padding (s_1 .. s_9, s_10 ..): one series, kept under width 1
    for prefix, digits, suffix in sorted(groups):
        short = (prefix, 1, suffix)
        if digits > 1 and short in groups:
            frames = groups[(prefix, digits, suffix)]
            if all(len(str(n)) == digits for n, _ in frames):  # no leading zero: not padded
                groups[short] += groups.pop((prefix, digits, suffix))
    return groups


def refuse_other_padding(series: Series) -> None:
    """``s_0001.tif``, ``s_001.tif`` and ``s_1.tif`` in one folder all name frame 1: taking
    one of them would be a silent guess, so the clash is refused, naming the files. Called
    when a series is found from its folder (a pattern or a frame names its padding)."""
    number = re.compile(rf"{re.escape(series.prefix)}([0-9]+){re.escape(series.suffix)}")
    mine = set(series.numbers)
    clashes: dict[int, list[str]] = {}
    for name in sorted(entry.name for entry in _regular_files(series.folder)):
        m = number.fullmatch(name)
        if m is None or int(m.group(1)) not in mine or name == series.name(int(m.group(1))):
            continue
        clashes.setdefault(int(m.group(1)), [series.name(int(m.group(1)))]).append(name)
    if clashes:
        frame, names = next(iter(sorted(clashes.items())))
        more = f" (and {len(clashes) - 1} more frame(s))" if len(clashes) > 1 else ""
        raise SeriesError(
            f"{series.folder}: frame {frame} is named by {len(names)} files, "
            f"{', '.join(names)}{more}: which series is meant is ambiguous; give the pattern "
            f"(e.g. {series.folder / series.pattern}) or move the other files away"
        )


def find_series(spec: str | Path) -> Series:
    """The series named by ``spec`` (folder, pattern, or one of its files); frames checked for
    gaps by number (a missing frame is named). Nothing is read."""
    spec = Path(spec).expanduser()
    if spec.is_dir():
        folder, wanted = spec, None
    else:
        folder, wanted = spec.parent, spec.name
        if not folder.is_dir():
            raise SeriesError(f"{spec}: the folder {folder} does not exist")
    groups = _groups(folder)
    if wanted is None:
        if not groups:
            raise SeriesError(f"{folder}: holds no numbered image files (name_0000.tif ...)")
        key = max(groups, key=lambda k: (len(groups[k]), k))
    elif "#" in wanted or "*" in wanted or "?" in wanted:
        glob = re.sub("#+", lambda m: "[0-9]" * len(m.group()), wanted)
        keys = [
            k
            for k, frames in groups.items()
            if any(fnmatch.fnmatchcase(n, glob) for _, n in frames)
        ]
        if not keys:
            raise SeriesError(f"{spec}: no file in {folder} matches this pattern")
        if len(keys) > 1:
            names = ", ".join(f"{p}{'#' * d}{s}" for p, d, s in sorted(keys))
            raise SeriesError(f"{spec}: matches several series ({names}); name one")
        key = keys[0]
        groups[key] = [(n, name) for n, name in groups[key] if _matches(name, glob)]
    else:
        p = Path(wanted)
        m = _NUMBERED.match(p.stem)
        if m is None:
            raise SeriesError(f"{spec}: the name has no frame number at its end")
        if not spec.is_file():
            raise SeriesError(f"{spec}: file not found")
        key = (m.group("prefix"), len(m.group("number")), p.suffix)
        short = (key[0], 1, key[2])
        if key not in groups and any(name == wanted for _, name in groups.get(short, ())):
            key = short  # a frame of an unpadded series (s_12.tif among s_1 .. s_20)
    prefix, digits, suffix = key
    numbers = sorted(n for n, _ in groups[key])
    series = Series(folder, prefix, digits, suffix, numbers)
    if wanted is None:  # the folder's series was chosen: is it the only reading?
        refuse_other_padding(series)
    # counted from the frames present: a gap of 10^10 numbers must not build a range of them
    expected = numbers[-1] - numbers[0] + 1
    if expected != len(numbers):
        first = next(a + 1 for a, b in pairwise(numbers) if b != a + 1)
        gaps = expected - len(numbers)
        more = f" (and {gaps - 1} more)" if gaps > 1 else ""
        raise SeriesError(
            f"{folder / series.name(first)}: frame {first} of the series "
            f"{series.pattern} is missing{more}; the series has frames {numbers[0]}..{numbers[-1]}"
        )
    return series


def _matches(name: str, glob: str) -> bool:
    return fnmatch.fnmatchcase(name, glob)


class _SeriesLoader:
    """Planes of a series: each frame read whole when asked for (the source keeps a few)."""

    compressed = False

    def __init__(self, paths: list[Path], shape: tuple[int, ...], dtype: np.dtype):
        self.paths = paths
        self.shape = shape
        self.dtype = dtype

    def plane(self, index: int) -> Plane:
        path = self.paths[index]
        array = np.asarray(read_image(path))
        array = array.astype(array.dtype.newbyteorder("="), copy=False)  # ImageJ: big-endian
        if array.shape != self.shape or array.dtype != self.dtype:
            # the header was checked at open; the file changed since
            raise ImageReadError(
                path,
                f"frame {index} is now {array.shape} {array.dtype}, the series is "
                f"{self.shape} {self.dtype}",
            )
        return Plane(array)

    def close(self) -> None:
        pass


def check_frames(paths: list[Path]) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and pixel type of the frames (headers only); a frame of another size or type, or
    an unreadable one, is refused naming it."""
    shape = dtype = None
    for index, path in enumerate(paths):
        source = open_image(path)  # ImageReadError names the file
        try:
            if source.n_slices != 1:
                raise SeriesError(
                    f"{path}: frame {index} holds {source.n_slices} images; a series frame is "
                    "one image"
                )
            if shape is None:
                shape, dtype = tuple(source.slice_shape), source.dtype.newbyteorder("=")
            elif tuple(source.slice_shape) != shape or source.dtype.newbyteorder("=") != dtype:
                raise SeriesError(
                    f"{path}: frame {index} is {' x '.join(map(str, source.slice_shape))} "
                    f"{source.dtype}, the series' first frame {paths[0].name} is "
                    f"{' x '.join(map(str, shape))} {dtype}"
                )
        finally:
            source.close()
    return shape, dtype


def open_series(spec: str | Path) -> ImageSource:
    """Open a numbered series as one lazy stack (an :class:`ImageSource` of n slices)."""
    series = find_series(spec)
    paths = series.paths
    shape, dtype = check_frames(paths)
    return ImageSource(
        path=series.folder / series.pattern,
        dtype=np.dtype(dtype),
        slice_shape=shape,
        n_slices=len(paths),
        axes="I" + ("YXS" if len(shape) == 3 else "YX"),
        stack_shape=(len(paths),),
        metadata={
            "format": "numbered series",
            "series": series.pattern,
            "frames": f"{series.numbers[0]}..{series.numbers[-1]} ({len(paths)})",
        },
        _loader=_SeriesLoader(paths, shape, np.dtype(dtype)),
    )


def series_slice_path(source: ImageSource, index: int) -> Path | None:
    """The file behind slice ``index`` of a series source (None for other sources)."""
    loader = source._loader
    return loader.paths[index] if isinstance(loader, _SeriesLoader) else None
