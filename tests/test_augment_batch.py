"""Batch writing: provenance, resume after interruption or a failed write, processes, dask, CLI."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tifffile

from qbi_desktop.commands import augment as augment_cmd
from qbi_desktop.core.augment import Pipeline
from qbi_desktop.core.augment.batch import (
    ArraySource,
    augment_dataset,
    open_source,
    read_manifest,
)
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import run_job

PIPE = Pipeline.from_options(
    seed=5,
    rotation_range=20,
    width_shift_range=0.1,
    horizontal_flip=True,
    zoom_range=0.1,
    gaussian_noise={"std_range": [0, 50]},
)


def _make_folder(root: Path, n: int = 5, sizes=None) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    images, masks = root / "images", root / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    for i in range(n):
        side = sizes[i] if sizes else 48
        img = (rng.random((side, side + 8)) * 60000).astype(np.uint16)
        mask = np.zeros(img.shape, np.uint8)
        mask[5:15, 10:20] = 1 + i % 3
        tifffile.imwrite(images / f"r{i:02d}.tif", img)
        tifffile.imwrite(masks / f"r{i:02d}.tif", mask)
    return images, masks


def _outputs(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): tifffile.imread(p) for p in sorted(folder.rglob("*.tif"))}


def _assert_same_outputs(a: Path, b: Path) -> None:
    oa, ob = _outputs(a), _outputs(b)
    assert oa.keys() == ob.keys() and oa
    for k in oa:
        np.testing.assert_array_equal(oa[k], ob[k])
    ra, rb = read_manifest(a)[1], read_manifest(b)[1]
    assert ra == rb


def test_batch_writes_copies_with_masks_and_provenance(tmp_path):
    images, masks = _make_folder(tmp_path / "in", n=3)
    result = run_job(augment_dataset(open_source(images, masks), PIPE, tmp_path / "out", 2))
    assert result.written == 6 and result.total == 6
    header, records = read_manifest(tmp_path / "out")
    assert header["pipeline"] == PIPE.to_json() and header["copies"] == 2
    assert [(r["item"], r["copy"]) for r in records] == [(i, k) for i in range(3) for k in range(2)]
    for rec in records:
        img = tifffile.imread(tmp_path / "out" / rec["image"])
        mask = tifffile.imread(tmp_path / "out" / rec["mask"])
        parent = Path(rec["parent"])
        assert parent.parent == images and img.dtype == np.uint16
        assert set(np.unique(mask)) <= {0, 1 + rec["item"] % 3}
        assert rec["seed"] == [5, rec["item"], rec["copy"]]
        # the record alone reproduces the output
        src = tifffile.imread(parent)
        again = PIPE.apply(src, rec["params"]).image
        np.testing.assert_array_equal(again, img)


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    images, masks = _make_folder(tmp_path / "in", n=5)
    src = open_source(images, masks)
    run_job(augment_dataset(src, PIPE, tmp_path / "clean", 3))
    job = augment_dataset(src, PIPE, tmp_path / "resumed", 3)
    next(job), next(job), next(job)  # start + two items, then the user cancels
    job.close()
    header, partial = read_manifest(tmp_path / "resumed")
    assert 0 < len(partial) < 15
    # a torn manifest line (crash mid-append) must not break the resume
    with open(tmp_path / "resumed" / "manifest.jsonl", "a") as f:
        f.write('{"type": "output", "item": 4, "co')
    result = run_job(augment_dataset(src, PIPE, tmp_path / "resumed", 3))
    assert result.skipped == len(partial) and result.written == 15 - len(partial)
    _assert_same_outputs(tmp_path / "clean", tmp_path / "resumed")


def test_a_different_run_in_the_same_folder_is_refused(tmp_path):
    images, _ = _make_folder(tmp_path / "in", n=2)
    run_job(augment_dataset(open_source(images), PIPE, tmp_path / "out", 1))
    with pytest.raises(UserFacingError, match="different augmentation run"):
        run_job(augment_dataset(open_source(images), PIPE, tmp_path / "out", 1, seed=99))


def test_one_and_two_processes_give_identical_files(tmp_path):
    images, masks = _make_folder(tmp_path / "in", n=4)
    src = open_source(images, masks)
    run_job(augment_dataset(src, PIPE, tmp_path / "one", 2, workers=1))
    run_job(augment_dataset(src, PIPE, tmp_path / "two", 2, workers=2))
    _assert_same_outputs(tmp_path / "one", tmp_path / "two")


def test_dask_local_cluster_gives_the_local_result(tmp_path):
    distributed = pytest.importorskip("distributed")
    images, masks = _make_folder(tmp_path / "in", n=4)
    src = open_source(images, masks)
    run_job(augment_dataset(src, PIPE, tmp_path / "local", 2))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        run_job(
            augment_dataset(src, PIPE, tmp_path / "dask", 2, scheduler=cluster.scheduler_address)
        )
        # the command line's --scheduler reaches the same path
        PIPE.save(tmp_path / "p.json")
        before = cluster.scheduler.transition_counter
        argv = ["--pipeline", str(tmp_path / "p.json"), "--input", str(images)]
        argv += ["--masks", str(masks), "--output", str(tmp_path / "cli"), "--copies", "2"]
        assert _cli([*argv, "--scheduler", cluster.scheduler_address]) == 0
        assert cluster.scheduler.transition_counter > before
    _assert_same_outputs(tmp_path / "local", tmp_path / "dask")
    _assert_same_outputs(tmp_path / "local", tmp_path / "cli")


def test_npz_input_with_masks_and_boxes(tmp_path):
    rng = np.random.default_rng(1)
    images = (rng.random((3, 32, 40)) * 255).astype(np.uint8)
    masks = np.zeros((3, 32, 40), np.uint8)
    masks[:, 4:10, 4:12] = 2
    boxes = np.full((3, 2, 5), np.nan)
    boxes[:, 0] = [4, 4, 12, 10, 2]
    np.savez(tmp_path / "data.npz", images=images, masks=masks, boxes=boxes)
    src = ArraySource(tmp_path / "data.npz")
    flip = Pipeline.from_options(horizontal_flip=True, seed=1)
    run_job(augment_dataset(src, flip, tmp_path / "out", 2))
    for rec in read_manifest(tmp_path / "out")[1]:
        assert len(rec["boxes"]) == 1
        expected = [28, 4, 36, 10, 2] if rec["params"]["flip_horizontal"] else [4, 4, 12, 10, 2]
        np.testing.assert_allclose(rec["boxes"][0], expected, atol=1e-9)
        mask = tifffile.imread(tmp_path / "out" / rec["mask"])
        rows, cols = np.nonzero(mask)
        assert [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1] == expected[:4]


def test_bad_inputs_get_clear_messages(tmp_path):
    with pytest.raises(UserFacingError, match="not found"):
        open_source(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserFacingError, match="no images"):
        open_source(tmp_path / "empty")
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 8, 8)), masks=np.zeros((2, 9, 8), np.uint8))
    with pytest.raises(UserFacingError, match="do not match"):
        open_source(tmp_path / "bad.npz")
    images, _ = _make_folder(tmp_path / "in", n=1)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserFacingError, match=str(blocker)):
        run_job(augment_dataset(open_source(images), PIPE, blocker / "out", 1))
    (images / "broken.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(UserFacingError, match="broken.tif"):
        run_job(augment_dataset(open_source(images), PIPE, tmp_path / "out2", 1))


def test_a_write_failure_part_way_leaves_complete_outputs_and_resumes(tmp_path):
    # Growing images: the later ones exceed a file-size limit, as if the disk filled up.
    images, masks = _make_folder(tmp_path / "in", n=4, sizes=[16, 24, 32, 160])
    pipe_path = tmp_path / "p.json"
    PIPE.save(pipe_path)
    args = [
        "--pipeline",
        str(pipe_path),
        "--input",
        str(images),
        "--masks",
        str(masks),
        "--output",
        str(tmp_path / "out"),
        "--copies",
        "2",
    ]
    script = textwrap.dedent(
        f"""
        import argparse, resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (40000, 40000))
        from qbi_desktop.commands import augment
        parser = argparse.ArgumentParser(); sub = parser.add_subparsers()
        augment.register(sub)
        a = parser.parse_args(["augment", *{args!r}])
        sys.exit(a.func(a))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        "6 of 8 outputs are complete" in proc.stderr and "run the same command again" in proc.stderr
    )
    _, records = read_manifest(tmp_path / "out")
    assert len(records) == 6
    leftovers = [p for p in (tmp_path / "out").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    for rec in records:  # everything recorded is complete and readable
        assert tifffile.imread(tmp_path / "out" / rec["image"]).shape[0] in (16, 24, 32)
    # resume without the limit: same as a clean run
    assert _cli(args) == 0
    assert _cli([*args[:-3], str(tmp_path / "clean"), "--copies", "2"]) == 0
    _assert_same_outputs(tmp_path / "out", tmp_path / "clean")


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    augment_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["augment", *argv])
    return args.func(args)


def test_cli_runs_and_reports_bad_pipelines(tmp_path, capsys):
    images, _ = _make_folder(tmp_path / "in", n=2)
    good = tmp_path / "p.json"
    PIPE.save(good)
    assert (
        _cli(
            [
                "--pipeline",
                str(good),
                "--input",
                str(images),
                "--output",
                str(tmp_path / "o"),
                "--copies",
                "2",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    header, records = read_manifest(tmp_path / "o")
    assert header["pipeline"]["seed"] == 3 and len(records) == 4
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "qbi-augment", "version": 1, "options": {"spin": 3}}))
    assert (
        _cli(
            [
                "--pipeline",
                str(bad),
                "--input",
                str(images),
                "--output",
                str(tmp_path / "o2"),
                "--copies",
                "1",
            ]
        )
        == 2
    )
    assert "options.spin" in capsys.readouterr().err


def test_cli_augments_a_project_into_a_folder_or_back_into_the_project(tmp_path):
    from qbi_desktop.core.catalog import NewItem, open_project
    from qbi_desktop.core.catalog.images import hash_file

    images, _ = _make_folder(tmp_path / "in", n=2)
    project = open_project(tmp_path / "proj", create=True)
    with project.transaction() as tx:
        ids = tx.add_items(
            [
                NewItem(name=p.stem, hash=hash_file(p), path=p, label="a", split="train")
                for p in sorted(images.glob("*.tif"))
            ]
        )
    PIPE.save(tmp_path / "p.json")
    base = ["--pipeline", str(tmp_path / "p.json"), "--input", str(project.root), "--copies", "2"]
    assert _cli([*base, "--output", str(tmp_path / "out")]) == 0
    _header, records = read_manifest(tmp_path / "out")
    assert len(records) == 4 and {r["parent"] for r in records} == {f"item:{i}" for i in ids}
    assert len(project) == 2  # a folder run adds nothing to the project
    assert _cli([*base, "--into-project"]) == 0
    added = project.ids({"provenance": "augmented"})
    assert len(added) == 4
    assert {project.get(i)["parent"] for i in added} == set(ids)
    assert {project.get(i)["label"] for i in added} == {"a"}
    # without a place to write: refused, naming the option
    assert _cli(base) == 2


def test_a_killed_run_of_many_copies_keeps_what_it_wrote_and_resumes(tmp_path):
    """Two items, 200 copies each, killed (SIGKILL) part way: the outputs on disk are
    recorded but for the last unit of work in flight, the rerun writes only the rest, a
    temporary file a killed writer leaves is removed (a user's own file is not), and the
    result equals an uninterrupted run."""
    import os
    import signal
    import time

    images, _ = _make_folder(tmp_path / "in", n=2, sizes=[256, 256])
    pipe_path = tmp_path / "p.json"
    PIPE.save(pipe_path)
    out = tmp_path / "out"
    args = ["--pipeline", str(pipe_path), "--input", str(images), "--output", str(out)]
    args += ["--copies", "200"]
    script = textwrap.dedent(
        f"""
        import argparse, sys
        from qbi_desktop.commands import augment
        parser = argparse.ArgumentParser(); sub = parser.add_subparsers()
        augment.register(sub)
        a = parser.parse_args(["augment", *{args!r}])
        sys.exit(a.func(a))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "images").is_dir() and len(list((out / "images").glob("*.tif"))) >= 30:
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    on_disk = {p.name for p in (out / "images").glob("*.tif")}
    assert 30 <= len(on_disk) < 400, "the run was not killed part way"
    _, records = read_manifest(out)
    recorded = {Path(r["image"]).name for r in records}
    assert recorded <= on_disk
    # lost: the unit of work in flight (COPIES_PER_TASK), no more; it was all of an item's copies
    assert len(on_disk - recorded) <= 16
    # what a writer killed between its temporary file and the rename leaves behind
    leftover = out / "images" / ".r00__aug199.tif.k3Jq_x9Z.tmp"
    leftover.write_bytes(b"half a TIFF")
    mine = out / "images" / "notes.tmp"
    mine.write_text("the user's own")
    assert _cli(args) == 0
    assert not leftover.exists() and mine.read_text() == "the user's own"
    mine.unlink()
    _, records = read_manifest(out)
    assert len(records) == 400
    assert _cli([*args[:5], str(tmp_path / "clean"), "--copies", "200"]) == 0
    _assert_same_outputs(out, tmp_path / "clean")


def test_cli_says_when_the_pipeline_changes_nothing(tmp_path, capsys):
    images, _ = _make_folder(tmp_path / "in", n=2)
    for name, pipe in (("still", Pipeline.from_options(seed=1)), ("moving", PIPE)):
        pipe.save(tmp_path / f"{name}.json")
        argv = ["--pipeline", str(tmp_path / f"{name}.json"), "--input", str(images)]
        assert _cli([*argv, "--output", str(tmp_path / name), "--copies", "1"]) == 0
        err = capsys.readouterr().err
        assert ("the pipeline changes nothing" in err) == (name == "still")


def test_array_inputs_are_checked_before_any_output_and_named_in_messages(tmp_path):
    """A stack of an unsupported type or shape is refused naming the file, before an output
    folder exists; an archive of 20 000 members gets a one-line message; a big-endian stack
    (another machine's file) is the same numbers as a native one and gives the same copies."""
    rng = np.random.default_rng(4)
    native = (rng.random((3, 24, 24)) * 60000).astype(np.uint16)
    np.save(tmp_path / "native.npy", native)
    np.save(tmp_path / "big.npy", native.astype(">u2"))
    np.save(tmp_path / "wide.npy", native.astype(np.int64))
    np.save(tmp_path / "flat.npy", np.zeros((2, 0, 16), np.uint8))
    np.savez(tmp_path / "many.npz", **{f"k{i}": np.zeros(1, np.uint8) for i in range(20000)})
    for name, words in (
        ("wide.npy", "pixel type int64 is not supported"),
        ("flat.npy", "got shape (0, 16)"),
        ("many.npz", "(20,000 in all)"),
    ):
        with pytest.raises(UserFacingError) as err:
            run_job(augment_dataset(open_source(tmp_path / name), PIPE, tmp_path / "o", 1))
        assert str(tmp_path / name) in str(err.value) and words in str(err.value)
        assert len(str(err.value)) < 400
        assert not (tmp_path / "o").exists()
    for name in ("native", "big"):
        run_job(augment_dataset(open_source(tmp_path / f"{name}.npy"), PIPE, tmp_path / name, 2))
    native_out, big_out = _outputs(tmp_path / "native"), _outputs(tmp_path / "big")
    assert len(native_out) == len(big_out) == 6
    for a, b in zip(native_out.values(), big_out.values(), strict=True):
        assert b.dtype == np.uint16
        np.testing.assert_array_equal(a, b)


def test_an_output_or_project_that_is_a_file_is_named_as_one(tmp_path, capsys):
    from qbi_desktop.cli import main

    images, _ = _make_folder(tmp_path / "in", n=1)
    PIPE.save(tmp_path / "p.json")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    for out in (a_file, Path("/dev/null")):
        argv = ["--pipeline", str(tmp_path / "p.json"), "--input", str(images)]
        assert _cli([*argv, "--output", str(out), "--copies", "1"]) == 2
        assert f"{out}: exists and is not a folder" in capsys.readouterr().err
    assert a_file.read_text() == "mine"
    assert main(["info", "--project", str(a_file)]) == 2
    assert f"{a_file}: is a file, not a project folder" in capsys.readouterr().err
