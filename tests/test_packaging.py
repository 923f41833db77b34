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


def test_readme_for_help_ships_with_the_installed_package():
    # Help > QBI Desktop Help shows the README: an installed copy (wheel, .deb, bundle) has it
    # as the package's long description in its metadata, not as a file of the source tree.
    from qbi_desktop.gui.help import readme_text

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["readme"] == "README.md"
    installed = readme_text(source_root=None)
    assert installed.startswith("# QBI Desktop") and "## Install and run" in installed
    assert "copy_metadata(dist)" in (REPO / "packaging" / "qbi-desktop.spec").read_text()
