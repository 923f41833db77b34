"""Render the app icon (resources/qbi-desktop.svg) to PNGs at the hicolor sizes.

Uses Qt's own SVG renderer (PySide6.QtSvg, part of PySide6-Essentials) from the build
environment, so the build needs no extra system tool and the pixels match what the app draws.
Run with the build venv's Python: ``python packaging/render_icons.py OUT_DIR``; writes
``OUT_DIR/<n>x<n>/qbi-desktop.png`` for each size, ``OUT_DIR/qbi-desktop.svg`` and the
Windows icon ``OUT_DIR/qbi-desktop.ico`` (written by Pillow, a runtime dependency anyway).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
SVG = Path(__file__).resolve().parents[1] / "resources" / "qbi-desktop.svg"


def render(out_dir: Path, sizes: tuple[int, ...] = SIZES) -> list[Path]:
    """Write one PNG per size (transparent background); the paths written."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"render_icons: {SVG} is not a valid SVG")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        target = out_dir / f"{size}x{size}" / "qbi-desktop.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(target), "PNG"):
            raise SystemExit(f"render_icons: could not write {target}")
        written.append(target)
    shutil.copyfile(SVG, out_dir / "qbi-desktop.svg")
    from PIL import Image

    largest = Image.open(out_dir / "256x256" / "qbi-desktop.png")
    ico_sizes = [(n, n) for n in sizes if n <= 256]
    largest.save(out_dir / "qbi-desktop.ico", format="ICO", sizes=ico_sizes)
    written.append(out_dir / "qbi-desktop.ico")
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: render_icons.py OUT_DIR")
    for path in render(Path(sys.argv[1])):
        print(path)
