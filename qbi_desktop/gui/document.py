"""An open image as the viewer sees it: the lazy source plus the display state chosen for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core import levels as core_levels
from qbi_desktop.core.errors import human_size
from qbi_desktop.core.io import ImageSource, Plane, open_image
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.pyramid import Pyramid, overview_step

# Pixels of the sample the first frame's levels come from: 0.5/99.5 % percentiles of 64 k pixels
# differ from those of 1 M by a fraction of a grey level on radiographs, and cost ~1 ms.
QUICK_SAMPLE_PIXELS = 1 << 16


@dataclass
class ImageDocument:
    source: ImageSource
    index: int = 0
    levels: tuple[float, float] = (0.0, 1.0)
    levels_manual: bool = (
        False  # the user chose levels: keep them when tiles arrive or slices change
    )
    sample: np.ndarray | None = None  # strided sample of the current plane, for stats and histogram
    histogram: tuple[np.ndarray, np.ndarray] | None = None  # counts, edges of the sample
    overview: tuple[np.ndarray, int] | None = None  # (array, step) read by the opening worker
    file_size: int | None = None  # bytes on disk, looked up by the opening worker
    # The sample is the small one the first frame's levels came from: refine it after the paint.
    sample_is_quick: bool = False
    pyramids: dict[int, Pyramid] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.source.path

    @property
    def title(self) -> str:
        return self.source.path.name

    def plane(self) -> Plane:
        return self.source.plane(self.index)

    def pyramid(self) -> Pyramid | None:
        """The pyramid of the current plane, created (empty) on first use; None if not needed."""
        pyramid = self.pyramids.get(self.index)
        if pyramid is None:
            pyramid = Pyramid(self.plane())
            if not pyramid.factors:
                return None
            self.pyramids[self.index] = pyramid
        return pyramid if pyramid.factors else None

    def refresh_sample(
        self,
        overview: np.ndarray | None = None,
        max_pixels: int = core_levels.SAMPLE_PIXELS,
        histogram: bool = True,
    ) -> np.ndarray:
        """Re-sample the current plane and its histogram (cheap: at most ``max_pixels``).

        An ``overview`` already read (a strided copy of the plane) is sub-sampled instead of
        reading the plane again. ``histogram=False``: only the levels need the sample now (the
        first frame); the histogram is left None for the panels to ask for.
        """
        if overview is not None:
            self.sample = core_levels.sample(overview, max_pixels)
        else:
            plane = self.plane()
            step = core_levels.stride_for(plane.shape, max_pixels)
            self.sample = plane.read(0, plane.height, 0, plane.width, step)
        self.histogram = core_levels.histogram(self.sample, bins=256) if histogram else None
        self.sample_is_quick = max_pixels < core_levels.SAMPLE_PIXELS
        return self.sample

    def refine_sample(self, percentiles: tuple[float, float]) -> bool:
        """After a first frame drawn from a quick sample: the full sample, its histogram and
        (unless the user chose levels) the auto-levels from it. True when the levels changed."""
        if not self.sample_is_quick:
            return False
        before = self.levels
        self.refresh_sample()
        if not self.levels_manual:
            self.auto_levels(*percentiles)
        return self.levels != before

    def auto_levels(self, low: float, high: float) -> tuple[float, float]:
        sample = self.sample if self.sample is not None else self.refresh_sample()
        if sample.ndim == 3:  # colour: one window for all channels
            sample = sample[..., :3]
        self.levels = core_levels.percentile_levels(sample, low, high)
        return self.levels

    def info_rows(self) -> list[tuple[str, Any]]:
        src = self.source
        rows: list[tuple[str, Any]] = [
            ("File", str(src.path)),
            (
                "Shape",
                " x ".join(str(n) for n in (*src.stack_shape, *src.slice_shape))
                if src.n_slices > 1
                else " x ".join(str(n) for n in src.slice_shape),
            ),
            ("Axes", src.axes),
            ("Pixel type", str(src.dtype)),
            ("Slices", src.n_slices),
        ]
        if self.file_size is not None:
            rows.append(("Size on disk", human_size(self.file_size)))
        if self.sample is not None:
            lo, hi = core_levels.value_range(self.sample)
            exact = self.sample.shape[:2] == self.plane().shape[:2]
            if src.dtype.kind in "uib":  # whole numbers, never 1.2e+06
                shown = f"{int(lo)} / {int(hi)}"
            else:
                shown = f"{lo:.6g} / {hi:.6g}"
            rows.append(("Min / max" + ("" if exact else " (sampled)"), shown))
        for key, value in src.metadata.items():
            if isinstance(value, dict):
                for sub, subvalue in value.items():
                    rows.append((f"{key}.{sub}", subvalue))
            else:
                rows.append((key.replace("_", " ").capitalize(), value))
        return rows


def open_document_job(
    path: str | Path,
    percentiles: tuple[float, float],
    view_size: tuple[float, float] = (1024, 1024),
    quick: bool = False,
) -> Job[ImageDocument]:
    """Open a file lazily and read what the first frame needs (on a worker thread): the overview
    at the stride a view of ``view_size`` needs, and the statistics for auto-levels.

    ``quick``: the levels come from a small strided sample (:data:`QUICK_SAMPLE_PIXELS`), so the
    first frame is drawn sooner; :meth:`ImageDocument.refine_sample` completes it afterwards."""
    yield Progress(0, 2, f"opening {Path(path).name}")
    source = open_image(path)
    document = ImageDocument(source)
    try:
        document.file_size = source.path.stat().st_size
    except OSError:
        pass
    yield Progress(1, 2, "reading overview")
    plane = document.plane()
    step = overview_step(plane.height, plane.width, *view_size)
    max_pixels = QUICK_SAMPLE_PIXELS if quick else core_levels.SAMPLE_PIXELS
    # A quick open draws first and refines the sample (and makes the histogram) after the paint.
    if plane.complete:
        # A small file's overview is read through its map: faster than a fresh buffer to read
        # into; the window drops the mapped pages once it has settled.
        overview = plane.read(0, plane.height, 0, plane.width, step, mapped=quick)
        document.overview = (overview, step)
        document.refresh_sample(document.overview[0], max_pixels, histogram=not quick)
    else:
        document.refresh_sample(max_pixels=max_pixels, histogram=not quick)
    document.auto_levels(*percentiles)
    return document
