"""Which pixels a labelme file was drawn on, as labelme itself decides (its ``LabelFile``):

* ``imageData`` (the image embedded as base64) when the file beside the JSON is missing, or
  is not the size the JSON declares (labelme shows the embedded image whenever there is one);
* else ``imagePath``, relative to the JSON's folder, Windows ``\\`` separators read as ``/``;
  an absolute one (saved on another computer) by its file name beside the JSON;
* a file's EXIF orientation applied (a phone JPEG rotated by its tag is shown, and annotated,
  upright): the item then gets the upright pixels.

An embedded or turned image becomes a file of the project (``sources/labelme/<hash>/<name>``),
so the item has pixels of its own. Such files wait in a hidden ``sources/.labelme.*.partial``
folder until the import commits (:class:`Staging`); a refused or failed import leaves nothing,
and a killed one leaves a folder the next start removes (core.leftovers).
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

import numpy as np

from qbi_desktop.core.atomic import atomic_write_bytes
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.errors import reason as error_reason
from qbi_desktop.core.formats.common import FileInfo, encode_image, safe_component, scan_image
from qbi_desktop.core.formats.labelme_records import LabelmeFile
from qbi_desktop.core.safefile import not_regular, resolve_inside

#: Project folder the derived images go to (under ``sources/``, beside extracted archives).
FOLDER = "labelme"
#: EXIF orientation tag
ORIENTATION = 0x0112
#: labelme's ``apply_exif_orientation`` as array operations (PIL's ROTATE_90 turns
#: counter-clockwise, as ``np.rot90`` does)
_TURNS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: np.rot90(a, 2),
    4: lambda a: a[::-1],
    5: lambda a: np.rot90(a, -1)[:, ::-1],
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 1)[:, ::-1],
    8: lambda a: np.rot90(a, 1),
}


@dataclass(frozen=True)
class Chosen:
    path: Path  # the item's image file (for a derived image: where it will be once committed)
    info: FileInfo
    note: str | None = None  # what was done, for the import report


class Staging:
    """Derived images of one import, kept apart until :meth:`commit` moves them in place."""

    def __init__(self, project_root: Path):
        self.sources = Path(project_root) / "sources"
        self.made_sources = False  # created here: removed again if the import leaves it empty
        self.dir: Path | None = None
        self.moves: list[tuple[Path, Path]] = []
        self.created: list[Path] = []

    def put(self, data: bytes, name: str) -> Chosen | str:
        """Stage ``data`` as image ``name``: where it will live, or why it is not an image."""
        if self.dir is None:
            self.made_sources = self.made_sources or not self.sources.exists()
            self.sources.mkdir(parents=True, exist_ok=True)
            self.dir = Path(
                tempfile.mkdtemp(prefix=".labelme.", suffix=".partial", dir=self.sources)
            )
        slot = self.dir / str(len(self.moves))
        slot.mkdir()
        staged = slot / name
        atomic_write_bytes(staged, data)
        info = scan_image(staged)
        if isinstance(info, str):
            return info
        final = self.sources / FOLDER / info.hash[:16] / name
        self.moves.append((staged, final))
        return Chosen(final, info)

    def commit(self) -> None:
        """Move the staged images to their places (an identical one already there is kept)."""
        for staged, final in self.moves:
            if final.is_file():
                continue
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)
            self.created.append(final)

    def undo(self) -> None:
        """Remove what :meth:`commit` moved in (the import did not complete)."""
        for path in self.created:
            path.unlink(missing_ok=True)
            try:
                path.parent.rmdir()
            except OSError:
                pass
        self.created.clear()

    def discard(self) -> None:
        """Remove the staging folder (and ``sources/`` when this import made it for nothing)."""
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        if self.made_sources and not self.created:
            for folder in (self.sources / FOLDER, self.sources):
                try:
                    folder.rmdir()
                except OSError:
                    pass


def choose_image(
    json_file: Path, doc: LabelmeFile, within: Path, staging: Staging
) -> tuple[Chosen | None, list[str]]:
    """The image ``doc`` was annotated on, or the problems (without the file name: the caller
    names the JSON)."""
    path = resolve_inside(json_file.parent, doc.image_path, within)
    why_not = moved = None
    if isinstance(path, str) and _is_absolute(doc.image_path):
        # saved on another computer (labelme writes an absolute path when the image was on
        # another drive): the file of that name beside the JSON, never the absolute path
        beside = json_file.parent / PureWindowsPath(doc.image_path).name
        if beside.name and not_regular(beside) is None:
            path, moved = beside, f"imagePath {doc.image_path!r} is absolute; used {beside.name}"
            moved += " beside the JSON"
    if isinstance(path, str):
        why_not = f"imagePath: {path}"
    else:
        reason = not_regular(path)
        if reason is not None:
            why_not = f"imagePath {doc.image_path!r}: {reason}"
    if why_not is None:
        chosen = _from_file(path, doc, staging)
        if isinstance(chosen, str):
            why_not = f"imagePath {doc.image_path!r}: {chosen}"
        elif _fits(doc, chosen):
            note = "; ".join(n for n in (moved, chosen.note) if n) or None
            return Chosen(chosen.path, chosen.info, note), []
        elif doc.image_data is None:
            return None, [_size_problem(doc, chosen)]
        else:
            why_not = _size_problem(doc, chosen)
    if doc.image_data is None:
        named_alone = within == json_file.parent
        hint = "; import the folder that holds both the JSON and the image" if named_alone else ""
        return None, [f"{why_not} and the file embeds no image (imageData is null){hint}"]
    chosen = _from_embedded(json_file, doc, staging)
    if isinstance(chosen, str):
        return None, [f"{why_not}, and imageData: {chosen}"]
    if not _fits(doc, chosen):
        return None, [_size_problem(doc, chosen, "the embedded image (imageData)")]
    return Chosen(chosen.path, chosen.info, f"used the image embedded in the JSON ({why_not})"), []


def _is_absolute(name: str) -> bool:
    text = name.replace("\\", "/")
    return text.startswith("/") or (len(text) > 1 and text[1] == ":" and text[0].isalpha())


def _fits(doc: LabelmeFile, chosen: Chosen) -> bool:
    """Whether the image is the size the JSON declares (either may be left out)."""
    return doc.width in (None, chosen.info.width) and doc.height in (None, chosen.info.height)


def _size_problem(doc: LabelmeFile, chosen: Chosen, what: str | None = None) -> str:
    w, h = chosen.info.width, chosen.info.height
    what = what or f"the image file {doc.image_path!r}"
    if chosen.note:
        what += f" ({chosen.note})"
    swapped = ""
    if (doc.width, doc.height) == (h, w) and not chosen.note:
        swapped = " (turned: the image has no EXIF orientation that would turn it upright)"
    return (
        f"imageWidth/imageHeight: the JSON says {doc.width}x{doc.height} pixels, "
        f"{what} is {w}x{h}{swapped}"
    )


def _from_file(path: Path, doc: LabelmeFile, staging: Staging) -> Chosen | str:
    info = scan_image(path)
    if isinstance(info, str):
        return info
    turn = _orientation(path)
    if turn not in _TURNS:
        return Chosen(path, info)
    from qbi_desktop.core.catalog.images import read_image_file

    try:
        pixels = _TURNS[turn](read_image_file(path))
    except UserFacingError as exc:
        return str(exc).removeprefix(f"{path}: ")
    data, ext = encode_image(np.ascontiguousarray(pixels))
    staged = staging.put(data, safe_component(path.stem, "image") + ext)
    if isinstance(staged, str):
        return staged
    return Chosen(staged.path, staged.info, f"turned upright by its EXIF orientation {turn}")


def _orientation(path: Path) -> int | None:
    """The EXIF orientation labelme applies: read with PIL's ``_getexif`` as labelme does
    (JPEG, WebP, PNG, MPO), so a tag only other readers see is left alone, as labelme does."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            read = getattr(image, "_getexif", None)
            exif = read() if read is not None else None
    except Exception:  # an unreadable tag block: labelme's loader would fail; show it as is
        return None
    value = exif.get(ORIENTATION) if isinstance(exif, dict) else None
    return value if isinstance(value, int) else None


def _from_embedded(json_file: Path, doc: LabelmeFile, staging: Staging) -> Chosen | str:
    from PIL import Image

    try:
        data = base64.b64decode(doc.image_data or "", validate=False)
    except (binascii.Error, ValueError) as exc:
        return f"not base64 ({exc})"
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = (image.format or "").lower()
    except Exception as exc:  # any decoder failure is a property of the data
        return f"not an image ({type(exc).__name__}: {error_reason(exc)})"
    ext = {"jpeg": ".jpg", "png": ".png", "tiff": ".tif", "bmp": ".bmp"}.get(fmt)
    if ext is None:
        return f"a {fmt or 'unknown'} image; embedded images must be JPEG, PNG, TIFF or BMP"
    stem = Path(doc.image_path.replace("\\", "/")).stem or json_file.stem
    return staging.put(data, safe_component(stem, json_file.stem) + ext)
