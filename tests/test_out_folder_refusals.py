"""A command never replaces a file in its output folder that it did not write itself: augment,
normalize, detect-spots, clean-spots, simulate, baseline --report, audit and agreement refuse
such a folder before writing anything, naming (a few of) the files; a folder holding the
command's own earlier run is resumed or written again; augment's output is never its input
folder or inside it. Real files, the real command line (in this process)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from qbi_desktop.cli import main
from qbi_desktop.core.augment import Pipeline

PRECIOUS = b"precious: a file someone made by hand\n"


def _tiff(path: Path, seed: int = 0, value: float | None = None) -> Path:
    rng = np.random.default_rng(seed)
    image = (rng.random((32, 40)) * 1000 + 2000).astype(np.uint16)
    if value is not None:
        image[:] = value
    image[10, 12] = 60000  # a spot
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, image)
    return path


def _precious(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PRECIOUS)
    return path


def _refused(argv: list[str], capsys, *kept: Path) -> str:
    """The command exits 2 with one message naming the first kept file; each is unchanged."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for path in kept:
        assert path.read_bytes() == PRECIOUS, f"{path} was replaced"
    assert kept[0].name in err and "Nothing was written" in err, err
    return err


@pytest.fixture
def pipe(tmp_path) -> Path:
    path = tmp_path / "pipe.json"
    Pipeline.from_options(seed=1, rotation_range=10).save(path)
    return path


def test_augment_refuses_a_folder_of_other_files_and_resumes_its_own(tmp_path, pipe, capsys):
    _tiff(tmp_path / "in" / "a.tif")
    out = tmp_path / "out"
    notes = _precious(out / "manifest.jsonl")
    copy = _precious(out / "images" / "a__aug000.tif")
    base = ["augment", "--pipeline", str(pipe), "--input", str(tmp_path / "in"), "--copies", "1"]
    _refused([*base, "--output", str(out)], capsys, notes, copy)
    notes.unlink()  # the images alone are still someone's
    _refused([*base, "--output", str(out)], capsys, copy)
    copy.unlink()
    assert main([*base, "--output", str(out)]) == 0
    first = (out / "images" / "a__aug000.tif").read_bytes()
    assert main([*base, "--output", str(out)]) == 0  # its own run: resumed, nothing redone
    assert "1 of 1 already written" in capsys.readouterr().err
    assert (out / "images" / "a__aug000.tif").read_bytes() == first


def test_augment_output_is_never_its_input_folder_or_inside_it(tmp_path, pipe, capsys, monkeypatch):
    folder = tmp_path / "in"
    _tiff(folder / "a.tif")
    base = ["augment", "--pipeline", str(pipe), "--input", str(folder), "--copies", "1"]
    for output in (folder, folder / "augmented"):
        assert main([*base, "--output", str(output)]) == 2
        err = capsys.readouterr().err
        assert "input folder" in err and "mix with the inputs" in err, err
    monkeypatch.chdir(folder)
    assert main([*base, "--output", "."]) == 2
    assert "mix with the inputs" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["a.tif"]  # nothing made there


def test_normalize_refuses_to_replace_a_file_and_writes_again_over_its_own(tmp_path, capsys):
    image = _tiff(tmp_path / "in" / "x.tif", 1)
    ob, dc = _tiff(tmp_path / "ob.tif", value=4000), _tiff(tmp_path / "dc.tif", value=100)
    out = tmp_path / "out"
    mine = _precious(out / "x.tif")
    argv = ["normalize", str(image), "--ob", str(ob), "--dc", str(dc), "--out", str(out)]
    _refused(argv, capsys, mine)
    mine.unlink()
    assert main(argv) == 0
    assert main(argv) == 0  # its own output of this input: written again
    assert tifffile.imread(out / "x.tif").dtype == np.float32
    # ... but not the output of another file of the same name
    other = _tiff(tmp_path / "other" / "x.tif", 2)
    assert main([*argv[:1], str(other), *argv[2:]]) == 2
    assert "x.tif" in capsys.readouterr().err


def test_detect_spots_never_replaces_a_mask_already_there(tmp_path, capsys):
    image = _tiff(tmp_path / "in" / "x.tif")
    corrected = _precious(tmp_path / "out" / "x_spots.tif")
    err = _refused(
        ["detect-spots", str(image), "--out", str(tmp_path / "out"), "--no-hot-pixels"],
        capsys,
        corrected,
    )
    assert "corrected by hand" in err


def test_clean_spots_refuses_a_lone_file_of_its_names(tmp_path, capsys):
    image = _tiff(tmp_path / "in" / "x.tif")
    out = tmp_path / "out"
    argv = ["clean-spots", str(image), "--out", str(out), "--workers", "1"]
    for name in ("x.tif", "x_spots.tif"):  # either output alone: someone's, not a killed run's
        mine = _precious(out / name)
        _refused(argv, capsys, mine)
        mine.unlink()
    assert main(argv) == 0
    assert main(argv) == 0  # its own complete run: resumed
    assert "1 already done" in capsys.readouterr().out


def test_clean_spots_resumes_a_frame_whose_labels_were_not_written(tmp_path, capsys):
    """A run killed between a frame's two files leaves the cleaned image (written first, with
    its provenance): the next run takes it as its own and writes the frame again."""
    image = _tiff(tmp_path / "in" / "x.tif")
    out = tmp_path / "out"
    argv = ["clean-spots", str(image), "--out", str(out), "--workers", "1"]
    assert main(argv) == 0
    (out / "x_spots.tif").unlink()
    assert main(argv) == 0
    assert "0 already done" in capsys.readouterr().out and (out / "x_spots.tif").is_file()


def test_simulate_refuses_other_files_and_writes_its_own_set_again(tmp_path, capsys):
    out = tmp_path / "s"
    image, description = _precious(out / "sim_0000.tif"), _precious(out / "simulation.json")
    argv = ["simulate", "--count", "1", "--size", "32", "--out", str(out)]
    _refused(argv, capsys, image, description)
    image.unlink()
    _refused(argv, capsys, description)
    description.unlink()
    assert main(argv) == 0
    assert main(argv) == 0  # its own set: written again
    assert json.loads((out / "simulation.json").read_text())["count"] == 1


def test_the_refusal_names_a_few_files_and_counts_the_rest(tmp_path, capsys):
    out = tmp_path / "s"
    for i in range(7):
        _precious(out / f"sim_{i:04d}.tif")
    err = _refused(
        ["simulate", "--count", "7", "--size", "32", "--out", str(out)],
        capsys,
        out / "sim_0000.tif",
    )
    assert "sim_0002.tif and 4 more" in err and "sim_0003.tif" not in err


def test_baseline_refuses_someones_metrics_before_the_run_and_replaces_its_own(tmp_path, capsys):
    folder = tmp_path / "report"
    mine = _precious(folder / "metrics.json")
    argv = ["baseline", "--data", "digits", "--model", "dummy", "--report", str(folder), "--quiet"]
    _refused(argv, capsys, mine)
    mine.unlink()
    assert main(argv) == 0
    assert main(argv) == 0  # its own report: written again
    assert "accuracy" in json.loads((folder / "metrics.json").read_text())


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.formats import import_job
    from qbi_desktop.core.jobs import run_job

    base = tmp_path_factory.mktemp("proj")
    rng = np.random.default_rng(3)
    for label in ("crack", "void"):
        (base / "images" / label).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 255, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(base / "images" / label / f"{label}{i}.png")
    root = base / "project"
    with open_project(root, create=True) as opened:
        run_job(import_job(opened, "imagefolder", [base / "images"]))
    return root


@pytest.mark.parametrize(
    ("command", "name"), [("audit", "issues.csv"), ("agreement", "report.json")]
)
def test_report_commands_refuse_someones_file_and_replace_their_own(
    tmp_path, capsys, project, command, name
):
    out = tmp_path / "out"
    mine = _precious(out / name)
    argv = [command, "--project", str(project), "--out", str(out), "--quiet"]
    _refused(argv, capsys, mine)
    mine.unlink()
    assert main(argv) == 0
    assert main(argv) == 0  # its own report: written again
    assert (out / name).read_bytes() != PRECIOUS


LONG = "x" * 300


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--count", "1", "--size", "32", "--out", LONG],
        ["audit", "--project", "{project}", "--out", LONG],
        ["agreement", "--project", "{project}", "--out", LONG],
        ["export", "--project", "{project}", "--kind", "coco", "--out", LONG],
        ["import", "--project", LONG, "--kind", "imagefolder", "{tmp}"],
        ["import", "--project", "{tmp}/p", "--kind", "imagefolder", LONG],
        [
            "augment",
            "--pipeline",
            "{pipe}",
            "--input",
            "{tmp}/in",
            "--copies",
            "1",
            "--output",
            LONG,
        ],
        ["info", "--project", LONG],
        ["repair", "--project", LONG],
        ["detect-spots", LONG, "--out", "{tmp}/o"],
        ["clean-spots", LONG, "--out", "{tmp}/o"],
    ],
    ids=lambda argv: f"{argv[0]}-{argv.index(LONG)}",
)
def test_a_name_longer_than_the_file_system_allows_is_named(
    tmp_path, capsys, project, pipe, argv, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    _tiff(tmp_path / "a.tif")
    _tiff(tmp_path / "in" / "a.tif")
    argv = [a.format(project=project, tmp=tmp_path, pipe=pipe) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "File name too long" in err and LONG in err, err
