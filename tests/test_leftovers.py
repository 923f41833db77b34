"""Leftovers of a killed run (issue 17.9): real processes killed with SIGKILL mid-way through an
import, an archive extraction, an export and a decode; the next start (project open, the same
CLI command, app start) removes what is provably theirs and says so — and never touches what a
living process is still making."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from cocofiles import write_coco

from qbi_desktop.core.catalog import open_project

REPO = Path(__file__).resolve().parents[1]


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, QBI_DESKTOP_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    env.pop("QBI_DESKTOP_REPORT_READY", None)
    env["PYTHONPATH"] = str(REPO)
    return env


def _cli(home: Path, *argv: str, wait: bool = True):
    args = [sys.executable, "-m", "qbi_desktop", *argv]
    if not wait:
        return subprocess.Popen(
            args, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    return subprocess.run(args, env=_env(home), capture_output=True, text=True, timeout=180)


def _kill_when(process: subprocess.Popen, ready, timeout: float = 60) -> None:
    """SIGKILL ``process`` as soon as ``ready()`` is true (polled every 2 ms)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"finished before the kill: {process.communicate()}"
        assert time.monotonic() < deadline, "never reached the point to kill at"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def _coco(folder: Path, n: int) -> Path:
    return write_coco(
        folder,
        n,
        shape=(200, 300),
        polygon=[5, 5, 150, 10, 120, 180, 10, 150],
        area=20000.0,
        seed=5,
    )


def _referenced_masks(project: Path) -> set[str]:
    with open_project(project) as p:
        return {Path(r[0]).name for r in p.db.execute("SELECT path FROM masks")}


def test_kill_during_import_leaves_orphan_masks_the_next_run_removes(tmp_path):
    coco = _coco(tmp_path / "src", 300)
    project = tmp_path / "p"
    masks = project / "masks"
    process = _cli(
        tmp_path, "import", "--project", str(project), "--kind", "coco", str(coco), wait=False
    )
    _kill_when(process, lambda: masks.is_dir() and len(list(masks.glob("*.tif"))) >= 5)
    orphans = sorted(p.name for p in masks.glob("*.tif"))
    assert len(orphans) >= 5  # what the killed run wrote, no catalog row for any
    result = _cli(tmp_path, "import", "--project", str(project), "--kind", "coco", str(coco))
    assert result.returncode == 0, result.stderr
    assert "leftover" in result.stderr and "run that stopped" in result.stderr
    on_disk = {p.name for p in masks.glob("*")}
    assert on_disk == _referenced_masks(project), "only masks the catalog references remain"
    assert not set(orphans) & on_disk
    assert len(on_disk) == 300


def test_an_open_project_in_a_living_process_is_never_swept(tmp_path):
    project = tmp_path / "p"
    open_project(project, create=True).close()
    (project / "masks").mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom qbi_desktop.core.catalog import open_project\n"
            "p = open_project(sys.argv[1])\nprint('open', flush=True)\ntime.sleep(60)\n",
            str(project),
        ],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        # a mask another process is writing in a transaction not yet committed
        in_flight = project / "masks" / "7-0123abcd.tif"
        in_flight.write_bytes(b"II*\x00")
        with open_project(project) as p:
            assert p.swept is None
        assert in_flight.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    with open_project(project) as p:  # the holder is dead now: its file is a leftover
        assert p.swept and in_flight in p.swept.paths
    assert not in_flight.exists()


def test_kill_during_archive_extraction_leaves_a_partial_folder_the_next_open_removes(tmp_path):
    archive = tmp_path / "scans.zip"
    rng = np.random.default_rng(9)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        for k in range(40):
            data = rng.integers(0, 60000, (1000, 2000), np.uint16)
            path = tmp_path / "scan.tif"
            tifffile.imwrite(path, data)
            z.write(path, f"scans/class{k % 2}/scan{k}.tif")
    project = tmp_path / "p"
    open_project(project, create=True).close()
    sources = project / "sources"
    process = _cli(
        tmp_path,
        "import",
        "--project",
        str(project),
        "--kind",
        "imagefolder",
        str(archive),
        wait=False,
    )

    def partial_with_files() -> bool:
        return sources.is_dir() and any(
            d.name.endswith(".partial") and any(d.rglob("*.tif")) for d in sources.iterdir()
        )

    _kill_when(process, partial_with_files)
    assert [d for d in sources.iterdir() if d.name.endswith(".partial")]
    with open_project(project) as p:
        assert p.swept and "scans" in str(p.swept)
    assert not [d for d in sources.iterdir() if d.name.endswith(".partial")]


def test_kill_during_export_leaves_a_hidden_folder_the_same_command_removes(tmp_path):
    coco = _coco(tmp_path / "src", 250)
    project = tmp_path / "p"
    assert (
        _cli(tmp_path, "import", "--project", str(project), "--kind", "coco", str(coco)).returncode
        == 0
    )
    out = tmp_path / "export"
    argv = ("export", "--project", str(project), "--kind", "coco", "--out", str(out))
    process = _cli(tmp_path, *argv, wait=False)

    def hidden_with_files() -> bool:
        return any(
            d.is_dir() and len(list(d.rglob("*.tif"))) >= 3 for d in tmp_path.glob(".export.*")
        )

    _kill_when(process, hidden_with_files)
    assert list(tmp_path.glob(".export.*"))
    result = _cli(tmp_path, *argv)
    assert result.returncode == 0, result.stderr
    assert "leftover" in result.stdout + result.stderr
    assert not list(tmp_path.glob(".export.*")), "the dead export's folder is gone"
    assert (out / "annotations.json").exists() or any(out.rglob("*.json"))


def test_a_living_exports_folder_is_not_taken_for_a_leftover(tmp_path):
    from qbi_desktop.core.formats.common import ExportFolder

    out = tmp_path / "export"
    first = ExportFolder(out)  # being written, in this living process
    second = ExportFolder(tmp_path / "export")
    assert first.tmp.exists() and not second.swept
    first.discard()
    second.discard()


DECODE = """
import sys, time
import numpy as np
import qbi_desktop.core.io as io
io.SCRATCH_THRESHOLD_BYTES = 1024  # decode into a scratch file in the cache
source = io.open_image(sys.argv[1])
job = io.decode_plane_job(source, 0)
next(job)
print("decoding", flush=True)
time.sleep(60)
"""


def test_kill_during_decode_leaves_no_file_in_the_cache(tmp_path):
    image = tmp_path / "tiled.tif"
    data = np.random.default_rng(2).integers(0, 60000, (2048, 2048), np.uint16)
    tifffile.imwrite(image, data, tile=(256, 256), compression="zlib")
    home = tmp_path / "home"
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(DECODE), str(image)],
        env=_env(home),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "decoding"
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert list((home / "cache").iterdir()) == []


def test_app_start_removes_decode_files_of_dead_runs(tmp_path):
    home = tmp_path / "home"
    cache = home / "cache"
    cache.mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    stale = cache / f"decoded-{dead}-k2j4h5g6.raw"
    legacy = cache / "decoded-ab12cd34.raw"
    alive = cache / f"decoded-{os.getpid()}-q1w2e3r4.raw"
    for path in (stale, legacy, alive):
        with open(path, "wb") as f:
            f.truncate(64 * 1024**2)  # sparse, as a decode file is
    image = tmp_path / "x.tif"
    tifffile.imwrite(image, np.arange(64 * 80, dtype=np.uint16).reshape(64, 80))
    env = _env(home) | {"QBI_DESKTOP_REPORT_READY": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "qbi_desktop", "--new-instance", str(image)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert not stale.exists() and not legacy.exists()
    assert alive.exists(), "a living process's file is kept"
    log = (home / "logs" / "qbi-desktop.log").read_text()
    assert "removed 2 leftover(s)" in log


@pytest.mark.parametrize("kind", ["masks", "images"])
def test_only_our_own_file_names_are_swept(tmp_path, kind):
    project = tmp_path / "p"
    open_project(project, create=True).close()
    folder = project / kind
    folder.mkdir()
    theirs = folder / "notes.txt"
    theirs.write_text("a user's file")
    ours = folder / ("3-89abcdef.tif" if kind == "masks" else "sim-89abcdef.tif")
    ours.write_bytes(b"II*\x00")
    with open_project(project) as p:
        assert p.swept and p.swept.paths == [ours]
    assert theirs.exists()
