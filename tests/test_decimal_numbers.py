"""Numbers in label files, sheets and typed target values are plain ASCII decimals: Python's
float() also reads "0.5_0" (as 0.5), "1_0" (as 10), Arabic-Indic and full-width digits, which
no file of these formats means. Each is refused naming the file and the line, or the value."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from qbi_desktop.cli import main
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.decimal_text import decimal_number
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.formats.sheetfile import parse_number
from qbi_desktop.core.jobs import run_job

ODD = ["0.5_0", "1_000", "٠.٥", "０.5", "0x1p-1", "1e", ".", "+-1", "1..2"]


@pytest.mark.parametrize("text", ODD)
def test_only_plain_decimals_are_numbers(text):
    with pytest.raises(ValueError, match="not a number"):
        decimal_number(text)
    with pytest.raises(ValueError):
        parse_number(text)


def test_plain_decimals_read_as_before():
    for text, value in (("0.5", 0.5), ("-3", -3.0), (".25", 0.25), ("1e-3", 1e-3), ("7.", 7.0)):
        assert decimal_number(text) == value == parse_number(text)
    for text in ("nan", "inf", "-Infinity", "1e999"):
        with pytest.raises(ValueError, match="not a finite number"):
            decimal_number(text)


@pytest.mark.parametrize(
    ("line", "column"),
    [("0 0.5_0 0.5 0.2 0.2", 2), ("0 ٠.5 0.5 0.2 0.2", 2), ("０ 0.5 0.5 0.2 0.2", 1)],
)
def test_a_yolo_label_line_with_such_a_number_is_refused_naming_it(tmp_path, capsys, line, column):
    data = tmp_path / "yolo"
    data.mkdir()
    tifffile.imwrite(data / "x.tif", np.zeros((20, 40), np.uint16))
    (data / "x.txt").write_text(line + "\n1 0.5 0.5 0.2 0.2\n", encoding="utf-8")
    (data / "classes.txt").write_text("a\nb\n")
    argv = ["import", "--project", str(tmp_path / "p"), "--kind", "yolo", str(data)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "x.txt" in err and f"line 1: column {column} is" in err and "not a number" in err


def test_a_typed_target_value_with_a_digit_separator_is_refused(tmp_path, capsys):
    images = tmp_path / "images" / "a"
    images.mkdir(parents=True)
    tifffile.imwrite(images / "i0.tif", np.zeros((8, 8), np.uint8))
    root = tmp_path / "p"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [tmp_path / "images"]))
    argv = ["target", "--project", str(root), "--name", "count"]
    assert main([*argv, "--define"]) == 0
    capsys.readouterr()
    assert main([*argv, "--ids", "1", "--value", "1_0"]) == 2
    assert "'1_0' is not a number" in capsys.readouterr().err
    assert main([*argv, "--ids", "1", "--value", "3,5"]) == 0  # a decimal comma still reads
    with open_project(root) as project:
        assert project.targets(1) == {"count": 3.5}
