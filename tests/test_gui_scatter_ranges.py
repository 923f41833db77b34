"""The Baselines dock's predicted-vs-true scatter keeps a real, finite range for values a
detector gives (fluences of 1e17 all equal: widening by 1 did nothing above 2^53, and the
picture code divided by a zero span)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qbi_desktop.gui.docks.baselines_plots import RegressionScatter


@pytest.mark.parametrize(
    "values", [np.full(4, 1e17), np.array([-1e308, 1e308]), np.full(3, 5.0), np.array([])]
)
def test_the_scatter_range_is_finite_and_holds_the_values(qtbot, values):
    scatter = RegressionScatter()
    qtbot.addWidget(scatter)
    scatter.set_data(values, values, {})
    (x0, x1), (y0, y1) = scatter.plot.getPlotItem().viewRange()
    assert all(math.isfinite(v) for v in (x0, x1, y0, y1))
    assert x1 > x0 and y1 > y0
    if values.size and np.ptp(values) < 1e300:  # (a span of 2e308 is no float: clipped)
        assert x0 <= values.min() and values.max() <= x1
