"""COCO run-length encoding: uncompressed runs (column-major, starting with background) and
pycocotools' compressed strings (6-bit variable-length, delta-coded), both ways."""

from __future__ import annotations

import numpy as np


def rle_decode(counts: list[int], height: int, width: int) -> np.ndarray:
    """Uncompressed COCO RLE (column-major runs, starting with background) -> bool mask."""
    if len(counts) > height * width + 1:  # runs of length 0 aside, a run covers a pixel
        raise ValueError(f"{len(counts)} runs for an image of {height * width} pixels")
    runs = np.asarray(counts, dtype=np.int64)
    negative = np.flatnonzero(runs < 0)
    if negative.size:
        raise ValueError(f"negative run length {int(runs[negative[0]])}")
    total = int(runs.sum())
    if total > height * width:
        raise ValueError(f"RLE covers more than the image's {height * width} pixels")
    if total != height * width:
        raise ValueError(f"RLE covers {total} pixels, image has {height * width}")
    flat = np.repeat(np.arange(runs.size) % 2 == 1, runs)
    return flat.reshape((width, height)).T


def rle_encode(mask: np.ndarray) -> list[int]:
    flat = np.asarray(mask, dtype=bool).T.ravel()
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return [int(r) for r in runs]


def rle_string_to_counts(text: str) -> list[int]:
    """COCO's compressed RLE string (pycocotools' 6-bit variable-length, delta-coded) -> runs."""
    counts: list[int] = []
    pos = 0
    while pos < len(text):
        value, shift, more = 0, 0, True
        while more:
            c = ord(text[pos]) - 48
            value |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            pos += 1
            shift += 1
            if not more and c & 0x10:
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def counts_to_rle_string(counts: list[int]) -> str:
    out = []
    for i, run in enumerate(counts):
        value = run - counts[i - 2] if i > 2 else run
        more = True
        while more:
            c = value & 0x1F
            value >>= 5
            more = (value != -1) if c & 0x10 else (value != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle_of_window(window: np.ndarray, top: int, left: int, height: int) -> list[int]:
    """Uncompressed RLE of the pixels set in ``window`` (a bool array whose first pixel is at
    row ``top``, column ``left`` of a ``height``-row image): a small region of a large image
    costs its own size, not the image's. The last run (background to the image's end) is
    left for :func:`close_rle`."""
    cols, rows = np.nonzero(np.asarray(window).T)  # column-major order, as COCO counts
    if cols.size == 0:
        return []
    flat = (cols.astype(np.int64) + left) * height + (rows.astype(np.int64) + top)
    breaks = np.flatnonzero(np.diff(flat) != 1) + 1
    starts = flat[np.concatenate(([0], breaks))]
    ends = flat[np.concatenate((breaks - 1, [flat.size - 1]))] + 1
    runs = np.empty(2 * starts.size, dtype=np.int64)
    runs[0::2] = starts - np.concatenate(([0], ends[:-1]))
    runs[1::2] = ends - starts
    return runs.tolist()


def close_rle(runs: list[int], height: int, width: int) -> list[int]:
    """``runs`` from :func:`rle_of_window` completed with the background up to the end."""
    return [*runs, height * width - sum(runs)]
