"""The installable package: every sub-package is shipped, with the icon and desktop entry."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "qbi_desktop").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found - listed == set(), f"add these to [tool.setuptools] packages: {found - listed}"


def test_icon_and_desktop_entry_ship_with_the_package():
    from qbi_desktop.gui.app import resource_path

    icon = resource_path("qbi-desktop.svg")
    assert icon.exists() and b"<svg" in icon.read_bytes()
    entry = resource_path("qbi-desktop.desktop").read_text()
    assert "Exec=qbi-desktop %F" in entry and "image/tiff" in entry
