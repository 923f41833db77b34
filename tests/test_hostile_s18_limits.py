"""Hostile campaign s18, finding 5: ``decoded_bytes=1e400`` in the settings file stopped the app
from starting on every launch (``int(float('1e400') * unit)`` is an OverflowError, which the
GUI's "logged and ignored" does not catch), and in ``QBI_DESKTOP_LIMITS`` it ended the command
in a traceback. A size that is not finite or beyond any disk is now a ValueError like "abc"."""

from __future__ import annotations

import logging

import pytest

from qbi_desktop.core import limits


@pytest.fixture(autouse=True)
def _no_overrides():
    limits.set_limits(decoded_bytes=None)
    yield
    limits.set_limits(decoded_bytes=None)


@pytest.mark.parametrize("text", ["1e400", "1e309", "9e300GiB", "1e300", "2e18", 1e400, 1e300])
def test_sizes_beyond_any_disk_are_a_value_error(text):
    with pytest.raises(ValueError, match="at most 1 EiB"):
        limits.parse_size(text)


@pytest.mark.parametrize(
    "text,value", [("2GiB", 2 << 30), ("512 MB", 512_000_000), ("4e9", 4_000_000_000)]
)
def test_ordinary_sizes_still_read(text, value):
    assert limits.parse_size(text) == value


def test_the_settings_file_value_is_logged_and_ignored(tmp_path, caplog, qapp):
    """The GUI's start-up step with the settings file of the campaign: it logs, keeps the
    default and returns (before, the OverflowError ended run_gui)."""
    from PySide6.QtCore import QSettings

    from qbi_desktop.gui.settings import apply_size_limits

    ini = tmp_path / "qbi-desktop.ini"
    ini.write_text("[limits]\ndecoded_bytes=1e400\n")
    settings = QSettings(str(ini), QSettings.Format.IniFormat)
    default = limits.current().decoded_bytes
    with caplog.at_level(logging.WARNING):
        apply_size_limits(settings)
    assert limits.current().decoded_bytes == default
    assert "limits/decoded_bytes ignored" in caplog.text and "1e400" in caplog.text


def test_the_environment_variable_gets_a_message_not_a_traceback(tmp_path, monkeypatch, capsys):
    import numpy as np
    import tifffile

    from qbi_desktop.cli import main

    image = tmp_path / "sim_0000.tif"
    tifffile.imwrite(image, np.zeros((8, 8), np.uint16))
    monkeypatch.setenv(limits.ENV_VAR, "decoded_bytes=1e400")
    code = main(["measure", "--rect", "0", "0", "4", "4", str(image)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{limits.ENV_VAR}: decoded_bytes:" in err and "1e400" in err
    assert "Traceback" not in err and "OverflowError" not in err
