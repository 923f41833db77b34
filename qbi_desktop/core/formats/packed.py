"""A label mask kept compressed while an import is planned.

Imports check everything before they write anything, so every planned item's mask waits in
memory until the one transaction: a thousand 2048x2048 masks are 4-8 GB as arrays, a few MB
compressed (label masks are mostly background). :class:`PackedMask` holds the zlib-compressed
bytes and turns back into the array wherever numpy asks for one (``np.asarray``), which is how
the catalog writes a mask.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np


class PackedMask:
    """A 2-D label mask, compressed; ``np.asarray(packed)`` gives the array back."""

    __slots__ = ("_data", "dtype", "shape")

    def __init__(self, mask: np.ndarray):
        array = np.ascontiguousarray(mask)
        self.shape: tuple[int, ...] = array.shape
        self.dtype = array.dtype
        self._data = zlib.compress(array.tobytes(), 1)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def unpack(self) -> np.ndarray:
        flat = np.frombuffer(zlib.decompress(self._data), dtype=self.dtype)
        return flat.reshape(self.shape).copy()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.unpack()
        return array if dtype is None else array.astype(dtype)

    def max(self) -> Any:
        return self.unpack().max()


def pack(mask: np.ndarray | None) -> PackedMask | None:
    return None if mask is None else PackedMask(mask)
