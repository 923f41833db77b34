"""An opened image shown in another unit: counts, transmission or attenuation.

:func:`set_unit` makes every plane of an :class:`~qbi_desktop.core.io.ImageSource` come out
normalised (float32, masked pixels NaN) by wrapping its loader, and back to the raw counts with
``unit="counts"``. The source's metadata carries the unit (``metadata["unit"]``), so a viewer's
read-out and info can say what a value means. Planes are normalised when they are asked for,
one at a time, like the raw ones are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qbi_desktop.core.io import ImageSource, Plane
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.radiography.normalise import (
    UNITS,
    NormaliseError,
    References,
    normalise,
)


class _UnitLoader:
    """Planes of the raw loader, normalised on the way out."""

    compressed = False

    def __init__(
        self,
        source: ImageSource,
        raw: Any,
        refs: References,
        unit: str,
        dose_region: Sequence[int] | None,
        raw_dtype: np.dtype,
    ):
        self.source = source
        self.raw_dtype = np.dtype(raw_dtype)
        self.raw = raw
        self.refs = refs
        self.unit = unit
        self.dose_region = dose_region
        self.masked: dict[int, int] = {}  # masked pixels per slice normalised so far

    def plane(self, index: int) -> Plane:
        plane = self.raw.plane(index)
        if not plane.complete:  # a compressed TIFF plane: decode it whole first
            from qbi_desktop.core.io import decode_plane_job

            probe = ImageSource(
                self.source.path,
                self.raw_dtype,
                self.source.slice_shape,
                self.source.n_slices,
                self.source.axes,
                self.source.stack_shape,
                {},
                {index: plane},
                self.raw,
            )
            run_job(decode_plane_job(probe, index))
        result = normalise(
            np.asarray(plane.array),
            self.refs,
            unit=self.unit,
            dose_region=self.dose_region,
            name=f"{self.source.path} slice {index}",
        )
        self.masked[index] = result.masked
        return Plane(result.data)

    def close(self) -> None:
        self.raw.close()


def unit_of(source: ImageSource) -> str:
    """The unit the source's planes are in ("counts" unless :func:`set_unit` changed it)."""
    return str(source.metadata.get("unit", "counts"))


def set_unit(
    source: ImageSource,
    unit: str,
    refs: References | None = None,
    dose_region: Sequence[int] | None = None,
) -> None:
    """Show ``source`` in ``unit``; transmission and attenuation need ``refs`` of the image's
    shape and pixel type (checked here, so a mismatch is refused before anything changes)."""
    if unit not in UNITS:
        raise NormaliseError(f"unit: expected one of {', '.join(UNITS)}, got {unit!r}")
    loader = source._loader
    raw = loader.raw if isinstance(loader, _UnitLoader) else loader
    raw_dtype = loader.raw_dtype if isinstance(loader, _UnitLoader) else source.dtype
    if unit == "counts":
        source._loader = raw
        source.dtype = raw_dtype
        source.metadata.pop("unit", None)
        source._planes.clear()
        return
    if refs is None:
        raise NormaliseError(f"{unit}: choose an open beam and a dark current first")
    if tuple(source.slice_shape) != refs.shape:
        raise NormaliseError(
            f"{source.path}: is {' x '.join(map(str, source.slice_shape))}, the references "
            f"({refs.ob_paths[0] if refs.ob_paths else 'open beam'}) are "
            f"{' x '.join(map(str, refs.shape))}"
        )
    if refs.dtype is not None and np.dtype(raw_dtype).newbyteorder("=") != refs.dtype:
        raise NormaliseError(
            f"{source.path}: has pixel type {raw_dtype}, the references "
            f"({refs.ob_paths[0] if refs.ob_paths else 'open beam'}) have {refs.dtype}"
        )
    wrapped = _UnitLoader(source, raw, refs, unit, dose_region, raw_dtype)
    source._loader = wrapped
    source.dtype = np.dtype(np.float32)
    source.metadata["unit"] = unit
    source._planes.clear()


def masked_pixels(source: ImageSource, index: int) -> int | None:
    """Masked pixels of slice ``index`` in the current unit (None if not normalised)."""
    loader = source._loader
    return loader.masked.get(index) if isinstance(loader, _UnitLoader) else None
