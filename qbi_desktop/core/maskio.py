"""Saving and loading label masks, and importing masks painted in other programs.

Formats written (always atomically: temporary file, fsync, rename):

* ``.tif`` / ``.tiff``: ImageJ hyperstack TIFF, zlib (Adobe deflate, TIFF compression 8)
  compressed, uint8 (uint16 when a label exceeds 255). ImageJ/Fiji read compression 8 as
  "ZIP" (ij.io.TiffDecoder), so Fiji opens these files. For uint8 masks an ImageJ LUT with the
  label colours is embedded (display range 0-255, so value v shows in label v's colour); the
  label table travels as JSON in the ImageJ ``Info`` property.
* ``.png``: uint8 masks as a palette PNG (values are the palette indices, colours are the label
  colours, as in PASCAL VOC); uint16 masks as 16-bit greyscale PNG.

Reading checks, each with a message naming the file: the shape must equal the image's (never
stretched), values must be whole numbers >= 0, and every label must be in the label table
(:class:`TooManyLabelsError` lists the extra ones so the caller can offer to add them).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.atomic import DiskFullError, atomic_write_with
from qbi_desktop.core.errors import ImageReadError, UserFacingError
from qbi_desktop.core.imageheader import check_pillow, check_tiff_series
from qbi_desktop.core.labels import LabelTable

TIFF_SUFFIXES = (".tif", ".tiff")
PNG_SUFFIXES = (".png",)


class MaskFileError(UserFacingError):
    """A mask file cannot be read, written or used; the message names the file."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class MaskShapeError(MaskFileError):
    """The mask's shape differs from the image's."""


class TooManyLabelsError(MaskFileError):
    """The mask holds labels the label table does not have; ``extra_labels`` lists them."""

    def __init__(self, path: str | Path, extra_labels: list[int], n_table: int):
        self.extra_labels = extra_labels
        shown = ", ".join(str(v) for v in extra_labels[:20])
        more = f" and {len(extra_labels) - 20} more" if len(extra_labels) > 20 else ""
        super().__init__(
            path,
            f"holds {len(extra_labels)} label value(s) not in the label table "
            f"({n_table} label(s)): {shown}{more}. Add them to the table to load this mask.",
        )


# -- saving ---------------------------------------------------------------------------------------
def save_mask(path: str | Path, mask: np.ndarray, labels: LabelTable | None = None) -> Path:
    """Write ``mask`` to ``path`` (.tif/.tiff or .png) atomically; returns the path.

    The mask in memory is never modified; on failure (read-only folder, disk full) a
    :class:`MaskFileError` says so and any previous file at ``path`` is untouched.
    """
    path = Path(path)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise MaskFileError(path, f"a mask must be 2-D, got shape {mask.shape}")
    out = _as_label_dtype(mask, path)
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        writer = _tiff_writer(out, labels)
    elif suffix in PNG_SUFFIXES:
        writer = _png_writer(out, labels)
    else:
        raise MaskFileError(path, f"unknown mask format {path.suffix!r}; use .tif or .png")
    if not path.parent.is_dir():
        raise MaskFileError(path, f"folder {path.parent} does not exist; the mask was not saved")
    try:
        atomic_write_with(path, writer)
    except DiskFullError as e:
        raise MaskFileError(
            path,
            f"the disk is full ({e.detail or 'no space left'}); the mask was not saved and is "
            "unchanged in memory — free some space or save it somewhere else",
        ) from None
    except PermissionError:
        raise MaskFileError(
            path,
            f"cannot write in folder {path.parent} (permission denied / read-only); the mask "
            "was not saved and is unchanged in memory — save it somewhere else",
        ) from None
    except OSError as e:
        raise MaskFileError(
            path,
            f"could not save the mask ({e.strerror or e}); it is unchanged in memory — save "
            "it somewhere else",
        ) from None
    return path


#: The largest label a project mask holds: the catalog stores masks as 8/16/32-bit unsigned TIFFs.
STORE_MAX_LABEL = 2**32 - 1


def store_range_problem(mask: np.ndarray) -> str | None:
    """Why ``mask`` cannot enter the project's mask store without a label changing (values
    below 0 or above :data:`STORE_MAX_LABEL`, named), or None. Narrowing such a mask would wrap
    2**32 + 7 to 7 and 2**40 to 0 (a region becoming background) without a word."""
    mask = np.asarray(mask)
    if mask.size == 0 or mask.dtype == bool:
        return None
    if mask.dtype.kind == "u" and mask.dtype.itemsize <= 4:
        return None
    lo, hi = mask.min(), mask.max()
    if lo >= 0 and hi <= STORE_MAX_LABEL:
        return None
    bad = np.unique(mask[(mask < 0) | (mask > STORE_MAX_LABEL)])
    shown = ", ".join(f"{v:.0f}" if mask.dtype.kind == "f" else str(int(v)) for v in bad[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return (
        f"label values {shown}{more} are outside 0..{STORE_MAX_LABEL} (project masks hold "
        "unsigned 32-bit labels; storing them would change them); renumber the labels"
    )


def _as_label_dtype(mask: np.ndarray, path: Path) -> np.ndarray:
    if mask.dtype in (np.uint8, np.uint16):
        return mask
    if mask.dtype == bool:
        return mask.astype(np.uint8)
    if not np.issubdtype(mask.dtype, np.integer):
        raise MaskFileError(path, f"a mask must hold integer labels, got {mask.dtype}")
    lo, hi = (int(mask.min()), int(mask.max())) if mask.size else (0, 0)
    if lo < 0 or hi > 65535:
        raise MaskFileError(path, f"label values must be 0..65535, found {lo}..{hi}")
    return mask.astype(np.uint8 if hi <= 255 else np.uint16)


def _tiff_writer(mask: np.ndarray, labels: LabelTable | None, info: dict | None = None):
    import tifffile

    metadata: dict[str, Any] = {"Info": json.dumps({**_label_info(labels), **(info or {})})}
    if mask.dtype == np.uint8 and labels is not None:
        lut = labels.lut(opacity=1.0, size=256)[:, :3].T.copy()  # (3, 256)
        metadata.update({"LUTs": [lut], "min": 0.0, "max": 255.0})

    def write(stream) -> None:
        # tifffile cannot write to a stream made by os.fdopen (its name is an int): encode in
        # memory (masks compress to little), then hand the bytes to the atomic stream
        buf = io.BytesIO()
        tifffile.imwrite(buf, mask, imagej=True, compression="zlib", metadata=metadata)
        stream.write(buf.getbuffer())

    return write


def _png_writer(mask: np.ndarray, labels: LabelTable | None):
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("qbi-desktop", json.dumps(_label_info(labels)))
    if mask.dtype == np.uint8:
        # palette indices are the label values; the palette gives them the label colours
        palette = np.stack([np.arange(256)] * 3, axis=1).astype(np.uint8)
        if labels is not None:
            lut = labels.lut(opacity=1.0, size=256)
            has = lut[:, 3] > 0
            palette[has] = lut[has, :3]
        palette[0] = 0
        img = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.tobytes())
        img.putpalette(palette.reshape(-1).tolist())
    else:
        img = Image.fromarray(np.ascontiguousarray(mask.astype("<u2")))  # mode I;16

    def write(stream) -> None:
        img.save(stream, format="PNG", pnginfo=info, optimize=False, compress_level=6)

    return write


def _label_info(labels: LabelTable | None) -> dict[str, Any]:
    d: dict[str, Any] = {"format": "qbi-desktop label mask", "version": 1}
    if labels is not None:
        d["label_table"] = labels.to_dict()
    return d


# -- reading ---------------------------------------------------------------------------------------
def read_mask_file(
    path: str | Path, expected_shape: tuple[int, ...] | None = None
) -> tuple[np.ndarray, LabelTable | None]:
    """Read the raw array of a mask (or annotation) file and its label table if it has one.

    Before decoding, the size the file declares is checked against the size limits and the
    file's length, and against ``expected_shape`` (the image's) when given: a 27 KB mask that
    declares 40 000 x 80 000 pixels is refused without allocating. Otherwise no checks beyond
    "is it an image"; see :func:`load_mask` / :func:`import_mask`.
    """
    path = Path(path)
    if not path.exists():
        raise MaskFileError(path, "file not found")
    if path.is_dir():
        raise MaskFileError(path, "is a folder, not a mask file")
    suffix = path.suffix.lower()
    try:
        if suffix in TIFF_SUFFIXES:
            return _read_tiff(path, expected_shape)
        return _read_pillow(path, expected_shape)
    except MaskFileError:
        raise
    except ImageReadError as e:
        raise MaskFileError(path, e.problem) from None
    except Exception as e:  # any decoder failure becomes a clear message
        raise MaskFileError(
            path, f"cannot be read as a mask image ({type(e).__name__}: {e})"
        ) from None


def _check_declared(path: Path, height: int, width: int, expected: tuple[int, ...] | None) -> None:
    if expected is not None and (height, width) != tuple(int(s) for s in expected[:2]):
        raise MaskShapeError(
            path,
            f"the mask is {height}x{width} pixels but the image is {expected[0]}x{expected[1]}; "
            "masks are never stretched — use the mask painted on this image",
        )


def _read_tiff(
    path: Path, expected: tuple[int, ...] | None = None
) -> tuple[np.ndarray, LabelTable | None]:
    from qbi_desktop.core.imageheader import open_tiff

    opened = open_tiff(path)  # its series as big as its pages, whatever its metadata claims
    with opened.tif as tif:
        series = opened.series
        if series is None:
            raise MaskFileError(path, "the TIFF contains no images")
        page = series.keyframe
        _check_declared(path, int(page.imagelength), int(page.imagewidth), expected)
        check_tiff_series(path, series, what="the mask")
        arr = series.asarray()
        info = (tif.imagej_metadata or {}).get("Info") if tif.is_imagej else None
    return arr, _labels_from_info(info)


def _read_pillow(
    path: Path, expected: tuple[int, ...] | None = None
) -> tuple[np.ndarray, LabelTable | None]:
    from PIL import Image

    with Image.open(path) as img:
        _check_declared(path, int(img.size[1]), int(img.size[0]), expected)
        check_pillow(path, img, what="the mask")
        text = getattr(img, "text", {}) or {}
        info = text.get("qbi-desktop") if isinstance(text, dict) else None
        if img.mode == "P":
            arr = np.array(img)  # palette indices are the labels
        elif img.mode in ("I;16", "I;16B", "I;16L"):
            arr = np.array(img).astype(np.uint16)
        elif img.mode in ("1", "L", "I", "F", "RGB", "RGBA", "LA"):
            arr = np.array(img)
        else:
            arr = np.array(img.convert("RGBA"))
    return arr, _labels_from_info(info)


def _labels_from_info(info: Any) -> LabelTable | None:
    if not info:
        return None
    try:
        d = json.loads(info)
        return LabelTable.from_dict(d["label_table"]) if "label_table" in d else None
    except (ValueError, KeyError, TypeError, UserFacingError):
        return None


def _check_shape(arr: np.ndarray, image_shape: tuple[int, ...], path: Path) -> None:
    want = tuple(int(s) for s in image_shape[:2])
    if arr.shape[:2] != want:
        got = "x".join(str(s) for s in arr.shape[:2])
        raise MaskShapeError(
            path,
            f"the mask is {got} pixels but the image is {want[0]}x{want[1]}; masks are never "
            "stretched — use the mask painted on this image",
        )


def _to_integer_labels(arr: np.ndarray, path: Path) -> np.ndarray:
    """Integer, non-negative labels as uint8/uint16; refuses fractional or negative values."""
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise MaskFileError(path, "holds NaN or infinite values; a mask must hold labels")
        frac = arr != np.round(arr)
        if frac.any():
            y, x = np.argwhere(frac)[0][:2]
            raise MaskFileError(
                path,
                f"holds fractional values (e.g. {float(arr[y, x]):g} at row {y}, column {x}); "
                "a mask must hold whole-number labels",
            )
    elif not np.issubdtype(arr.dtype, np.integer):
        raise MaskFileError(path, f"has pixel type {arr.dtype}, not integer labels")
    if arr.size == 0:
        return arr.astype(np.uint8)
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0:
        raise MaskFileError(path, f"holds negative values (down to {lo:g}); labels are >= 0")
    if hi > 65535:
        raise MaskFileError(path, f"holds values up to {hi:g}; labels must be <= 65535")
    return arr.astype(np.uint8 if hi <= 255 else np.uint16)


def _check_labels(mask: np.ndarray, labels: LabelTable | None, path: Path) -> None:
    if labels is None or mask.size == 0:
        return
    if int(mask.max()) <= labels.max_value and len(labels) == labels.max_value:
        return  # table holds 1..max, nothing can be missing
    present = (
        np.unique(mask)
        if mask.dtype == np.uint16
        else np.flatnonzero(np.bincount(mask.reshape(-1), minlength=256))
    )
    extra = [int(v) for v in present if v != 0 and int(v) not in labels]
    if extra:
        raise TooManyLabelsError(path, extra, len(labels))


def load_mask(
    path: str | Path, image_shape: tuple[int, ...], labels: LabelTable | None = None
) -> np.ndarray:
    """Load a label mask for an image of ``image_shape``: checked shape, integers, labels.

    Greyscale label images only (ours or anyone's); for colour annotations use
    :func:`import_mask`. A (1, H, W) single-page stack is accepted as (H, W).
    """
    path = Path(path)
    arr, _ = read_mask_file(path, image_shape)
    arr = _squeeze_single(arr)
    if arr.ndim != 2:
        raise MaskFileError(
            path,
            f"has shape {arr.shape}; a label mask is one 2-D greyscale image "
            "(import colour annotations by choosing a colour or channel)",
        )
    _check_shape(arr, image_shape, path)
    mask = _to_integer_labels(arr, path)
    _check_labels(mask, labels, path)
    return mask


def _squeeze_single(arr: np.ndarray) -> np.ndarray:
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    return arr


def import_mask(
    path: str | Path,
    image_shape: tuple[int, ...],
    *,
    mode: str = "auto",
    label: int = 1,
    colour: tuple[int, int, int] | None = None,
    channel: int | None = None,
    threshold: float = 0.0,
    tolerance: int = 0,
    labels: LabelTable | None = None,
) -> np.ndarray:
    """Turn a mask painted elsewhere into a label mask for an image of ``image_shape``.

    ``mode``:
      ``"labels"``  greyscale label image, values kept (checked like :func:`load_mask`)
      ``"binary"``  every non-zero pixel becomes ``label``
      ``"colour"``  pixels whose RGB equals ``colour`` (each channel within ``tolerance``)
                    become ``label`` — e.g. red strokes painted over a radiograph
      ``"channel"`` pixels whose ``channel`` (0=R, 1=G, 2=B, 3=A) exceeds ``threshold``
                    become ``label``
      ``"auto"``    greyscale: "binary" when it holds only 0 and one other value (0/255
                    masks), else "labels"; a colour image needs ``colour`` or ``channel``
    """
    path = Path(path)
    arr, _ = read_mask_file(path, image_shape)
    arr = _squeeze_single(arr)
    is_colour = arr.ndim == 3 and arr.shape[-1] in (3, 4)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and not is_colour):
        raise MaskFileError(path, f"has shape {arr.shape}; expected a 2-D or RGB(A) image")
    _check_shape(arr, image_shape, path)
    if mode == "auto":
        if is_colour and colour is None and channel is None:
            if (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
                arr, is_colour = arr[..., 0], False
            else:
                raise MaskFileError(
                    path,
                    "is a colour image; choose the colour (RGB) or the channel that marks the "
                    "label",
                )
        if is_colour:
            mode = "colour" if colour is not None else "channel"
        else:
            vals = np.unique(arr)
            mode = "binary" if len(vals) <= 2 and (vals.size == 0 or vals[0] == 0) else "labels"
    if mode in ("binary", "colour", "channel"):
        if not 1 <= int(label) <= 65535:
            raise MaskFileError(path, f"label {label}: must be 1..65535")
        dtype = np.uint8 if label <= 255 else np.uint16
    if mode == "labels":
        if is_colour:
            raise MaskFileError(path, "is a colour image, not a label image")
        mask = _to_integer_labels(arr, path)
    elif mode == "binary":
        grey = arr.any(axis=-1) if is_colour else arr != 0
        mask = grey.astype(dtype) * dtype(label)
    elif mode == "colour":
        if colour is None or len(colour) != 3:
            raise MaskFileError(path, "colour import needs a colour as (R, G, B)")
        if not is_colour:
            raise MaskFileError(path, "is greyscale; colour import needs an RGB image")
        diff = np.abs(arr[..., :3].astype(np.int32) - np.asarray(colour, dtype=np.int32))
        hit = (diff <= int(tolerance)).all(axis=-1)
        mask = hit.astype(dtype) * dtype(label)
    elif mode == "channel":
        if channel is None:
            raise MaskFileError(path, "channel import needs a channel number (0=R, 1=G, 2=B)")
        if not is_colour or not 0 <= channel < arr.shape[-1]:
            raise MaskFileError(path, f"has no channel {channel} (shape {arr.shape})")
        mask = (arr[..., channel] > threshold).astype(dtype) * dtype(label)
    else:
        raise MaskFileError(path, f"unknown import mode {mode!r}")
    _check_labels(mask, labels, path)
    return mask


def mask_path_writable(path: str | Path) -> bool:
    """True if a mask could be saved at ``path`` (folder exists and accepts new files)."""
    folder = Path(path).parent
    return folder.is_dir() and os.access(folder, os.W_OK)


def encode_png_bytes(mask: np.ndarray, labels: LabelTable | None = None) -> bytes:
    """The PNG bytes :func:`save_mask` would write (clipboard, thumbnails)."""
    buf = io.BytesIO()
    _png_writer(_as_label_dtype(np.asarray(mask), Path("<memory>")), labels)(buf)
    return buf.getvalue()


def encode_tiff_bytes(
    mask: np.ndarray, labels: LabelTable | None = None, info: dict[str, Any] | None = None
) -> bytes:
    """The ImageJ TIFF bytes :func:`save_mask` would write (exports); ``info`` adds fields to
    the JSON in the ImageJ ``Info`` property (read back with :func:`tiff_info`)."""
    buf = io.BytesIO()
    _tiff_writer(_as_label_dtype(np.asarray(mask), Path("<memory>")), labels, info)(buf)
    return buf.getvalue()


def tiff_info(tif: Any) -> dict[str, Any]:
    """The JSON fields of an open ImageJ TIFF's ``Info`` property (empty when it has none or
    they are not ours)."""
    meta = tif.imagej_metadata or {}
    try:
        info = json.loads(meta.get("Info") or "{}")
    except (TypeError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}
