"""torchvision's own ImageFolder (``torchvision.datasets.folder``), for tests that read our
exports the way PyTorch users do.

``import torchvision`` fails here: the PyPI wheel of torchvision 0.28 is built against the CUDA
build of torch and its compiled operators do not load beside the CPU build of torch 2.13
(``operator torchvision::nms does not exist``). ImageFolder itself is pure Python, so when the
package cannot be imported its ``datasets/folder.py`` (and what it imports) is loaded from the
installed torchvision without running the package's ``__init__``, and ``sys.modules`` is left
as it was.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def load_folder_module() -> types.ModuleType | None:
    """The installed ``torchvision.datasets.folder`` module, or None without torchvision."""
    try:
        return importlib.import_module("torchvision.datasets.folder")
    except ImportError:
        return None
    except RuntimeError:  # compiled operators that do not match the installed torch
        pass
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    before = set(sys.modules)
    saved = {k: sys.modules[k] for k in before if k.startswith("torchvision")}
    try:
        root = list(spec.submodule_search_locations)[0]
        for name, where in (("torchvision", root), ("torchvision.datasets", f"{root}/datasets")):
            stub = types.ModuleType(name)
            stub.__path__ = [where]
            sys.modules[name] = stub
        return importlib.import_module("torchvision.datasets.folder")
    finally:
        for name in set(sys.modules) - before:
            if name.startswith("torchvision"):
                del sys.modules[name]
        sys.modules.update(saved)
