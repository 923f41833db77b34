"""The embedded demo: a small stack of simulated neutron radiographs with exact ground truth.

Generated on first use from the simulator (seeded, so every installation shows the same images)
and cached as TIFF files in the user cache folder, so later starts open it instantly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qbi_desktop.core.atomic import atomic_write_with
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.paths import user_dir

DEMO_VERSION = 1
DEMO_COUNT = 4
DEMO_SIZE = 2048
DEMO_SEED = 2026


def demo_paths(folder: Path | None = None) -> tuple[Path, Path]:
    """(image stack, spot label stack) of the cached demo."""
    folder = folder or user_dir("cache") / f"demo-v{DEMO_VERSION}"
    return folder / "demo_radiographs.tif", folder / "demo_radiographs_spots.tif"


def demo_job(
    folder: Path | None = None, count: int = DEMO_COUNT, size: int = DEMO_SIZE
) -> Job[Path]:
    """Make (or find) the demo stack; returns the image stack path."""
    image_path, spots_path = demo_paths(folder)
    if image_path.exists() and spots_path.exists():
        return image_path
    # Only to make it: the simulator pulls in scipy, which a start with the demo cached
    # does not need before its first frame.
    import tifffile

    from qbi_desktop.core.simulate import SimulationParams, simulate_radiograph

    image_path.parent.mkdir(parents=True, exist_ok=True)
    params = SimulationParams(height=size, width=size)
    images, spots = [], []
    for index in range(count):
        yield Progress(index, count, f"simulating demo radiograph {index + 1} of {count}")
        result = simulate_radiograph(params, seed=DEMO_SEED + index)
        images.append(result.image)
        spots.append(result.spot_labels.astype(np.uint16))
    yield Progress(count, count, "writing demo files")
    description = "QBI Desktop demo: simulated neutron radiographs (seeded), one per slice"
    atomic_write_with(
        spots_path,
        lambda s: tifffile.imwrite(s, np.stack(spots), imagej=True, compression="zlib"),
    )
    atomic_write_with(
        image_path,
        lambda s: tifffile.imwrite(
            s, np.stack(images), imagej=True, metadata={"axes": "ZYX", "Info": description}
        ),
    )
    return image_path
