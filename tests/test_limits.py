"""Size limits: defaults that let real images open, overridable by environment and setting."""

from __future__ import annotations

import numpy as np
import pytest

from qbi_desktop.core import limits
from qbi_desktop.core.errors import ImageReadError, UserFacingError


@pytest.fixture(autouse=True)
def _clean_limits(monkeypatch):
    monkeypatch.delenv(limits.ENV_VAR, raising=False)
    yield
    limits._overrides.clear()


def test_defaults_let_a_32768_square_uint16_plane_through_and_refuse_a_header_bomb(tmp_path):
    path = tmp_path / "x.tif"
    limits.check_image_size(path, (16384, 16384), 2)
    limits.check_image_size(path, (32768, 32768), 2)
    with pytest.raises(ImageReadError, match=r"x\.tif.*100000 x 100000.*limit"):
        limits.check_image_size(path, (100000, 100000), 1)
    with pytest.raises(ImageReadError, match="empty size"):
        limits.check_image_size(path, (0, 48), 2)


def test_environment_and_setting_override_the_default(tmp_path, monkeypatch):
    path = tmp_path / "y.tif"
    monkeypatch.setenv(limits.ENV_VAR, "decoded_bytes=1MiB")
    with pytest.raises(ImageReadError, match=r"2\.0 MiB decoded.*limit of 1\.0 MiB"):
        limits.check_image_size(path, (1024, 1024), 2)
    limits.set_limits(decoded_bytes="4MiB")  # the settings value wins over the environment
    limits.check_image_size(path, (1024, 1024), 2)
    limits.set_limits(decoded_bytes=None)
    assert limits.current().decoded_bytes == 1024**2


def test_a_malformed_environment_value_is_a_message_not_a_traceback(monkeypatch):
    monkeypatch.setenv(limits.ENV_VAR, "decoded_bytes=lots")
    with pytest.raises(UserFacingError, match="QBI_DESKTOP_LIMITS: decoded_bytes"):
        limits.current()


def test_document_and_sheet_limits(tmp_path, monkeypatch):
    doc = tmp_path / "big.json"
    doc.write_bytes(b" " * 2048)
    monkeypatch.setenv(limits.ENV_VAR, "document_bytes=1k")
    with pytest.raises(UserFacingError, match=r"big\.json: the JSON file is 2\.0 KiB"):
        limits.check_document_size(doc, "JSON file")
    with pytest.raises(UserFacingError, match="16,384 columns"):
        limits.check_sheet_cells(tmp_path / "s.xlsx", 1048576, 16384)


def test_gui_setting_is_applied_at_start(tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    from qbi_desktop.gui.settings import apply_size_limits

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("limits/decoded_bytes", "3GiB")
    settings.setValue("limits/image_pixels", "garbage")
    apply_size_limits(settings)
    assert limits.current().decoded_bytes == 3 * 1024**3
    assert limits.current().image_pixels == limits.Limits().image_pixels
    assert np.int64(limits.current().decoded_bytes) > 2**31
