"""Set-up shared by the Spots dock's GUI tests: a simulated radiograph with gamma spots, opened
in the window with its Annotate session ready."""

from __future__ import annotations

import tifffile

try:
    from tests.conftest import open_and_wait
except ImportError:  # pragma: no cover
    from conftest import open_and_wait

from qbi_desktop.core.simulate import SimulationParams, simulate_radiograph


def open_simulated_spots(qtbot, window, tmp_path, size: int, seed: int):
    """A ``size`` x ``size`` simulated radiograph (``seed``) written to ``tmp_path/sim.tif`` and
    opened in ``window``; the Annotate panel ready and set to discard its mask on close (no
    modal question). (simulation, path, annotate panel)."""
    sim = simulate_radiograph(
        SimulationParams(height=size, width=size, spot_rate_per_mpx=500), seed
    )
    path = tmp_path / "sim.tif"
    tifffile.imwrite(path, sim.image)
    open_and_wait(qtbot, window, path)
    annotate = window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    qtbot.waitUntil(lambda: annotate.session is not None and annotate.session.ready, timeout=10000)
    return sim, path, annotate
