"""Which parts of the frozen bundle does the app actually load? (a tool for trimming the spec)

    python3 packaging/trace_imports.py [--top 40]

Imports every module of the app and every name any of them imports (also inside functions),
then runs the self-test and packaging/smoke_frozen.py, all on the build venv's Python
(build/venv, made by build_bundle.py), with a ``sitecustomize`` that records, when each
process exits, the modules in
``sys.modules`` and the shared libraries mapped into it (``/proc/self/maps``). Then lists the
libraries in dist/qbi-desktop/_internal that no process loaded, biggest first, and the
subpackages of the heavy dependencies that were (not) imported.

A library nobody loaded is a candidate for leaving out, not proof: a code path the self-test and
the smoke runs do not reach may still need it. Each exclusion in the spec says why it is safe.
Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / "build" / "venv" / "bin" / "python"
BUNDLE = ROOT / "dist" / "qbi-desktop" / "_internal"
HEAVY = ("scipy", "skimage", "sklearn", "numpy", "PySide6", "PIL", "imagecodecs", "pyqtgraph")

SITECUSTOMIZE = """
import atexit, json, os, sys

def _qbi_trace_dump():
    libs = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                parts = line.split()
                if len(parts) >= 6 and ".so" in parts[-1]:
                    libs.add(parts[-1])
    except OSError:
        pass
    path = os.path.join(os.environ["QBI_TRACE_DIR"], f"{os.getpid()}.json")
    with open(path, "w") as out:
        json.dump({"argv": sys.argv, "modules": sorted(sys.modules), "libs": sorted(libs)}, out)

atexit.register(_qbi_trace_dump)
"""


def lib_key(name: str) -> str:
    """A library's name up to ".so": the bundle keeps sonames (libstdc++.so.6), the system
    maps real files (libstdc++.so.6.0.30)."""
    return name.split(".so")[0]


IMPORT_ALL = """
import ast, importlib, pkgutil, sys
from pathlib import Path
import qbi_desktop

# Every module of the app (the panels import their libraries at the top) ...
for info in pkgutil.walk_packages(qbi_desktop.__path__, "qbi_desktop."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
# ... and every import statement anywhere in it, also those inside functions (GUI-only paths).
# Optional integrations missing from the build venv (dask, openpyxl, Windows modules) are listed.
def load(name):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        print(f"trace: not importable here: {name} ({exc})")

for source in Path(qbi_desktop.__file__).parent.rglob("*.py"):
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                load(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = load(node.module)
            for alias in node.names:
                if module is not None and alias.name != "*" and not hasattr(module, alias.name):
                    load(f"{node.module}.{alias.name}")
"""


def trace(trace_dir: Path) -> None:
    site = trace_dir / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ, QBI_TRACE_DIR=str(trace_dir), PYTHONPATH=str(site))
    home = tempfile.mkdtemp(prefix="qbi-trace-home-")
    selftest_env = dict(env, QBI_DESKTOP_HOME=home)
    selftest_env.pop("QT_QPA_PLATFORM", None)
    app = f"{VENV_PYTHON} -m qbi_desktop"
    subprocess.run(
        [str(VENV_PYTHON), "-m", "qbi_desktop", "--self-test"],
        env=selftest_env,
        check=True,
        cwd=home,  # not the source tree: the installed package, as in the bundle
    )
    subprocess.run(
        [str(VENV_PYTHON), "-c", IMPORT_ALL],
        env=dict(selftest_env, QT_QPA_PLATFORM="offscreen"),
        check=True,
        cwd=home,
    )
    subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "smoke_frozen.py"), "--app", app],
        env=env,
        check=True,
    )


def report(trace_dir: Path, top: int) -> None:
    modules: set[str] = set()
    loaded: set[str] = set()
    for dump in trace_dir.glob("*.json"):
        data = json.loads(dump.read_text())
        modules.update(data["modules"])
        loaded.update(lib_key(os.path.basename(p)) for p in data["libs"])
    print(f"{len(list(trace_dir.glob('*.json')))} processes, {len(modules)} modules")
    for package in HEAVY:
        subs = defaultdict(int)
        for name in modules:
            parts = name.split(".")
            if parts[0] == package and len(parts) > 1:
                subs[parts[1]] += 1
        print(f"{package}: {', '.join(f'{k}({v})' for k, v in sorted(subs.items()))}")
    if not BUNDLE.is_dir():
        return
    unused = []
    for lib in BUNDLE.rglob("*.so*"):
        if lib.is_file() and not lib.is_symlink() and lib_key(lib.name) not in loaded:
            unused.append((lib.stat().st_size, lib.relative_to(BUNDLE)))
    unused.sort(reverse=True)
    total = sum(size for size, _ in unused)
    print(f"\n{len(unused)} bundled libraries never loaded, {total / 1e6:.1f} MB; biggest:")
    for size, rel in unused[:top]:
        print(f"{size / 1e6:7.2f} MB  {rel}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=40, help="libraries listed")
    parser.add_argument("--keep", type=Path, help="write the per-process dumps here")
    args = parser.parse_args(argv)
    trace_dir = args.keep or Path(tempfile.mkdtemp(prefix="qbi-trace-"))
    trace_dir.mkdir(parents=True, exist_ok=True)
    if not any(trace_dir.glob("*.json")):
        trace(trace_dir)
    report(trace_dir, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
