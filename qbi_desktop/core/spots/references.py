"""Where the hot pixels of an image can come from: other frames of its series, a dark frame.

Beamline images come as numbered series (``edge20mm_0000.tif``, ``edge20mm_0001.tif``...) with
a dark-current frame (``dc.tif``, ``dark_0001.tif``...) in the same folder. Both are references
for the camera's hot pixels (:mod:`qbi_desktop.core.spots.hot_pixels`); this module finds them
by name, so the Spots dock can use or offer them without asking the user to browse.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job
from qbi_desktop.core.spots.hot_pixels import HotPixels, hot_pixels_job

#: a numbered frame: anything (a newline too), then the frame number at the end of the stem,
#: in ASCII digits (the series' names are rebuilt from the number: "s_\u0661.tif" is no s_1.tif)
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<number>[0-9]+)$", re.DOTALL)
#: a dark-current frame: dc, dark, darkfield, dark_current... as the stem or its last word,
#: optionally numbered
_DARK = re.compile(
    r"(^|[_\-. ])(dc|dark|darks|darkfield|dark[_\- ]?current|dark[_\- ]?frame)([_\-. ]?\d*)$",
    re.IGNORECASE,
)
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".fits", ".fit")
#: how many frames of a series to use: the per-pixel median of 3-4 frames outvotes their
#: gamma spots; more cost reading time and find little more (F1 0.900 with 2, 0.909 with 3)
SERIES_FRAMES = 4
#: a folder with more entries than this is not scanned (a network share of a whole scan)
MAX_FOLDER_ENTRIES = 200_000


@dataclass
class HotPixelReferences:
    """Candidate references for an image's hot pixels, nearest frames first."""

    series: list[Path] = field(default_factory=list)  # other frames of the same series
    dark: list[Path] = field(default_factory=list)  # dark-current frames in the folder
    pattern: str = ""  # the series as a name pattern, e.g. edge20mm_####.tif

    @property
    def best(self) -> list[Path]:
        """The reference to use: 2+ series frames if there are, else the dark frames."""
        if len(self.series) >= 2:
            return self.series
        return self.dark

    def describe(self, paths: list[Path] | None = None) -> str:
        paths = self.best if paths is None else paths
        if not paths:
            return "no other frames of the series and no dark frame in the folder"
        if paths == self.series:
            return f"{len(paths)} other frames of the series {self.pattern}"
        names = ", ".join(p.name for p in paths[:3]) + (", …" if len(paths) > 3 else "")
        return f"dark frame{'s' if len(paths) > 1 else ''} {names}"


def is_dark_frame(path: str | Path) -> bool:
    """Does the file's name say it is a dark-current frame (dc.tif, dark_0001.tif...)?"""
    return _DARK.search(Path(path).stem) is not None


def _regular_files(folder: Path) -> list[os.DirEntry]:
    out = []
    try:
        with os.scandir(folder) as entries:
            for n, entry in enumerate(entries):
                if n >= MAX_FOLDER_ENTRIES:
                    return []
                try:
                    if entry.is_file():  # follows symlinks to regular files; no FIFOs/devices
                        out.append(entry)
                except OSError:
                    continue
    except OSError:
        return []
    return out


def find_hot_pixel_references(
    image_path: str | Path, max_frames: int = SERIES_FRAMES
) -> HotPixelReferences:
    """Other frames of ``image_path``'s numbered series (the ``max_frames`` nearest by number,
    same prefix, digit count and suffix) and dark frames beside it, by name only (nothing is
    read; the caller checks shapes when it reads them)."""
    path = Path(image_path)
    refs = HotPixelReferences()
    entries = _regular_files(path.parent)
    suffix = path.suffix.lower()
    own = path.name
    match = _NUMBERED.match(path.stem)
    if match and not is_dark_frame(path):
        prefix, digits = match.group("prefix"), match.group("number")
        number = int(digits)
        frames = []
        for entry in entries:
            p = Path(entry.name)
            if entry.name == own or p.suffix.lower() != suffix:
                continue
            m = _NUMBERED.match(p.stem)
            if m and m.group("prefix") == prefix and len(m.group("number")) == len(digits):
                frames.append((abs(int(m.group("number")) - number), entry.name))
        frames.sort()
        refs.series = [path.parent / name for _, name in frames[:max_frames]]
        refs.pattern = f"{prefix}{'#' * len(digits)}{path.suffix}"
    darks = sorted(
        entry.name
        for entry in entries
        if entry.name != own
        and Path(entry.name).suffix.lower() in IMAGE_SUFFIXES
        and is_dark_frame(entry.name)
    )
    refs.dark = [path.parent / name for name in darks[:max_frames]]
    return refs


@dataclass
class AutoHotPixels:
    """What :func:`auto_hot_pixels_job` found: the hot pixels (or None) and where from."""

    hot: HotPixels | None
    paths: list[Path]
    source: str  # e.g. "3 other frames of the series edge20mm_####.tif"
    problems: list[str] = field(default_factory=list)  # references passed over, and why

    @property
    def note(self) -> str:
        """One sentence for the user."""
        if self.hot is not None:
            text = f"hot pixels from {self.source}, found beside the image"
        elif self.problems:
            text = "no usable hot-pixel reference beside the image"
        else:
            text = f"no hot-pixel reference: {self.source}"
        return text + (" (" + "; ".join(self.problems) + ")" if self.problems else "")


def auto_hot_pixels_job(
    image_path: str | Path, shape: tuple[int, int], references: HotPixelReferences | None = None
) -> Job[AutoHotPixels]:
    """Job: the hot pixels of the image at ``image_path`` (of ``shape``) from the references
    found beside it: 2+ other frames of its series, else its dark frame(s).

    A reference that cannot be read or has another shape (or fails in any other way) is passed
    over and named in the note, never an error: the detection then runs without it.
    """
    refs = references or find_hot_pixel_references(image_path)
    problems: list[str] = []
    choices = []
    if len(refs.series) >= 2:
        choices.append(refs.series)
    if refs.dark:
        choices.append(refs.dark)
    for paths in choices:
        try:
            hot = yield from hot_pixels_job(paths, shape)
        except UserFacingError as e:
            problems.append(str(e))
            continue
        except Exception as e:  # noqa: BLE001 - an optional reference never stops a detection
            problems.append(f"{paths[0].parent}: cannot use {refs.describe(paths)} ({e})")
            continue
        return AutoHotPixels(hot, list(paths), refs.describe(paths), problems)
    return AutoHotPixels(None, [], refs.describe(), problems)
