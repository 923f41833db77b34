"""Metadata inside a TIFF (OME-XML, an ImageJ description, tifffile's shaped JSON) is a claim:
a ~1 KB file may claim 10^8 planes or 99999 x 99999 pixels. Opening it (open_image / read_image,
what the viewer and every command use) must cost memory and time in proportion to the file,
not to the claim, and a file whose pixels are fine still opens, as its real pages, with a note.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.errors import ImageReadError
from qbi_desktop.core.imageheader import read_tiff_checked
from qbi_desktop.core.io import open_image

OME_NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
#: peak resident memory of a subprocess that opens one small file (Python + numpy + tifffile
#: take ~60 MB; before the fix a 992-byte file cost 2.4 GB)
PEAK_LIMIT_MB = 300


def _ome(
    size_x: int = 16,
    size_y: int = 16,
    z: int = 1,
    c: int = 1,
    t: int = 1,
    tiffdata: str = '<TiffData IFD="0" PlaneCount="1"/>',
    extra: str = "",
    head: str = '<?xml version="1.0"?>',
) -> str:
    return (
        f'{head}<OME xmlns="{OME_NS}">{extra}<Image ID="Image:0"><Pixels ID="Pixels:0" '
        f'SizeX="{size_x}" SizeY="{size_y}" SizeZ="{z}" SizeC="{c}" SizeT="{t}" '
        f'DimensionOrder="XYZCT" Type="uint16">{tiffdata}</Pixels></Image></OME>'
    )


def _pixels() -> np.ndarray:
    return (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 7) + 3


def _write(path: Path, description: str, data: np.ndarray | None = None) -> Path:
    tifffile.imwrite(
        path, _pixels() if data is None else data, description=description, metadata=None
    )
    return path


def _peak_mb(path: Path, how: str = "read_image") -> tuple[float, dict]:
    """Open ``path`` in a fresh interpreter; its peak resident memory (MB) and what it saw."""
    code = f"""
import json, resource, sys
from pathlib import Path
from qbi_desktop.core.errors import ImageReadError
from qbi_desktop.core.imageheader import read_tiff_checked
from qbi_desktop.core.io import open_image, read_image
out = {{}}
try:
    if {how!r} == "read_tiff_checked":
        out["shape"] = list(read_tiff_checked(Path(sys.argv[1]), key=None).shape)
    elif {how!r} == "load_mask":
        from qbi_desktop.core.maskio import load_mask
        mask = load_mask(Path(sys.argv[1]), (16, 16))
        out.update(shape=list(mask.shape), sum=int(mask.sum()))
    else:
        source = open_image(sys.argv[1])
        out.update(n=source.n_slices, note=source.metadata.get("metadata_ignored", ""))
        source.close()
        image = read_image(sys.argv[1])
        out.update(shape=list(image.shape), sum=int(image.sum()))
except ImageReadError as exc:
    out["error"] = str(exc)
# VmHWM: the peak of this process's own memory since exec (ru_maxrss also counts what
# the parent -- pytest -- held when it forked us)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
out["peak_mb"] = (
    int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
) / 1024
print(json.dumps(out))
"""
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["peak_mb"], out


HOSTILE_OME = {
    # the campaign's file: a 16 x 16 plane whose OME-XML claims 10^8 time points
    "planes": _ome(t=100_000_000, tiffdata='<TiffData IFD="0" PlaneCount="100000000"/>'),
    # sizes no page has: tifffile sized its page list by SizeX * SizeY * ... / page size
    "sizes": _ome(99999, 99999, 999, 9, 999, '<TiffData IFD="0" PlaneCount="99999999"/>'),
    # the right plane count, but a plane of 99999 x 99999 pixels
    "plane size": _ome(99999, 99999),
    # no plane count: "all pages", but SizeT claims 10^8
    "no count": _ome(t=100_000_000, tiffdata="<TiffData/>"),
    # a modulo annotation of 10^10 labels (tifffile makes an arange of them)
    "modulo": _ome(
        extra='<StructuredAnnotations><XMLAnnotation ID="Annotation:0" '
        'Namespace="openmicroscopy.org/omero/dimension/modulo"><Value><Modulo '
        'namespace="http://www.openmicroscopy.org/Schemas/Additions/2011-09">'
        '<ModuloAlongT Type="lifetime" Start="0" End="10000000000" Step="1"/>'
        "</Modulo></Value></XMLAnnotation></StructuredAnnotations>"
    ),
    # planes said to be in another file (a multi-file OME-TIFF): only this file is read
}


def test_ome_planes_in_another_file_are_not_read(tmp_path):
    # a multi-file OME-TIFF: tifffile would open elsewhere.ome.tif beside it (and our reader
    # would memory-map its offsets in this file); only the file the user opened is read
    (tmp_path / "elsewhere.ome.tif").write_bytes(b"not this one")
    description = _ome(
        t=2,
        tiffdata='<TiffData IFD="0" PlaneCount="1"/><TiffData FirstT="1" IFD="1" '
        'PlaneCount="1"><UUID FileName="elsewhere.ome.tif">urn:uuid:1</UUID></TiffData>',
    )
    source = open_image(_pages(tmp_path / "first.ome.tif", 2, description))
    try:
        assert source.n_slices == 2
        assert "other files" in source.metadata["metadata_ignored"]
        np.testing.assert_array_equal(np.asarray(source.plane(1).array), _pixels() + 1)
    finally:
        source.close()


@pytest.mark.parametrize("case", sorted(HOSTILE_OME))
def test_hostile_ome_opens_as_its_real_page_with_a_note(tmp_path, case):
    path = _write(tmp_path / "bomb.ome.tif", HOSTILE_OME[case])
    assert path.stat().st_size < 4000
    t0 = time.perf_counter()
    source = open_image(path)
    try:
        assert time.perf_counter() - t0 < 5
        assert source.n_slices == 1
        assert source.slice_shape == (16, 16)
        assert "OME-XML ignored" in source.metadata["metadata_ignored"]
        np.testing.assert_array_equal(np.asarray(source.plane(0).array), _pixels())
    finally:
        source.close()


@pytest.mark.parametrize("case", ["planes", "sizes", "no count"])
def test_hostile_ome_costs_no_memory_in_proportion_to_its_claim(tmp_path, case):
    path = _write(tmp_path / "bomb.tif", HOSTILE_OME[case])
    peak, out = _peak_mb(path)
    assert "error" not in out, out
    assert out["n"] == 1 and out["shape"] == [16, 16]
    assert out["sum"] == int(_pixels().sum())
    assert peak < PEAK_LIMIT_MB, f"peak {peak:.0f} MB"


def test_whole_series_reader_is_bounded_too(tmp_path):
    path = _write(tmp_path / "bomb.tif", HOSTILE_OME["planes"])
    peak, out = _peak_mb(path, "read_tiff_checked")
    assert out.get("shape") in ([16, 16], [1, 16, 16]), out
    assert peak < PEAK_LIMIT_MB, f"peak {peak:.0f} MB"
    np.testing.assert_array_equal(np.squeeze(read_tiff_checked(path, key=None)), _pixels())


def test_a_mask_file_is_read_as_its_pages_too(tmp_path):
    """The mask reader (a mask painted elsewhere, or a project's) builds the same series."""
    labels = np.zeros((16, 16), np.uint8)
    labels[4:8, 5:9] = 2
    path = _write(tmp_path / "bomb_mask.tif", HOSTILE_OME["planes"], labels)
    peak, out = _peak_mb(path, "load_mask")
    assert "error" not in out, out
    assert out["shape"] == [16, 16] and out["sum"] == int(labels.sum())
    assert peak < PEAK_LIMIT_MB, f"peak {peak:.0f} MB"


def test_ome_with_entities_is_not_expanded(tmp_path):
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE OME [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    )
    path = _write(tmp_path / "laughs.tif", _ome(head=laughs))
    source = open_image(path)
    try:
        assert source.slice_shape == (16, 16)
        assert "document type" in source.metadata["metadata_ignored"]
    finally:
        source.close()


def _pages(path: Path, n: int, description: str, **options) -> Path:
    """``n`` separate 16 x 16 pages (not one contiguous block), the first described."""
    with tifffile.TiffWriter(path) as tif:
        for i in range(n):
            tif.write(
                _pixels() + i,
                description=description if i == 0 else None,
                metadata=None,
                contiguous=False,
                **options,
            )
    return path


def test_imagej_description_claiming_a_million_images(tmp_path):
    # three real (compressed) pages; the description claims 10^6 slices: tifffile gives the
    # three pages that shape and our reader once filled the other 999 997 planes with zeros
    description = "ImageJ=1.11a\nimages=1000000\nslices=1000000\n"
    path = _pages(tmp_path / "ij.tif", 3, description, compression="zlib")
    peak, out = _peak_mb(path)
    assert "error" not in out, out
    assert out["n"] == 3
    assert "ImageJ metadata ignored" in out["note"]
    assert peak < PEAK_LIMIT_MB, f"peak {peak:.0f} MB"


def test_shaped_description_claiming_more_than_the_pages(tmp_path):
    path = _pages(tmp_path / "shaped.tif", 3, json.dumps({"shape": [100_000_000, 16, 16]}))
    peak, out = _peak_mb(path)
    assert "error" not in out, out
    assert out["n"] == 3
    assert peak < PEAK_LIMIT_MB, f"peak {peak:.0f} MB"


def test_ome_tiffdata_listing_a_page_again_and_again(tmp_path):
    # 20 000 TiffData elements each claiming all pages: a loop of 20 000 x pages in tifffile
    many = '<TiffData IFD="0" PlaneCount="3"/>' * 20_000
    path = _pages(tmp_path / "list.tif", 3, _ome(t=3, tiffdata=many))
    t0 = time.perf_counter()
    source = open_image(path)
    try:
        assert time.perf_counter() - t0 < 5
        assert source.n_slices == 3
        assert "OME-XML ignored" in source.metadata["metadata_ignored"]
    finally:
        source.close()


# -- files whose metadata is right keep their axes and open without a note


def test_real_ome_hyperstack_keeps_its_axes(tmp_path):
    data = np.arange(3 * 2 * 16 * 16, dtype=np.uint16).reshape(3, 2, 16, 16)
    path = tmp_path / "good.ome.tif"
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "TZYX"})
    source = open_image(path)
    try:
        assert source.n_slices == 6
        assert source.stack_shape == (3, 2)
        assert source.axes.endswith("TZYX")
        assert "metadata_ignored" not in source.metadata
        np.testing.assert_array_equal(np.asarray(source.plane(5).array), data[2, 1])
    finally:
        source.close()


def test_real_imagej_hyperstack_keeps_its_axes(tmp_path):
    data = np.arange(2 * 3 * 16 * 16, dtype=np.uint16).reshape(2, 3, 16, 16)
    path = tmp_path / "good_ij.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZYX"})
    source = open_image(path)
    try:
        assert source.n_slices == 6
        assert source.stack_shape == (2, 3)
        assert "metadata_ignored" not in source.metadata
        np.testing.assert_array_equal(np.asarray(source.plane(4).array), data[1, 1])
    finally:
        source.close()


def test_three_thousand_pages_open_fast(tmp_path):
    data = np.arange(3000, dtype=np.uint16)[:, None, None] * np.ones((1, 8, 8), np.uint16)
    path = tmp_path / "many.ome.tif"
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "TYX"})
    t0 = time.perf_counter()
    source = open_image(path)
    try:
        assert time.perf_counter() - t0 < 10
        assert source.n_slices == 3000
        assert "metadata_ignored" not in source.metadata
        assert int(np.asarray(source.plane(2999).array)[0, 0]) == 2999
    finally:
        source.close()


def test_truncated_data_is_still_refused_naming_the_file(tmp_path):
    path = _write(tmp_path / "cut.tif", _ome(), np.ones((256, 256), np.uint16))
    path.write_bytes(path.read_bytes()[:4000])
    with pytest.raises(ImageReadError) as info:
        open_image(path)
    assert "cut.tif" in str(info.value)
