"""The installer recipes are consistent: the PyInstaller spec, the Inno Setup script, the
GitHub workflow, the Debian control template and maintainer scripts, the shell scripts.

Static checks (they run everywhere); the built .deb is checked too when dist/ has one."""

from __future__ import annotations

import ast
import configparser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGING = REPO / "packaging"


def test_spec_is_python_and_references_existing_files():
    source = (PACKAGING / "qbi-desktop.spec").read_text()
    tree = ast.parse(source)
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and hasattr(n.func, "id")}
    assert {"Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"} <= calls
    assert (PACKAGING / "launcher.py").exists() and '"packaging" / "launcher.py"' in source
    # importlib.metadata must work in the bundle (--version, Help > About)
    assert '"qbi-desktop"' in source and "copy_metadata(dist)" in source
    # panels and commands are imported by name: the whole package must be collected
    assert 'collect_submodules("qbi_desktop")' in source
    # one Qt binding, no test packages
    for excluded in ("PyQt5", "PyQt6", "PySide2", "pytest", "tkinter"):
        assert f'"{excluded}"' in source
    # macOS document types for TIFF and PNG
    assert "public.tiff" in source and "public.png" in source


def test_spec_keeps_the_qt_plugins_the_app_needs():
    namespace: dict = {}
    source = (PACKAGING / "qbi-desktop.spec").read_text()
    keep_source = source[source.index("KEEP_PLUGIN_DIRS") : source.index("a = Analysis(")]
    exec("import re\n" + keep_source, namespace)  # the constants and _keep() only
    keep = namespace["_keep"]
    assert keep("PySide6/Qt/plugins/platforms/libqxcb.so")
    assert keep("PySide6/Qt/plugins/platforms/libqoffscreen.so")
    assert keep("PySide6/plugins/platforms/qwindows.dll")
    assert keep("PySide6/Qt/plugins/iconengines/libqsvgicon.so")
    assert keep("PySide6/Qt/plugins/imageformats/libqsvg.so")
    assert keep("PySide6/Qt/lib/libQt6Widgets.so.6")
    assert keep("sklearn/datasets/data/digits.csv.gz")
    assert not keep("PySide6/Qt/translations/qtbase_de.qm")
    assert not keep("PySide6/translations/qtbase_de.qm")
    assert not keep("PySide6/Qt/plugins/platforms/libqeglfs.so")
    assert not keep("PySide6/Qt/plugins/imageformats/libqpdf.so")
    assert not keep("PySide6/Qt/plugins/platformthemes/libqgtk3.so")
    assert not keep("PySide6/Qt/qml/QtQuick/Controls/libqtquickcontrols2plugin.so")
    assert not keep("PySide6/opengl32sw.dll")
    assert not keep("sklearn/datasets/images/china.jpg")


def test_inno_setup_script_installs_per_user_with_shortcut_associations_uninstaller():
    text = (PACKAGING / "windows" / "qbi-desktop.iss").read_text()
    sections = set(re.findall(r"^\[(\w+)\]", text, re.M))
    assert {"Setup", "Files", "Icons", "Registry"} <= sections
    assert re.search(r"^PrivilegesRequired=lowest$", text, re.M)
    assert "commandline" in re.search(r"^PrivilegesRequiredOverridesAllowed=(.*)$", text, re.M)[1]
    assert re.search(r"^ChangesAssociations=yes$", text, re.M)
    assert re.search(
        r'^Name: "\{group\}\\\{#AppName\}"; Filename: "\{app\}\\\{#AppExe\}"', text, re.M
    )
    for ext in (".tif", ".tiff", ".png"):
        assert f"Software\\Classes\\{ext}\\OpenWithProgids" in text
    assert re.search(r'^Source: "dist\\qbi-desktop\\\*"', text, re.M)
    assert "Uninstall" in text and "uninsdelete" in text
    # the icon it names is one render_icons.py writes
    assert "SetupIconFile=build\\icons\\qbi-desktop.ico" in text
    assert "qbi-desktop.ico" in (PACKAGING / "render_icons.py").read_text()


def test_workflow_builds_installs_and_self_tests_on_three_runners():
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "build.yml").read_text())
    jobs = workflow["jobs"]
    runners = {name: job["runs-on"] for name, job in jobs.items()}
    assert {r.split("-")[0] for r in runners.values()} == {"ubuntu", "windows", "macos"}
    for name, job in jobs.items():
        script = "\n".join(step.get("run", "") for step in job["steps"])
        uses = [step.get("uses", "") for step in job["steps"]]
        assert any(u.startswith("actions/upload-artifact") for u in uses), name
        assert "--self-test" in script or "packaging/ci.sh" in script, name
        for path in re.findall(r"packaging[/\\][\w./\\-]+\.(?:py|sh|iss)", script):
            assert (REPO / path.replace("\\", "/")).exists(), f"{name} runs missing {path}"
    windows = "\n".join(s.get("run", "") for s in jobs["windows"]["steps"])
    assert "/VERYSILENT" in windows and "/CURRENTUSER" in windows and "unins000.exe" in windows
    macos = "\n".join(s.get("run", "") for s in jobs["macos"]["steps"])
    assert "hdiutil create" in macos and "hdiutil attach" in macos
    assert "QT_QPA_PLATFORM=offscreen" in macos
    assert "--self-test" in (PACKAGING / "ci.sh").read_text()


def test_debian_control_template_and_maintainer_scripts():
    text = (PACKAGING / "linux" / "control.in").read_text()
    fields = dict(
        line.split(": ", 1) for line in text.splitlines() if line and not line.startswith(" ")
    )
    for name in ("Package", "Version", "Architecture", "Maintainer", "Depends", "Description"):
        assert fields.get(name), f"control has no {name}"
    assert fields["Package"] == "qbi-desktop"
    assert re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", fields["Package"])
    for script in ("postinst", "postrm"):
        path = PACKAGING / "linux" / script
        assert path.stat().st_mode & 0o111, f"{script} is not executable"
        subprocess.run(["sh", "-n", str(path)], check=True)
        body = path.read_text()
        assert "update-desktop-database" in body and "gtk-update-icon-cache" in body
        assert "command -v" in body  # only when the tools exist


def test_shell_scripts_parse():
    for script in ("build_linux.sh", "ci.sh"):
        subprocess.run(["bash", "-n", str(PACKAGING / script)], check=True)


def test_desktop_entry_lists_the_image_types():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(REPO / "resources" / "qbi-desktop.desktop")
    desktop = entry["Desktop Entry"]
    assert desktop["Exec"].split()[0] == "qbi-desktop"
    assert desktop["Icon"] == "qbi-desktop"
    assert {"image/tiff", "image/png"} <= set(filter(None, desktop["MimeType"].split(";")))


def _built_deb() -> Path:
    debs = sorted((REPO / "dist").glob("qbi-desktop_*.deb"))
    if not debs or shutil.which("dpkg-deb") is None:
        pytest.skip("no .deb built (bash packaging/build_linux.sh)")
    return debs[-1]


def test_built_deb_has_the_layout_the_desktop_expects():
    deb = _built_deb()
    info = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True).stdout
    assert "Package: qbi-desktop" in info and "Depends:" in info
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True).stdout
    assert "./opt/qbi-desktop/qbi-desktop" in listing
    assert re.search(r"^l.*\./usr/bin/qbi-desktop -> /opt/qbi-desktop/qbi-desktop$", listing, re.M)
    assert "./usr/share/applications/qbi-desktop.desktop" in listing
    sizes = set(re.findall(r"hicolor/(\d+)x\1/apps/qbi-desktop\.png", listing))
    assert {"16", "32", "48", "128", "256"} <= sizes
    assert "hicolor/scalable/apps/qbi-desktop.svg" in listing
    assert " root/root " in listing  # files owned by root, not by the builder


# --- bundle size: what leaves the bundle, and that the app still has what it uses --------------


def _packaging_module(name: str):
    spec = importlib.util.spec_from_file_location(name, PACKAGING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spec_excludes() -> set[str]:
    """The module names the spec lists in ``excludes = [...]`` / ``excludes += [...]``."""
    tree = ast.parse((PACKAGING / "qbi-desktop.spec").read_text())
    names = set()
    for node in ast.walk(tree):
        target = getattr(node, "target", None) or (getattr(node, "targets", None) or [None])[0]
        if isinstance(target, ast.Name) and target.id == "excludes":
            if isinstance(node.value, ast.List):
                names |= {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
    return names


def _modules_the_app_imports() -> set[str]:
    """Every absolute module an import statement anywhere in qbi_desktop names, including
    ``from package import submodule`` candidates."""
    found = set()
    for source in (REPO / "qbi_desktop").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
                found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_spec_excludes_no_module_the_app_imports():
    excludes = _spec_excludes()
    assert {"skimage.filters.rank", "scipy.signal", "sklearn.tree", "_ssl"} <= excludes
    imported = _modules_the_app_imports()
    assert {"skimage.segmentation", "sklearn.neighbors", "scipy.ndimage"} <= imported
    # Optional integrations the installer leaves out on purpose (the spec says so; the app
    # reports them missing when asked for remote workers, XLSX sheets or the OpenCV resampler).
    optional = {"dask", "distributed", "openpyxl", "cv2"}
    broken = sorted(
        f"{module} (excluded: {excluded})"
        for module in imported
        for excluded in excludes - optional
        if module == excluded or module.startswith(excluded + ".")
    )
    assert not broken, "the spec leaves out modules the app imports: " + ", ".join(broken)


def test_spec_drops_test_data_and_file_lists_but_keeps_metadata_and_digits():
    namespace: dict = {}
    source = (PACKAGING / "qbi-desktop.spec").read_text()
    exec(
        "import re\n" + source[source.index("KEEP_PLUGIN_DIRS") : source.index("a = Analysis(")],
        namespace,
    )
    keep = namespace["_keep"]
    assert not keep("sklearn/datasets/tests/data/openml/id_3/data-v1-dl-3.arff.gz")
    assert not keep("numpy-2.4.6.dist-info/RECORD")
    assert not keep("platformdirs-4.14.8.dist-info/sboms/platformdirs.cdx.json")
    assert keep("numpy-2.4.6.dist-info/METADATA")  # importlib.metadata.version()
    assert keep("numpy-2.4.6.dist-info/licenses/LICENSE.txt")
    assert keep("sklearn/datasets/data/digits.csv.gz")
    assert not keep("PySide6/Qt/lib/libQt6EglFSDeviceIntegration.so.6")
    assert not keep("PySide6/Qt/lib/libQt6EglFsKmsSupport.so.6")
    # the desktop's own libraries come from the system (they become .deb Depends)
    system = namespace["SYSTEM_LIBS"]
    assert {"libstdc++.so.6", "libfontconfig.so.1", "libdbus-1.so.3"} <= set(system)
    assert "libpython3.11.so.1.0" not in system and "libQt6Core.so.6" not in system


def test_duplicate_libraries_become_relative_symlinks(tmp_path):
    build_bundle = _packaging_module("build_bundle")
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    (tmp_path / "numpy.libs").mkdir()
    (tmp_path / "scipy.libs").mkdir()
    blob = os.urandom(4096)
    (tmp_path / "numpy.libs" / "libgfortran-0400.so.5").write_bytes(blob)
    (tmp_path / "scipy.libs" / "libgfortran-0400.so.5").write_bytes(blob)
    (tmp_path / "scipy.libs" / "libquadmath-82.so.0").write_bytes(blob[:100])
    (tmp_path / "numpy.libs" / "libquadmath-82.so.0").write_bytes(blob[100:200])  # differs
    build_bundle.link_duplicate_libraries(tmp_path)
    copy = tmp_path / "scipy.libs" / "libgfortran-0400.so.5"
    assert copy.is_symlink() and os.readlink(copy) == "../numpy.libs/libgfortran-0400.so.5"
    assert copy.read_bytes() == blob
    assert not (tmp_path / "numpy.libs" / "libgfortran-0400.so.5").is_symlink()
    assert not any(p.is_symlink() for p in tmp_path.rglob("libquadmath*"))


def _venv_icu_data() -> Path:
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    for tool in ("readelf", "as", "ld"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} (binutils) not installed")
    import PySide6

    found = sorted((Path(PySide6.__file__).parent / "Qt" / "lib").glob("libicudata.so.*"))
    if not found:
        pytest.skip("this PySide6 wheel carries no ICU")
    return found[0]


def test_icu_package_rewrite_keeps_every_item_byte_for_byte():
    icu_trim = _packaging_module("icu_trim")
    _soname, _symbol, package = icu_trim.extract_package(_venv_icu_data())
    header, items = icu_trim.read_package(package)
    again = icu_trim.read_package(icu_trim.write_package(header, items))
    assert again[0] == header
    # (item data is padded to 16 bytes; ICU items carry their own lengths)
    assert [(n, d.rstrip(b"\0")) for n, d in again[1]] == [(n, d.rstrip(b"\0")) for n, d in items]
    assert len(items) > 1000 and any(n.endswith("coll/root.res") for n, _ in items)


_ICU_PROBE = r"""
import json, sys
from PySide6.QtCore import QCollator, QLocale, QStringDecoder
words = ["Äpfel", "apple", "Zebra", "zoo", "Ångström", "ørn", "ch", "cz", "İstanbul", "ı",
         "école", "file10", "file2", "中文", "日本", "한국", "ß", "ss", "Ç"]
out = {}
for name in ["en_US", "de_DE", "sv_SE", "cs_CZ", "tr_TR", "zh_CN", "ja_JP", "da_DK", "fr_FR"]:
    collator = QCollator(QLocale(name))
    collator.setNumericMode(True)
    out["sort " + name] = sorted(words, key=collator.sortKey)
    out["upper " + name] = QLocale(name).toUpper("istanbul ıi ß")
for codec in ["windows-1252", "ISO-8859-2", "KOI8-R", "Shift_JIS"]:
    out["codec " + codec] = QStringDecoder(codec).isValid()
out["icu"] = sorted({l.split()[-1] for l in open("/proc/self/maps") if "libicudata" in l})
json.dump(out, sys.stdout)
"""


def _icu_probe(library_dir: Path) -> dict:
    env = dict(os.environ, LD_LIBRARY_PATH=str(library_dir), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", _ICU_PROBE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_trimmed_icu_sorts_and_maps_case_exactly_like_the_full_data(tmp_path):
    icu_trim = _packaging_module("icu_trim")
    original = _venv_icu_data()
    trimmed_dir = tmp_path / "trimmed"
    trimmed_dir.mkdir()
    before, after = icu_trim.trim_library(original, trimmed_dir / original.name)
    assert after < before / 4  # 32 MB -> about 6 MB
    full = _icu_probe(original.parent)
    trimmed = _icu_probe(trimmed_dir)
    assert trimmed["icu"] == [str(trimmed_dir / original.name)]  # the probe used the trimmed one
    for key in full:
        if key.startswith(("sort ", "upper ")):
            assert trimmed[key] == full[key], key
    assert full["sort de_DE"] != full["sort sv_SE"]  # locale tailorings really are in play
    # single-byte legacy code pages stay; the multi-byte (CJK) tables are what is dropped
    for codec in ("windows-1252", "ISO-8859-2", "KOI8-R"):
        assert trimmed[f"codec {codec}"] and full[f"codec {codec}"]
    assert full["codec Shift_JIS"] and not trimmed["codec Shift_JIS"]


def test_qt_calls_only_the_icu_functions_whose_data_the_trim_keeps():
    icu_trim = _packaging_module("icu_trim")
    qt_libs = _venv_icu_data().parent
    libraries = [p for p in qt_libs.glob("libQt6*.so.6") if not p.is_symlink()]
    used = icu_trim.imported_icu_functions(libraries)
    assert any(name.startswith("ucol_open") for name in used)  # QCollator
    assert sorted(n for n in used if not icu_trim.ALLOWED_ICU_FUNCTIONS.match(n)) == []


def test_smoke_inputs_are_what_they_claim(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    smoke = _packaging_module("smoke_frozen")
    from qbi_desktop.core.idx import read_idx

    smoke.tiny_mnist(tmp_path / "mnist")
    train = read_idx(tmp_path / "mnist" / "train-images-idx3-ubyte.gz")
    labels = read_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz")
    test = read_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte")
    assert train.shape == (40, 28, 28) and test.shape == (12, 28, 28)
    assert sorted(set(labels.tolist())) == [0, 1, 2, 3]
    smoke.deflate_tiff(tmp_path / "d.tif")
    with tifffile.TiffFile(tmp_path / "d.tif") as tif:
        page = tif.pages[0]
        assert page.compression == 8 and page.predictor == 2  # Deflate, horizontal differencing
        image = page.asarray()
    assert image.dtype.name == "uint16" and image.shape == (64, 96)
    assert int((image == 60000).sum()) == 5
    assert image[0, 0] == 1000 and image[1, 2] == 1000 + 3 * 2 + 2
    # The NeXus scan: what beamlines write (a frame per chunk, gzip after the byte shuffle,
    # NXdata signal), 5 bright pixels in frame 0 and 1 in frame 1.
    h5py = pytest.importorskip("h5py")
    with h5py.File(smoke.NEXUS_SCAN, "r") as f:
        assert f.attrs["default"] == "entry" and f["entry/data"].attrs["signal"] == "data"
        data = f["entry/data/data"]
        assert data.shape == (3, 64, 96) and data.dtype == "uint16"
        assert data.chunks == (1, 64, 96) and data.compression == "gzip" and data.shuffle
        frames = data[()]
    assert [int((f == 60000).sum()) for f in frames] == [5, 1, 0]


def test_strip_keeps_grafted_libraries_that_stripping_would_break(tmp_path):
    """auditwheel's grafted libraries (``*.libs``) are stripped only where the stripped copy
    still loads: numpy's OpenBLAS (rewritten by patchelf) stays as it is and loads, a library
    that strips cleanly gets smaller and still loads."""
    if not sys.platform.startswith("linux") or shutil.which("strip") is None:
        pytest.skip("strip (binutils) on Linux only")
    import numpy

    build = _packaging_module("build_bundle")
    site = Path(numpy.__file__).parents[1]
    blas = sorted((site / "numpy.libs").glob("libscipy_openblas*.so"))
    clean = (
        sorted((site / "h5py.libs").glob("libaec-*.so*")) if (site / "h5py.libs").is_dir() else []
    )
    if not blas or not clean:
        pytest.skip("needs numpy's and h5py's manylinux wheels")
    bundle = tmp_path / "bundle"
    libs = bundle / "_internal" / "some.libs"
    libs.mkdir(parents=True)
    for library in [*(site / "numpy.libs").iterdir(), clean[0]]:  # OpenBLAS needs its siblings
        shutil.copy2(library, libs / library.name)
    sizes = {p.name: p.stat().st_size for p in libs.iterdir()}
    build.strip_debug_symbols(bundle)
    assert (libs / blas[0].name).read_bytes() == blas[0].read_bytes()
    assert (libs / clean[0].name).stat().st_size < sizes[clean[0].name]
    assert sorted(p.name for p in libs.iterdir()) == sorted(sizes)  # no copy left behind
    for library in libs.iterdir():
        code = "import ctypes, sys; ctypes.CDLL(sys.argv[1])"
        assert subprocess.run([sys.executable, "-c", code, str(library)]).returncode == 0


def test_qtopengl_placeholder_lets_pyqtgraph_and_the_viewer_run_without_it(tmp_path):
    """The bundle leaves PySide6.QtOpenGL out; the runtime hook's placeholder must let
    pyqtgraph import and the viewer's canvas draw an image, as in the installed app."""
    hook = PACKAGING / "rthook_no_qtopengl.py"
    script = f"""
import sys
exec(compile(open({str(hook)!r}).read(), "rthook", "exec"))
placeholder = sys.modules["PySide6.QtOpenGL"]
assert type(placeholder).__name__ == "_LeftOut", type(placeholder)
import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QApplication
app = QApplication([])
from qbi_desktop.core.planes import Plane
from qbi_desktop.gui.canvas import ImageCanvas
canvas = ImageCanvas()
canvas.resize(200, 200)
canvas.set_levels(0, 255)
canvas.set_plane(Plane(np.tile(np.arange(256, dtype=np.uint16), (64, 1))))
shot = canvas.grab().toImage()
greys = {{shot.pixelColor(x, 100).red() for x in range(20, 180, 10)}}
assert len(greys) > 5, greys  # the ramp is drawn
try:
    placeholder.QOpenGLTexture
except AttributeError as exc:
    assert "not part of this installation" in str(exc)
else:
    raise SystemExit("no AttributeError")
print("OK")
"""
    # PySide6 as the bundle has it: every file but the QtOpenGL binding
    import PySide6

    real = Path(PySide6.__file__).parent
    shadow = tmp_path / "PySide6"
    shadow.mkdir()
    for entry in real.iterdir():
        if not entry.name.startswith("QtOpenGL."):
            (shadow / entry.name).symlink_to(entry)
    path = os.pathsep.join([str(tmp_path), str(REPO), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=path)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-2000:]


def test_built_bundle_and_deb_fit_the_size_budget():
    bundle = REPO / "dist" / "qbi-desktop"
    if not (bundle / "_internal").is_dir():
        pytest.skip("no bundle built (bash packaging/build_linux.sh)")
    size = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file() and not f.is_symlink())
    assert size <= 250e6, f"unpacked bundle {size / 1e6:.1f} MB > 250 MB"
    for deb in (REPO / "dist").glob("qbi-desktop_*.deb"):
        assert deb.stat().st_size <= 120e6, f"{deb.name} {deb.stat().st_size / 1e6:.1f} MB"


# --- the .deb's Depends ----------------------------------------------------------------------


def _library(path: Path, needed: list[Path], soname: str | None = None) -> None:
    """A tiny ELF shared library at ``path`` that links ``needed`` (DT_NEEDED entries)."""
    obj = path.with_suffix(".o")
    subprocess.run(["as", "-o", str(obj), "/dev/null"], check=True)
    args = ["ld", "-shared", "-o", str(path), str(obj), *map(str, needed)]
    if soname:
        args[2:2] = ["-soname", soname]
    subprocess.run(args, check=True, capture_output=True)
    obj.unlink()


def _depends(bundle: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(PACKAGING / "linux" / "depends.sh"), str(bundle)],
        capture_output=True,
        text=True,
    )


def _need_deb_tools() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    for tool in ("readelf", "as", "ld", "dpkg", "ldconfig"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")


def test_depends_name_the_wayland_cursor_library_even_where_it_is_not_installed(tmp_path):
    """The Qt Wayland plugin links libwayland-cursor.so.0; a build machine without it left
    the package out of Depends (with only a warning), so the installed app could not start
    its Wayland platform on a bare Debian."""
    _need_deb_tools()
    stubs, bundle = tmp_path / "stubs", tmp_path / "bundle"
    stubs.mkdir()
    bundle.mkdir()
    linked = []
    for soname in ("libwayland-cursor.so.0", "libwayland-client.so.0"):
        _library(stubs / soname, [], soname=soname)
        linked.append(stubs / soname)
    _library(bundle / "libqwayland.so", linked)  # the stubs are not in the bundle
    result = _depends(bundle)
    assert result.returncode == 0, result.stderr
    packages = set(result.stdout.strip().split(", "))
    assert {"libwayland-cursor0", "libwayland-client0"} <= packages
    # what Qt's X11 plugin opens at run time is there too
    assert {"libegl1", "libgl1", "libxcb-cursor0", "libxkbcommon-x11-0"} <= packages


def test_depends_refuse_a_linked_library_of_no_known_package(tmp_path):
    _need_deb_tools()
    stubs, bundle = tmp_path / "stubs", tmp_path / "bundle"
    stubs.mkdir()
    bundle.mkdir()
    _library(stubs / "libqbi-nowhere.so.7", [], soname="libqbi-nowhere.so.7")
    _library(bundle / "plugin.so", [stubs / "libqbi-nowhere.so.7"])
    result = _depends(bundle)
    assert result.returncode != 0
    assert "libqbi-nowhere.so.7" in result.stderr and "depends.sh" in result.stderr


def test_depends_of_the_built_bundle_cover_every_library_it_links_but_does_not_ship():
    _need_deb_tools()
    bundle = REPO / "dist" / "qbi-desktop"
    if not (bundle / "qbi-desktop").is_file():
        pytest.skip("no bundle built (bash packaging/build_linux.sh)")
    result = _depends(bundle)
    assert result.returncode == 0, result.stderr
    packages = set(result.stdout.strip().split(", "))
    wayland = bundle / "_internal" / "PySide6" / "Qt" / "plugins" / "platforms" / "libqwayland.so"
    if wayland.exists():
        assert "libwayland-cursor0" in packages
    assert {"libc6", "libstdc++6", "libfontconfig1", "libx11-6"} <= packages
