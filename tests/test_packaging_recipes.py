"""The installer recipes are consistent: the PyInstaller spec, the Inno Setup script, the
GitHub workflow, the Debian control template and maintainer scripts, the shell scripts.

Static checks (they run everywhere); the built .deb is checked too when dist/ has one."""

from __future__ import annotations

import ast
import configparser
import re
import shutil
import subprocess
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
