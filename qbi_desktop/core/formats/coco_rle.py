"""COCO run-length encoding: uncompressed runs (column-major, starting with background) and
pycocotools' compressed strings (6-bit variable-length, delta-coded), both ways.

Decoding is bounded by the mask's declared size (``height * width`` pixels) and linear in the
input: a string longer than any valid one for that size, a number with more digits than the size
allows, a negative run or runs covering more than the mask are refused (ValueError with the
reason) before anything of the mask's size is allocated. Valid strings decode exactly as
pycocotools' ``frString`` + ``decode`` do."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: pixels assumed when a compressed string is decoded without a mask size (2^20 x 2^20, the
#: largest size a COCO file may declare, see coco_records.MAX_SIDE)
_ANY_PIXELS = 1 << 40
_BLOCK = 1 << 18  # numbers of a compressed string decoded together


def rle_decode(counts: Sequence[int] | np.ndarray, height: int, width: int) -> np.ndarray:
    """Uncompressed COCO RLE (column-major runs, starting with background) -> bool mask."""
    pixels = int(height) * int(width)
    if len(counts) > pixels + 1:  # runs of length 0 aside, a run covers a pixel
        raise ValueError(f"{len(counts)} runs for an image of {pixels} pixels")
    runs = _as_runs(counts, pixels)
    # Each run lies in 0..pixels, so the first running total above the size is exact (no
    # int64 overflow before it) and the check stays linear.
    ends = np.cumsum(runs)
    over = np.flatnonzero(ends > pixels)
    if over.size:
        raise ValueError(f"RLE covers more than the image's {pixels} pixels")
    total = int(ends[-1]) if ends.size else 0
    if total != pixels:
        raise ValueError(f"RLE covers {total} pixels, image has {pixels}")
    flat = np.repeat(np.arange(runs.size) % 2 == 1, runs)
    return flat.reshape((width, height)).T


def _as_runs(counts: Sequence[int] | np.ndarray, pixels: int) -> np.ndarray:
    """``counts`` as an int64 array of runs, each in 0..pixels (ValueError naming the first
    that is not)."""
    if isinstance(counts, np.ndarray) and counts.dtype == np.int64:
        runs = counts
    else:
        try:
            runs = np.asarray(counts, dtype=np.int64)
        except OverflowError:
            first = next(i for i, c in enumerate(counts) if not -pixels <= c <= pixels)
            raise ValueError(
                f"run {first} ({counts[first]}) is longer than the image's {pixels} pixels"
            ) from None
    bad = np.flatnonzero((runs < 0) | (runs > pixels))
    if bad.size:
        i = int(bad[0])
        if runs[i] < 0:
            raise ValueError(f"negative run length {int(runs[i])} (run {i})")
        raise ValueError(f"run {i} ({int(runs[i])}) is longer than the image's {pixels} pixels")
    return runs


def rle_encode(mask: np.ndarray) -> list[int]:
    flat = np.asarray(mask, dtype=bool).T.ravel()
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return [int(r) for r in runs]


def _max_digits(pixels: int) -> int:
    """The most 5-bit digits one number of a compressed string may have for a mask of
    ``pixels``: a run (0..pixels) or a delta between runs (-pixels..pixels) needs
    ceil((bits + sign) / 5); one more is allowed for encoders that pad."""
    return (pixels.bit_length() + 1 + 4) // 5 + 1


def rle_string_runs(text: str, height: int | None = None, width: int | None = None) -> np.ndarray:
    """COCO's compressed RLE string (pycocotools' 6-bit variable-length, delta-coded) -> runs
    (int64 array), checked against a ``height`` x ``width`` mask: ValueError with the reason for
    a character outside the alphabet, a number cut off at the end, a number too long for the
    mask, a negative run or a run longer than the mask. Linear time, vectorised."""
    pixels = _ANY_PIXELS if height is None or width is None else int(height) * int(width)
    digits = _max_digits(pixels)  # at most 10 for 2^40 pixels: 50 bits, no int64 overflow
    if len(text) > (pixels + 1) * digits:
        raise ValueError(
            f"compressed RLE string of {len(text)} characters, longer than any for a mask of "
            f"{pixels} pixels"
        )
    try:
        raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"compressed RLE: character {text[exc.start]!r} at position {exc.start} is not "
            "part of COCO's compressed RLE alphabet ('0'..'o')"
        ) from None
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64)
    outside = np.flatnonzero((raw < 48) | (raw > 111))
    if outside.size:
        pos = int(outside[0])
        raise ValueError(
            f"compressed RLE: character {text[pos]!r} at position {pos} is not part of COCO's "
            "compressed RLE alphabet ('0'..'o')"
        )
    code = raw - 48
    ends = np.flatnonzero((code & 0x20) == 0)  # the last digit of each number
    if ends.size == 0 or ends[-1] != raw.size - 1:
        raise ValueError("compressed RLE string ends in the middle of a number")
    if ends.size > pixels + 1:
        raise ValueError(f"compressed RLE: {ends.size} runs for an image of {pixels} pixels")
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts + 1
    long = np.flatnonzero(lengths > digits)
    if long.size:
        i = int(long[0])
        raise ValueError(
            f"compressed RLE: run {i} has {int(lengths[i])} digits (at position "
            f"{int(starts[i])}), more than a mask of {pixels} pixels allows ({digits})"
        )
    # value = sum of digit d_k << 5k; a set sign bit (0x10) in the last digit extends the sign:
    # x | (-1 << 5n) == x - 2^(5n) for x < 2^(5n)
    # (in blocks of numbers, so that the per-digit int64 temporaries stay small)
    values = np.empty(ends.size, dtype=np.int64)
    for a in range(0, ends.size, _BLOCK):
        b = min(a + _BLOCK, ends.size)
        first, last = int(starts[a]), int(ends[b - 1]) + 1
        place = np.arange(first, last, dtype=np.int64) - np.repeat(starts[a:b], lengths[a:b])
        digit = (code[first:last] & 0x1F).astype(np.int64) << (5 * place)
        values[a:b] = np.add.reduceat(digit, starts[a:b] - first)
    negative = (code[ends] & 0x10) != 0
    values[negative] -= np.int64(1) << (5 * lengths[negative])
    big = np.flatnonzero(np.abs(values) > pixels)
    if big.size:
        i = int(big[0])
        raise ValueError(
            f"compressed RLE: run {i} decodes to {int(values[i])}, beyond the mask's "
            f"{pixels} pixels"
        )
    # delta coding (pycocotools: from the fourth number on, x += cnts[m - 2]): odd runs are the
    # running sum of odd numbers, even runs from the third on that of even numbers from the
    # third on. Each step adds at most ``pixels``, so the first run out of range is exact.
    runs = values.copy()
    runs[1::2] = np.cumsum(values[1::2])
    runs[2::2] = np.cumsum(values[2::2])
    bad = np.flatnonzero((runs < 0) | (runs > pixels))
    if bad.size:
        i = int(bad[0])
        if runs[i] < 0:
            raise ValueError(f"compressed RLE decodes to a negative run ({int(runs[i])}, run {i})")
        raise ValueError(
            f"compressed RLE: run {i} ({int(runs[i])}) is longer than the mask's {pixels} pixels"
        )
    return runs


def rle_string_to_counts(
    text: str, height: int | None = None, width: int | None = None
) -> list[int]:
    """:func:`rle_string_runs` as a list of ints."""
    return rle_string_runs(text, height, width).tolist()


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
