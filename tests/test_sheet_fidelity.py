"""Sheets as labs save them: encodings, separators and decimal marks of Excel's CSV variants,
XLSX formulas without a saved value, and XLSX export that keeps every digit (read by pandas)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.core.catalog import ImportRejected, open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

DATA = Path(__file__).parent / "data" / "sheets"


def _images(folder: Path, count: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        pixels = np.random.default_rng(k).integers(0, 255, (8, 9), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"im{k}.png")
    return folder


def _targets(project) -> dict[str, dict[str, float]]:
    return {row["name"]: row["targets"] for row in project.query(limit=None)}


def _labels(project) -> dict[str, str | None]:
    return {row["name"]: row["label"] for row in project.query(limit=None)}


def _sheet(tmp_path: Path, name: str, data: bytes) -> Path:
    folder = _images(tmp_path / "src")
    (folder / name).write_bytes(data)
    return folder / name


@pytest.mark.parametrize(
    "name", ["excel_de_windows1252.csv", "excel_de_utf8_bom.csv"], ids=["cp1252", "utf8-bom"]
)
def test_german_excel_csv_imports_names_and_decimal_comma_numbers_exactly(tmp_path, name):
    sheet = _sheet(tmp_path, name, (DATA / name).read_bytes())
    project = open_project(tmp_path / "p", create=True)
    report = run_job(import_job(project, "sheet", [sheet]))
    assert report.added == 3
    assert _targets(project) == {
        "im0.png": {"Durchmesser µm": 1.5, "Maße": 10.0},
        "im1.png": {"Durchmesser µm": 2.25},
        "im2.png": {"Durchmesser µm": -3.125, "Maße": 1234.5},
    }
    assert _labels(project) == {
        "im0.png": "Kügelchen",
        "im1.png": "Kügelchen",
        "im2.png": "Stäbchen",
    }
    notes = "\n".join(report.warnings)
    assert "semicolon" in notes and "decimal comma" in notes
    assert ("Windows-1252" in notes) == (name == "excel_de_windows1252.csv")


def test_excel_unicode_text_utf16_tab_separated(tmp_path):
    name = "excel_unicode_text_utf16.csv"
    sheet = _sheet(tmp_path, name, (DATA / name).read_bytes())
    project = open_project(tmp_path / "p", create=True)
    run_job(import_job(project, "sheet", [sheet]))
    assert _targets(project) == {
        "im0.png": {"Größe": 0.5, "mass": 0.001},
        "im1.png": {"Größe": 2.0},
    }


def test_sheet_neither_utf8_nor_windows1252_is_refused_naming_the_byte_and_the_option(tmp_path):
    # 0x81 is undefined in Windows-1252 and not valid UTF-8 on its own
    sheet = _sheet(tmp_path, "t.csv", b"image,x\nim0.png,1\nim\x81.png,2\n")
    project = open_project(tmp_path / "p", create=True)
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(project, "sheet", [sheet]))
    text = str(caught.value)
    assert str(sheet) in text and "byte 20" in text and "--encoding" in text
    assert len(project) == 0
    # told the encoding (Latin-1 holds every byte), the sheet names a file that is not there
    with pytest.raises(ImportRejected, match="not found"):
        run_job(import_job(project, "sheet", [sheet], encoding="latin-1"))


def test_separator_that_cannot_be_told_is_refused_then_taken_when_given(tmp_path):
    # "a,b" could be two columns of a comma sheet or one column of a semicolon sheet
    sheet = _sheet(tmp_path, "t.csv", b"image;a,b\nim0.png;1,25\n")
    project = open_project(tmp_path / "p", create=True)
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(project, "sheet", [sheet]))
    assert "comma and semicolon" in str(caught.value) and "--separator" in str(caught.value)
    assert len(project) == 0
    run_job(import_job(project, "sheet", [sheet], separator=";"))
    assert _targets(project) == {"im0.png": {"a,b": 1.25}}


def test_commas_in_the_header_of_a_semicolon_sheet_do_not_make_it_ambiguous(tmp_path):
    # German Excel: units after a comma in the header, decimal commas, every row full width
    text = "Bild;Durchmesser, µm;Masse, g\r\nim0.png;1,5;\r\nim1.png;2;3,25\r\n"
    sheet = _sheet(tmp_path, "t.csv", text.encode("cp1252"))
    project = open_project(tmp_path / "p", create=True)
    run_job(import_job(project, "sheet", [sheet]))
    assert _targets(project) == {
        "im0.png": {"Durchmesser, µm": 1.5},
        "im1.png": {"Durchmesser, µm": 2.0, "Masse, g": 3.25},
    }


def test_mixed_decimal_marks_are_refused_naming_both_cells(tmp_path):
    sheet = _sheet(tmp_path, "t.csv", b"image;x;y\nim0.png;1,5;2\nim1.png;3;2.5\n")
    project = open_project(tmp_path / "p", create=True)
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(project, "sheet", [sheet]))
    text = str(caught.value)
    assert "row 2, column 'x': 1,5" in text and "row 3, column 'y': 2.5" in text
    assert "--decimal" in text and len(project) == 0
    # Said to be a decimal comma, "2.5" is no number of that sheet (German 2.5 is not 2,5)
    with pytest.raises(ImportRejected, match=r"row 3: column 'y': '2.5' is not a number"):
        run_job(import_job(project, "sheet", [sheet], decimal=","))


def test_decimal_comma_in_a_comma_separated_row_is_a_row_problem_not_a_shifted_value(tmp_path):
    sheet = _sheet(tmp_path, "t.csv", b"image,x\nim0.png,1,5\nim1.png,2\n")
    project = open_project(tmp_path / "p", create=True)
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(project, "sheet", [sheet]))
    [problem] = caught.value.problems
    assert problem.row == 2 and "3 cells but the header names 2" in problem.reason
    assert "--decimal" in problem.reason
    assert len(project) == 0


def test_numbers_python_would_take_but_a_sheet_does_not_mean_are_refused(tmp_path):
    sheet = _sheet(tmp_path, "t.csv", b"image,x\nim0.png,1_000\nim1.png,nan\nim2.png,1e3\n")
    project = open_project(tmp_path / "p", create=True)
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(project, "sheet", [sheet]))
    assert {p.row for p in caught.value.problems} == {2, 3}


def _cli(*args: str) -> subprocess.CompletedProcess:
    # the installed entry point, in a process of its own: exit code and stderr as a user sees
    code = "import sys; from qbi_desktop.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


def test_cli_separator_and_decimal_flags(tmp_path):
    sheet = _sheet(tmp_path, "t.csv", b"image;a,b\nim0.png;1,25\n")
    refused = _cli("import", "--project", str(tmp_path / "p"), "--kind", "sheet", str(sheet))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--separator" in refused.stderr
    assert not (tmp_path / "p").exists()
    done = _cli(
        "import", "--project", str(tmp_path / "p"), "--kind", "sheet", "--separator", ";",
        "--decimal", ",", str(sheet),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with open_project(tmp_path / "p") as project:
        assert _targets(project) == {"im0.png": {"a,b": 1.25}}


def test_import_dialog_passes_the_sheet_fields(qtbot):
    from qbi_desktop.gui.docks.browser_dialogs import ImportDialog

    dialog = ImportDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    fields = dialog.sheet_fields
    assert not fields["separator"].isVisible()  # the first kind is not a sheet
    dialog.kind.setCurrentIndex(dialog.kind.findData("sheet"))
    assert fields["separator"].isVisible() and fields["decimal"].isVisible()
    assert dialog.values()[2].keys() == {"annotator"}  # detect: nothing passed
    fields["separator"].setCurrentIndex(fields["separator"].findData(";"))
    fields["decimal"].setCurrentIndex(fields["decimal"].findData(","))
    fields["encoding"].setCurrentIndex(fields["encoding"].findData("windows-1252"))
    kind, _sources, options = dialog.values()
    assert kind == "sheet"
    assert options["separator"] == ";" and options["decimal"] == ","
    assert options["encoding"] == "windows-1252"


# -- XLSX ----------------------------------------------------------------------------------


def _formula_book(path: Path) -> Path:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["image", "x", "y"])
    sheet.append(["im0.png", 2, "=B2*2"])
    sheet.append(["im1.png", 3, "=B3*2"])
    book.save(path)
    return path


def test_xlsx_formula_without_saved_value_is_refused_naming_the_cell(tmp_path):
    # openpyxl (and pandas' to_excel with formulas) write formulas without a computed value
    sheet = _formula_book(_images(tmp_path / "src") / "t.xlsx")
    project = open_project(tmp_path / "p", create=True)
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(project, "sheet", [sheet]))
    cells = sorted(re.search(r"cell (\w+)", p.reason).group(1) for p in caught.value.problems)
    assert cells == ["C2", "C3"]
    assert "=B2*2" in str(caught.value) and "no saved value" in str(caught.value)
    assert len(project) == 0


def test_xlsx_formula_with_the_value_a_spreadsheet_saved_imports_that_value(tmp_path):
    sheet = _formula_book(_images(tmp_path / "src") / "t.xlsx")
    # what Excel/LibreOffice write on save: the formula and its computed value beside it
    with zipfile.ZipFile(sheet) as source:
        parts = {i.filename: source.read(i) for i in source.infolist()}
    xml = parts["xl/worksheets/sheet1.xml"]
    xml = xml.replace(b"<f>B2*2</f>", b"<f>B2*2</f><v>4</v>")
    xml = xml.replace(b"<f>B3*2</f>", b"<f>B3*2</f><v>6</v>")
    parts["xl/worksheets/sheet1.xml"] = xml
    with zipfile.ZipFile(sheet, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    project = open_project(tmp_path / "p", create=True)
    run_job(import_job(project, "sheet", [sheet]))
    assert _targets(project) == {"im0.png": {"x": 2.0, "y": 4.0}, "im1.png": {"x": 3.0, "y": 6.0}}


def test_xlsx_export_keeps_every_digit_for_pandas_and_our_import(tmp_path):
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("openpyxl")
    values = [0.1 + 0.2, 123456789.12345678, 2**0.5 * 1e-300]
    lines = ["image,v"] + [f"im{k}.png,{v!r}" for k, v in enumerate(values)]
    sheet = _sheet(tmp_path, "t.csv", ("\n".join(lines) + "\n").encode())
    project = open_project(tmp_path / "p", create=True)
    run_job(import_job(project, "sheet", [sheet]))
    run_job(export_job(project, "sheet", tmp_path / "out", xlsx=True))
    frame = pandas.read_excel(tmp_path / "out" / "targets.xlsx")
    read = dict(zip(frame["image"].map(lambda p: Path(p).name), frame["v"], strict=True))
    assert read == {f"im{k}.png": v for k, v in enumerate(values)}  # exact, not 0.3
    again = open_project(tmp_path / "q", create=True)
    run_job(import_job(again, "sheet", [tmp_path / "out" / "targets.xlsx"]))
    assert _targets(again) == _targets(project)


def test_csv_export_of_imported_german_sheet_reads_back_in_pandas(tmp_path):
    pandas = pytest.importorskip("pandas")
    name = "excel_de_windows1252.csv"
    sheet = _sheet(tmp_path, name, (DATA / name).read_bytes())
    project = open_project(tmp_path / "p", create=True)
    run_job(import_job(project, "sheet", [sheet]))
    run_job(export_job(project, "sheet", tmp_path / "out"))
    frame = pandas.read_csv(tmp_path / "out" / "targets.csv")
    assert list(frame["Maße"].fillna(-1)) == [10.0, -1, 1234.5]
    assert list(frame["label"]) == ["Kügelchen", "Kügelchen", "Stäbchen"]
    shutil.rmtree(tmp_path / "src")  # the export is self-contained
    again = open_project(tmp_path / "q", create=True)
    run_job(import_job(again, "sheet", [tmp_path / "out" / "targets.csv"]))
    assert _targets(again) == _targets(project)
