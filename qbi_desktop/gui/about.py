"""Help > About: the version, the libraries it runs on, and where it keeps its files."""

from __future__ import annotations

import html
import platform
from importlib.metadata import PackageNotFoundError, version

from qbi_desktop import __version__
from qbi_desktop.core.paths import user_dir

LIBRARIES = (
    "numpy",
    "scipy",
    "scikit-image",
    "scikit-learn",
    "tifffile",
    "imagecodecs",
    "pyqtgraph",
    "PySide6-Essentials",
)


def versions() -> dict[str, str]:
    found = {"QBI Desktop": __version__, "Python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    try:
        from PySide6.QtCore import qVersion

        found["Qt"] = qVersion()
    except ImportError:
        pass
    return found


def about_text() -> str:
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
        for k, v in versions().items()
    )
    places = "".join(
        f"<tr><td>{kind}</td><td>{html.escape(str(user_dir(kind)))}</td></tr>"
        for kind in ("config", "logs", "recovery", "cache")
    )
    return (
        "<h3>QBI Desktop</h3><p>Browse, annotate and curate imaging data; honest baselines.</p>"
        f"<table>{rows}</table><p><b>Where files live</b></p><table>{places}</table>"
    )
