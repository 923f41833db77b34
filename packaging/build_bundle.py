"""Build the frozen one-folder app (all platforms): clean venv, icons, PyInstaller.

    python3 packaging/build_bundle.py [--reuse-venv]

1. ``build/venv``: a fresh virtual environment with only the app's runtime dependencies
   (``pip install .`` — one Qt binding, no test packages) and PyInstaller (REQUIREMENT below).
   ``--reuse-venv`` keeps an existing one and reinstalls just the app (for quick rebuilds).
2. ``build/icons``: the icon rendered at the hicolor sizes by Qt's SVG renderer.
3. ``dist/qbi-desktop/`` (and ``dist/QBI Desktop.app`` on macOS) from packaging/qbi-desktop.spec.
4. Linux, to keep the unpacked bundle under 250 MB: Qt's ICU data trimmed to what Qt uses
   (packaging/icu_trim.py, 32 -> 6 MB), libraries that two wheels both carry kept once
   (symlinks), debug symbols stripped (also from auditwheel's grafted libraries where the
   stripped copy still loads the same way).

Prints the version and the bundle size; the platform scripts (build_linux.sh, the GitHub
workflow) package the result. Runs with any Python >= 3.11 (the venv is made from it).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
VENV = BUILD / "venv"
DIST = ROOT / "dist"
REQUIREMENT = "pyinstaller>=6.10,<7"
# Packages that must not end up in the installer's environment.
FORBIDDEN = ("pytest", "pytest-qt", "PyQt5", "PyQt6", "PySide2", "torch", "keras", "IPython")


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(*cmd: str | Path, **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def clean_setuptools_leftovers() -> None:
    """pip builds the wheel in the source tree; a stale build/lib would leak deleted modules."""
    for stale in [BUILD / "lib", *BUILD.glob("bdist.*")]:
        shutil.rmtree(stale, ignore_errors=True)


def make_venv(reuse: bool) -> None:
    py = venv_python()
    if reuse and py.exists():
        clean_setuptools_leftovers()
        run(py, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(ROOT))
        return
    shutil.rmtree(VENV, ignore_errors=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    run(py, "-m", "pip", "install", "-q", "--upgrade", "pip")
    clean_setuptools_leftovers()
    run(py, "-m", "pip", "install", "-q", str(ROOT), REQUIREMENT)
    clean_setuptools_leftovers()


def check_venv() -> None:
    out = subprocess.run(
        [str(venv_python()), "-m", "pip", "list", "--format=freeze"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    names = {line.split("==")[0].lower() for line in out.splitlines() if "==" in line}
    bad = sorted(n for n in names if n in {f.lower() for f in FORBIDDEN})
    if bad:
        raise SystemExit(f"build venv holds packages that must not be shipped: {', '.join(bad)}")
    qt = sorted(n for n in names if n.startswith(("pyside", "pyqt")))
    print(f"build venv: {len(names)} packages; Qt binding: {', '.join(qt)}")


def app_version() -> str:
    return subprocess.run(
        [
            str(venv_python()),
            "-c",
            "from importlib.metadata import version as v; print(v('qbi-desktop'))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def load_segments(path: Path) -> list[tuple[int, int, int, int, int, int]] | None:
    """The PT_LOAD program headers of a 64-bit little-endian ELF file, as (offset, address,
    file size, memory size, alignment, flags); None for anything else."""
    with open(path, "rb") as stream:
        head = stream.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return None
        (phoff,) = struct.unpack_from("<Q", head, 0x20)
        entry_size, count = struct.unpack_from("<HH", head, 0x36)
        stream.seek(phoff)
        table = stream.read(entry_size * count)
    segments = []
    for i in range(count):
        kind, flags, offset, address, _phys, filesz, memsz, align = struct.unpack_from(
            "<IIQQQQQQ", table, i * entry_size
        )
        if kind == 1:  # PT_LOAD
            segments.append((offset, address, filesz, memsz, align, flags))
    return segments


def loads_like(stripped: Path, original: Path) -> bool:
    """Whether ``stripped`` maps into memory as ``original`` does and loads: the same segments
    (address, flags, alignment; at most the padding at a segment's end trimmed) at file
    offsets the loader accepts, and the dynamic loader opens it. strip breaks this on some
    libraries that patchelf rewrote (auditwheel's ``*.libs``): "ELF load command
    address/offset not page-aligned"."""
    before, after = load_segments(original), load_segments(stripped)
    if not before or after is None or len(before) != len(after):
        return False
    for (_o0, a0, _f0, m0, al0, fl0), (o1, a1, _f1, m1, al1, fl1) in zip(
        before, after, strict=True
    ):
        if (a0, al0, fl0) != (a1, al1, fl1) or m1 < m0 - max(al0, 1):
            return False
        if (a1 - o1) % max(al1, 4096) != 0:
            return False
    opened = subprocess.run(
        [sys.executable, "-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1])", str(stripped)],
        capture_output=True,
        timeout=60,
    )
    return opened.returncode == 0


def strip_debug_symbols(bundle: Path) -> None:
    """Linux: strip the shared libraries (not the executable: its archive is appended).

    Libraries in ``*.libs`` folders (grafted by auditwheel with patchelf) are stripped on a
    copy that replaces the original only when it still loads like it (:func:`loads_like`);
    OpenBLAS and libgfortran do not, and stay as they are."""
    if not sys.platform.startswith("linux") or shutil.which("strip") is None:
        return
    files = [f for f in bundle.rglob("*.so*") if f.is_file() and not f.is_symlink()]
    grafted = [f for f in files if any(p.endswith(".libs") for p in f.parts)]
    plain = [f for f in files if f not in set(grafted)]
    before = sum(f.stat().st_size for f in files)
    for start in range(0, len(plain), 200):
        subprocess.run(
            ["strip", "--strip-unneeded", *map(str, plain[start : start + 200])], check=True
        )
    kept = []
    for library in grafted:
        copy = library.with_name(library.name + ".stripped")
        shutil.copy2(library, copy)
        done = subprocess.run(["strip", "--strip-unneeded", str(copy)], capture_output=True)
        if done.returncode == 0 and loads_like(copy, library):
            os.replace(copy, library)
        else:
            copy.unlink()
            kept.append(library.name)
    after = sum(f.stat().st_size for f in files)
    print(
        f"stripped {len(files) - len(kept)} libraries: {(before - after) / 1e6:.0f} MB less"
        + (f" (left as they are, strip would break them: {', '.join(kept)})" if kept else "")
    )


def trim_icu_data(bundle: Path) -> None:
    """Linux: Qt's ICU data library (32 MB) keeps only what Qt's ICU calls can reach
    (packaging/icu_trim.py says what and why); the build stops if Qt starts calling ICU
    functions that data was not kept for."""
    if not sys.platform.startswith("linux"):
        return
    sys.path.insert(0, str(ROOT / "packaging"))
    import icu_trim

    libraries = [f for f in bundle.rglob("*.so*") if f.is_file() and not f.is_symlink()]
    unexpected = sorted(
        name
        for name in icu_trim.imported_icu_functions(libraries)
        if not icu_trim.ALLOWED_ICU_FUNCTIONS.match(name)
    )
    if unexpected:
        raise SystemExit(
            "the bundle calls ICU functions whose data icu_trim.py drops: "
            + ", ".join(unexpected)
            + "; update icu_trim.py (what to keep) before building"
        )
    for library in bundle.rglob("libicudata.so.*"):
        if library.is_file() and not library.is_symlink():
            before, after = icu_trim.trim_library(library)
            print(f"ICU data {library.name}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")


def link_duplicate_libraries(bundle: Path) -> None:
    """Linux: a library that two wheels both carry (numpy's and SciPy's OpenBLAS both link the
    same libgfortran build, and PyInstaller copies it next to each) is kept once; the other
    copy becomes a relative symlink to it (dpkg and tar keep symlinks)."""
    if not sys.platform.startswith("linux"):
        return
    first: dict[tuple[str, int, str], Path] = {}
    saved = 0
    for library in sorted(bundle.rglob("*.so*")):
        if not library.is_file() or library.is_symlink():
            continue
        digest = hashlib.sha256(library.read_bytes()).hexdigest()
        key = (library.name, library.stat().st_size, digest)
        if key not in first:
            first[key] = library
            continue
        saved += library.stat().st_size
        target = os.path.relpath(first[key], library.parent)
        library.unlink()
        library.symlink_to(target)
    if saved:
        print(f"duplicate libraries linked: {saved / 1e6:.1f} MB less")


def folder_mb(path: Path) -> float:
    return (
        sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse-venv", action="store_true", help="keep build/venv if present")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    BUILD.mkdir(exist_ok=True)
    make_venv(args.reuse_venv)
    check_venv()
    icons = BUILD / "icons"
    shutil.rmtree(icons, ignore_errors=True)
    run(venv_python(), ROOT / "packaging" / "render_icons.py", icons, stdout=subprocess.DEVNULL)
    env = dict(os.environ, QBI_ICON_DIR=str(icons))
    env.pop("QT_QPA_PLATFORM", None)
    run(
        venv_python(),
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        "--log-level=WARN",
        "--distpath",
        DIST,
        "--workpath",
        BUILD / "pyinstaller",
        ROOT / "packaging" / "qbi-desktop.spec",
        env=env,
        cwd=BUILD,  # not the source tree: modules and metadata must come from the venv
    )
    bundle = DIST / "qbi-desktop"
    trim_icu_data(bundle)
    link_duplicate_libraries(bundle)
    strip_debug_symbols(bundle)
    print(f"version {app_version()}")
    print(f"bundle {bundle}: {folder_mb(bundle):.1f} MB unpacked")
    print(f"build took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
