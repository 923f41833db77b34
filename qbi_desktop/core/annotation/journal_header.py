"""Typed reading of a mask journal's header record: every field checked before it is used.

A journal is a file found on disk (possibly beside an image someone else gave us), so its
header is untrusted input. It is parsed into plain, checked values here, and anything else —
JSON nested too deeply, a list where a dict belongs, a shape of -1 or 10^40, a path with a NUL
byte — is a :class:`HeaderError` naming the field, never a TypeError somewhere later.
"""

from __future__ import annotations

import json
from typing import Any

#: A header is a few hundred bytes; a label table of 65 535 named labels is ~4 MB.
MAX_HEADER_BYTES = 16 * 1024**2
MAX_SIDE = 1 << 20  # pixels per side; far above any image we can open
MAX_PATH = 4096


class HeaderError(ValueError):
    """The header is not what a journal header must be; the message names the field."""


def _int(value: Any, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise HeaderError(f"{field} must be an integer {lo}..{hi}, not {str(value)[:40]!r}")
    return value


def _text(value: Any, field: str, limit: int = MAX_PATH, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise HeaderError(f"{field} must be text of at most {limit} characters")
    return value


def _shape(value: Any, field: str, dims: tuple[int, ...]) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) not in dims:
        raise HeaderError(f"{field} must be a list of {' or '.join(map(str, dims))} sizes")
    return tuple(_int(v, f"{field}[{i}]", 1, MAX_SIDE) for i, v in enumerate(value))


def parse_header(payload: bytes) -> dict[str, Any]:
    """The checked header fields from a header payload (JSON after the ``H`` byte).

    Returns ``image`` (dict: path, shape, dtype, content_hash, dataset or None),
    ``mask_shape``, ``mask_path`` (text or None), ``labels`` (left raw: the label table checks
    itself), ``created`` (text), ``base_unsaved`` (bool) and ``version``.
    """
    if len(payload) > MAX_HEADER_BYTES:
        raise HeaderError(f"the header is {len(payload)} bytes, more than a header can be")
    try:
        raw = json.loads(payload.decode("utf-8"))
    except RecursionError:
        raise HeaderError("the header nests lists/objects too deeply") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise HeaderError(f"the header is not JSON ({str(e)[:80]})") from None
    if not isinstance(raw, dict):
        raise HeaderError("the header must be a JSON object")
    image = raw.get("image")
    if not isinstance(image, dict):
        raise HeaderError("'image' must be an object")
    shape = _shape(image.get("shape"), "image.shape", (2, 3, 4))
    checked_image = {
        "path": _text(image.get("path"), "image.path", optional=True),
        "shape": shape,
        "dtype": _text(image.get("dtype"), "image.dtype", 32),
        "content_hash": _text(image.get("content_hash"), "image.content_hash", 200),
        # the HDF5 dataset of the plane; journals of other files (and older ones) have none
        "dataset": _text(image.get("dataset"), "image.dataset", optional=True),
    }
    mask_shape = _shape(raw.get("mask_shape", list(shape[:2])), "mask_shape", (2,))
    created = raw.get("created", "?")
    return {
        "version": _int(raw.get("version", 1), "version", 0, 1 << 30),
        "image": checked_image,
        "mask_shape": mask_shape,
        "mask_path": _text(raw.get("mask_path"), "mask_path", optional=True),
        "labels": raw.get("labels"),
        "created": created if isinstance(created, str) and len(created) < 100 else "?",
        "base_unsaved": raw.get("base_unsaved") is True,
    }
