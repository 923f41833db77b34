"""PyInstaller runtime hook: an empty ``PySide6.QtOpenGL`` where the installer left it out.

pyqtgraph imports ``PySide6.QtOpenGL`` when it is imported (RawImageWidget, OpenGLHelpers) but
uses it only to draw with OpenGL, which QBI Desktop never turns on; the 9 MB binding is left out
of the bundle (packaging/qbi-desktop.spec) and this placeholder takes its place. Any use of one
of its names raises AttributeError naming what is missing (pyqtgraph's OpenGL helpers catch
AttributeError and report that OpenGL functions are unavailable).
"""

import importlib.util
import sys
import types


class _LeftOut(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"PySide6.QtOpenGL.{name}: Qt's OpenGL classes are not part of this installation "
            "(QBI Desktop draws without OpenGL)"
        )


def _install() -> None:
    if "PySide6.QtOpenGL" in sys.modules:
        return
    try:
        present = importlib.util.find_spec("PySide6.QtOpenGL") is not None
    except ImportError:  # no PySide6 at all: nothing to stand in for
        return
    if not present:
        sys.modules["PySide6.QtOpenGL"] = _LeftOut("PySide6.QtOpenGL")


_install()
