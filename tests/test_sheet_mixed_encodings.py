"""A sheet that is not UTF-8 is read as Windows-1252 (Excel's CSV on Windows) only when that is
the one encoding of the whole file: a file mixing valid UTF-8 text with Windows-1252 bytes (a
UTF-8 sheet edited in a Windows-1252 program) is refused, naming the first byte that is not
UTF-8 and its line. It was read whole as Windows-1252: the UTF-8 "café" became "cafÃ©", a
class of its own, with only a note."""

from __future__ import annotations

import pytest
from formats_roundtrip_helpers import image_of, new_project, save_image

from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def _sheet(tmp_path, data: bytes):
    for k, name in enumerate(("a", "b")):
        save_image(tmp_path / "sh" / f"{name}.png", image_of(k))
    (tmp_path / "sh" / "s.csv").write_bytes(data)
    return tmp_path / "sh" / "s.csv"


def test_utf8_and_windows_1252_in_one_file_are_refused(tmp_path):
    path = _sheet(tmp_path, b"image,thick,label\na.png,1,caf\xc3\xa9\nb.png,2,caf\xe9\n")
    p = new_project(tmp_path)
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(p, "sheet", [path]))
    message = str(caught.value)
    assert "mixes two encodings" in message
    assert "line 3, byte 43 (b'\\xe9')" in message and "line 2 holds UTF-8" in message
    assert p.ids() == []


def test_a_whole_windows_1252_file_is_still_read_with_a_note_naming_the_line(tmp_path):
    path = _sheet(tmp_path, b"image,thick,label\na.png,1,caf\xe9\nb.png,2,caf\xe9\n")
    p = new_project(tmp_path)
    report = run_job(import_job(p, "sheet", [path]))
    assert C.class_list(p) == ["café"]
    assert any("Windows-1252" in w and "line 2" in w for w in report.warnings)


def test_utf8_is_read_as_it_is(tmp_path):
    path = _sheet(tmp_path, "image,thick,label\na.png,1,café\nb.png,2,café\n".encode())
    p = new_project(tmp_path)
    run_job(import_job(p, "sheet", [path]))
    assert C.class_list(p) == ["café"]
