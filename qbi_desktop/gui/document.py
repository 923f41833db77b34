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

    def refresh_sample(self, overview: np.ndarray | None = None) -> np.ndarray:
        """Re-sample the current plane and its histogram (cheap: at most ~1 M pixels).

        An ``overview`` already read (a strided copy of the plane) is sub-sampled instead of
        reading the plane again.
        """
        if overview is not None:
            self.sample = core_levels.sample(overview)
        else:
            plane = self.plane()
            step = core_levels.stride_for(plane.shape)
            self.sample = plane.read(0, plane.height, 0, plane.width, step)
        self.histogram = core_levels.histogram(self.sample, bins=256)
        return self.sample

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
) -> Job[ImageDocument]:
    """Open a file lazily and read what the first frame needs (on a worker thread): the overview
    at the stride a view of ``view_size`` needs, and the statistics for auto-levels."""
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
    if plane.complete:
        document.overview = (plane.read(0, plane.height, 0, plane.width, step), step)
        document.refresh_sample(document.overview[0])
    else:
        document.refresh_sample()
    document.auto_levels(*percentiles)
    return document
