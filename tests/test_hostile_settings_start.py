"""Hostile settings at start: the INI file is the user's to edit (or another version's), so a
value of the wrong type ('abc' for a number, a list for a name, NaN, 1e308, a huge integer)
must not stop a panel from being built. Before, ``int(settings.value(...))`` in the
Radiography panel, ``value(..., type=float)`` in Annotate and ``json.loads`` of a list in
Augment raised out of the panel's constructor: the window started without its panels."""

from __future__ import annotations

import logging
import os

import pytest

from qbi_desktop.gui.main_window import PANEL_MODULES

#: keys the panels read at start, each given the hostile value
KEYS = {
    "annotate": ["size", "min_size", "max_size", "gamma", "opacity", "rule_k", "rule_median"],
    "augment": ["samples", "pipeline"],
    "radiography": ["workers", "scheduler"],
    "view": ["colormap", "percentile_low", "percentile_high"],
    "baselines": ["k", "folds", "seed", "downsample", "test_fraction", "resize"],
}


def _write_ini(home, value: str) -> None:
    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    lines = []
    for group, keys in KEYS.items():
        lines.append(f"[{group}]")
        lines += [f"{key}={value}" for key in keys]
    (config / "qbi-desktop.ini").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "value", ["abc", "nan", "inf", "1e308", "99999999999999999999", "a, b, c", "-1"]
)
def test_settings_of_the_wrong_type_leave_every_panel_built_with_defaults(
    qtbot, settings_dir, caplog, value
):
    from qbi_desktop.gui.main_window import MainWindow

    _write_ini(settings_dir, value)
    caplog.set_level(logging.WARNING)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    try:
        assert set(PANEL_MODULES) | {"audit", "agreement", "measure"} <= set(window.panels)
        radiography = window.panels["radiography"]
        assert radiography.workers.value() == (os.cpu_count() or 1)
        assert window.panels["augment"].n_samples.value() == 8
        assert window.panels["annotate"].size_spin.value() == 9
        low, high = window.levels_panel.low_pct.value(), window.levels_panel.high_pct.value()
        assert (low, high) == (0.5, 99.5)
        assert window.panels["baselines"].form.resize_to() == "auto"
        # what was ignored is said, naming the setting
        said = " ".join(r.getMessage() for r in caplog.records)
        assert "setting radiography/workers=" in said and "ignored" in said
    finally:
        window.tasks.cancel_all()
        window.tasks.wait(5000)
        window.close()
