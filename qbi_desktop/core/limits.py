"""Size limits every reader checks before it allocates: what a file *declares* is not trusted.

A 212-byte TIFF header can claim a 100 000 x 100 000 image, a 28 KB compressed mask can
expand to gigabytes, a 5 KB spreadsheet can name cell XFD1048576. Readers compare what the file
declares with these limits (and with the file's length) before allocating anything, and refuse
with a message that names the file, what it declares and the limit.

The defaults let the viewer open what it legitimately opens lazily: uncompressed images of any
size are memory-mapped (only the file length is checked), and a compressed or tiled 32768^2
uint16 plane (2 GiB) still decodes through the tiled path into a scratch file.

Order of precedence: the defaults, then the environment variable ``QBI_DESKTOP_LIMITS``
(e.g. ``decoded_bytes=4GiB,image_pixels=4e9``), then :func:`set_limits` (the app's
``limits/`` group of the settings file, applied at start-up).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from qbi_desktop.core.errors import ImageReadError, UserFacingError, human_size

ENV_VAR = "QBI_DESKTOP_LIMITS"


@dataclass(frozen=True)
class Limits:
    #: Bytes one image plane may decode to (in memory or in a scratch file).
    decoded_bytes: int = 2**31
    #: Pixels one image plane (or a mask rasterised at a declared size) may have.
    image_pixels: int = 2**31
    #: Bytes a JSON, CSV or spreadsheet file may have before we parse it.
    document_bytes: int = 512 * 1024**2
    #: Cells a sheet may declare (rows x columns).
    sheet_cells: int = 50_000_000


_DEFAULTS = Limits()

#: augmented copies per item one batch run may plan (its plan is a list of items x copies)
MAX_COPIES = 10_000
_overrides: dict[str, int] = {}
#: the largest size limit :func:`parse_size` accepts (1 EiB, far beyond any disk or memory)
MAX_SIZE = 1 << 60

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1000**4,
    "tib": 1024**4,
}


def parse_size(text: str | int | float) -> int:
    """``"2GiB"``, ``"512 MB"``, ``"4e9"``, ``2147483648`` -> a positive int; ValueError if not."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
        if not match or match.group(2).lower() not in _UNITS:
            raise ValueError(f"not a size: {text!r} (examples: 2GiB, 512MB, 4e9)")
        value, unit = float(match.group(1)), match.group(2).lower()
    scaled = value * _UNITS[unit]
    if not math.isfinite(scaled) or scaled > MAX_SIZE:  # int(inf) is an OverflowError
        raise ValueError(f"a size limit must be at most 1 EiB (2^60 bytes), not {text!r}")
    result = int(scaled)
    if result <= 0:
        raise ValueError(f"a size limit must be positive, not {text!r}")
    return result


def _from_env() -> dict[str, int]:
    text = os.environ.get(ENV_VAR, "").strip()
    if not text:
        return {}
    names = {f.name for f in dataclasses.fields(Limits)}
    values: dict[str, int] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise UserFacingError(
                f"{ENV_VAR}: {part.strip()!r} is not name=size with a name among "
                f"{', '.join(sorted(names))}"
            )
        try:
            values[key] = parse_size(value)
        except ValueError as exc:
            raise UserFacingError(f"{ENV_VAR}: {key}: {exc}") from exc
    return values


def current() -> Limits:
    """The limits in force now (defaults, then the environment, then :func:`set_limits`)."""
    return dataclasses.replace(_DEFAULTS, **{**_from_env(), **_overrides})


def set_limits(**values: int | str | None) -> None:
    """Set limits for this process (the GUI's setting); ``None`` goes back to the default."""
    names = {f.name for f in dataclasses.fields(Limits)}
    for key, value in values.items():
        if key not in names:
            raise TypeError(f"unknown limit {key!r}")
        if value is None or value == "":
            _overrides.pop(key, None)
        else:
            _overrides[key] = parse_size(value)


def how_to_raise(name: str) -> str:
    """How a user raises the limit ``name``, for the end of a refusal message."""
    return f"raise it with {ENV_VAR}={name}=<size> or limits/{name} in the settings file"


def check_image_size(
    path: str | Path,
    shape: tuple[int, ...],
    itemsize: int,
    *,
    what: str = "the image",
    limits: Limits | None = None,
) -> None:
    """Refuse a declared plane ``shape`` (h, w[, c]) of ``itemsize`` bytes that is too large.

    Zero or negative dimensions are refused too: no reader can show them.
    """
    limits = limits or current()
    dims = [int(n) for n in shape]
    text = " x ".join(str(n) for n in dims)
    if len(dims) < 2 or any(n <= 0 for n in dims):
        raise ImageReadError(path, f"{what} declares an empty size ({text} pixels)")
    pixels = dims[0] * dims[1]
    samples = 1
    for n in dims[2:]:
        samples *= n
    nbytes = pixels * samples * int(itemsize)
    if pixels > limits.image_pixels:
        raise ImageReadError(
            path,
            f"{what} declares {text} pixels ({pixels / 1e6:,.0f} megapixels), more than the "
            f"limit of {limits.image_pixels / 1e6:,.0f} megapixels "
            f"({how_to_raise('image_pixels')})",
        )
    if nbytes > limits.decoded_bytes:
        raise ImageReadError(
            path,
            f"{what} declares {text} pixels, {human_size(nbytes)} decoded, more than the limit "
            f"of {human_size(limits.decoded_bytes)} ({how_to_raise('decoded_bytes')})",
        )


def check_document_size(path: str | Path, kind: str = "file", limits: Limits | None = None) -> int:
    """Refuse a JSON/CSV/sheet file larger than the limit; its size in bytes otherwise."""
    limits = limits or current()
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UserFacingError(f"{path}: cannot read the {kind} ({exc.strerror})") from exc
    if size > limits.document_bytes:
        raise UserFacingError(
            f"{path}: the {kind} is {human_size(size)}, more than the limit of "
            f"{human_size(limits.document_bytes)} ({how_to_raise('document_bytes')})"
        )
    return size


def check_sheet_cells(
    path: str | Path, rows: int, columns: int, limits: Limits | None = None
) -> None:
    """Refuse a sheet whose declared extent (rows x columns) is beyond the limit."""
    limits = limits or current()
    cells = int(rows) * int(columns)
    if cells > limits.sheet_cells:
        raise UserFacingError(
            f"{path}: the sheet declares {rows:,} rows x {columns:,} columns ({cells:,} cells), "
            f"more than the limit of {limits.sheet_cells:,} cells "
            f"({how_to_raise('sheet_cells')})"
        )
