"""Smoke test of the frozen app's command-line jobs: every sub-command once, on tiny inputs.

    python3 packaging/smoke_frozen.py [--app "dist/qbi-desktop/qbi-desktop"] [--keep]

The self-test (``--self-test``) checks the window, painting, augmentation preview, a kNN
baseline and projects; this script checks what it does not reach, so that leaving a module or
library out of the bundle cannot silently break a command: simulate; detect-spots (both
methods, and on a Deflate + predictor TIFF, decoded through imagecodecs); detect-spots and
clean-spots on a NeXus scan (h5py, libhdf5); import (MNIST IDX,
gz and plain; masks); info; export (datapackage, imagefolder PNG, npz); baseline (digits:
logreg, knn, dummy, centroid; the IDX files: knn on images resized by scikit-image; simulated
spots: otsu); augment (one process, and two spawned worker processes, with masks).

``--app`` is the command that starts the app (split like a shell line), so the same checks run
on the development install: ``--app ".venv/bin/python -m qbi_desktop"``.
Standard library only: it runs with any Python >= 3.11, outside the bundle.
Exit code 0 when every step passed; each step prints its time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_APP = ROOT / "dist" / "qbi-desktop" / "qbi-desktop"
NEXUS_SCAN = Path(__file__).resolve().parent / "smoke_scan.nxs"


class SmokeFailure(Exception):
    pass


def write_idx(path: Path, data: bytes, dims: tuple[int, ...]) -> None:
    """An IDX file of unsigned bytes (type 0x08), gzip-compressed when the name ends in .gz."""
    header = struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    raw = header + data
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


def deflate_tiff(path: Path, width: int = 96, height: int = 64) -> None:
    """A 16-bit TIFF as microscopes write them: Deflate-compressed with the horizontal
    predictor (the frozen app decodes it through imagecodecs' zlib and delta codecs), a smooth
    background with five bright one-pixel spots."""
    spots = {(10, 12), (30, 50), (45, 80), (20, 70), (55, 20)}
    rows = []
    for y in range(height):
        row = [1000 + 3 * x + 2 * y for x in range(width)]
        for sy, sx in spots:
            if sy == y:
                row[sx] = 60000
        # predictor 2: each sample minus its left neighbour, modulo 2^16
        rows.append(
            struct.pack(
                f"<{width}H", *((v - (row[x - 1] if x else 0)) % 65536 for x, v in enumerate(row))
            )
        )
    strip = zlib.compress(b"".join(rows))
    tags = [  # (tag, type 3 = SHORT / 4 = LONG, value)
        (256, 4, width),
        (257, 4, height),
        (258, 3, 16),  # bits per sample
        (259, 3, 8),  # Deflate
        (262, 3, 1),  # min-is-black
        (273, 4, 8),  # the strip follows the header
        (277, 3, 1),
        (278, 4, height),
        (279, 4, len(strip)),
        (317, 3, 2),  # horizontal predictor
        (339, 3, 1),  # unsigned integers
    ]
    ifd_offset = 8 + len(strip) + len(strip) % 2
    ifd = struct.pack("<H", len(tags))
    for tag, kind, value in tags:
        packed = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, 1) + packed
    ifd += struct.pack("<I", 0)
    header = b"II" + struct.pack("<HI", 42, ifd_offset)
    path.write_bytes(header + strip + b"\0" * (len(strip) % 2) + ifd)


def tiny_mnist(folder: Path) -> None:
    """28 x 28 digits of 4 classes (a bright bar whose position is the class), 40 train + 12 test:
    separable, so a 1-NN baseline on them must score well above chance."""
    folder.mkdir(parents=True)

    def images(n: int, offset: int) -> tuple[bytes, bytes]:
        pixels = bytearray()
        labels = bytearray()
        for i in range(n):
            label = i % 4
            noise = (i * 37 + offset) % 50
            for row in range(28):
                for col in range(28):
                    bar = label * 7 <= row < label * 7 + 5 and 4 <= col < 24
                    pixels.append(200 + noise if bar else (row * col + i) % 20)
            labels.append(label)
        return bytes(pixels), bytes(labels)

    train, train_labels = images(40, 0)
    test, test_labels = images(12, 11)
    write_idx(folder / "train-images-idx3-ubyte.gz", train, (40, 28, 28))
    write_idx(folder / "train-labels-idx1-ubyte.gz", train_labels, (40,))
    write_idx(folder / "t10k-images-idx3-ubyte", test, (12, 28, 28))
    write_idx(folder / "t10k-labels-idx1-ubyte", test_labels, (12,))


class Smoke:
    def __init__(self, app: list[str], work: Path):
        self.app = app
        self.work = work
        self.timings: list[tuple[str, float]] = []

    def run(self, name: str, *args: str | Path, timeout: float = 180) -> str:
        """Run the app with ``args``; fail on a non-zero exit. Returns stdout + stderr."""
        cmd = [*self.app, *map(str, args)]
        env = dict(os.environ, QBI_DESKTOP_HOME=str(self.work / "home"))
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=self.work
        )
        elapsed = time.perf_counter() - t0
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise SmokeFailure(
                f"{name}: exit code {proc.returncode}\n$ {shlex.join(cmd)}\n{output[-4000:]}"
            )
        self.timings.append((name, elapsed))
        print(f"ok   {name:<34} {elapsed:5.1f} s", flush=True)
        return output

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            raise SmokeFailure(message)

    def files(self, folder: Path, pattern: str, at_least: int = 1) -> list[Path]:
        found = sorted(folder.glob(pattern))
        self.expect(
            len(found) >= at_least,
            f"{folder}: expected at least {at_least} '{pattern}', found {len(found)}",
        )
        return found

    # --- the steps ---------------------------------------------------------------------------

    def version(self) -> None:
        out = self.run("--version", "--version")
        self.expect(out.startswith("qbi-desktop "), f"--version printed {out!r}")

    def simulate(self) -> Path:
        sim = self.work / "sim"
        self.run("simulate", "simulate", "--count", 2, "--size", 256, "--seed", 1, "--out", sim)
        self.files(sim, "sim_000?.tif", 2)
        self.files(sim, "sim_000?_spots.tif", 2)
        truth = json.loads((sim / "simulation.json").read_text())
        self.expect(bool(truth), "simulation.json is empty")
        return sim

    def detect_spots(self, sim: Path) -> None:
        for method in ("median", "morph"):
            out_dir = self.work / f"spots-{method}"
            out = self.run(
                f"detect-spots --method {method}",
                "detect-spots",
                "--method",
                method,
                "--out",
                out_dir,
                sim / "sim_0000.tif",
                sim / "sim_0001.tif",
            )
            self.files(out_dir, "sim_000?_spots.tif", 2)
            self.expect(" 0 spots" not in out, f"detect-spots {method} found no spot: {out}")
        compressed = self.work / "deflate-predictor.tif"
        deflate_tiff(compressed)
        out_dir = self.work / "spots-deflate"
        out = self.run("detect-spots (Deflate TIFF)", "detect-spots", "--out", out_dir, compressed)
        self.files(out_dir, "deflate-predictor_spots.tif")
        self.expect(": 5 spots" in out, f"detect-spots on the Deflate TIFF: {out}")

    def nexus(self) -> None:
        """h5py and libhdf5 in the bundle: a NeXus scan (3 frames, gzip + shuffle, a frame per
        chunk, packaging/smoke_scan.nxs; frame 0 has 5 bright pixels) is read and cleaned."""
        scan = self.work / "scan.nxs"
        shutil.copy(NEXUS_SCAN, scan)
        out_dir = self.work / "spots-nexus"
        out = self.run("detect-spots (NeXus)", "detect-spots", "--out", out_dir, scan)
        self.expect(": 5 spots" in out, f"detect-spots on the NeXus scan: {out}")
        self.files(out_dir, "scan_000?_spots.tif", 3)
        out_dir = self.work / "clean-nexus"
        self.run("clean-spots (NeXus)", "clean-spots", "--out", out_dir, scan)
        self.files(out_dir, "scan_000?.tif", 3)

    def projects(self) -> Path:
        mnist = self.work / "mnist"
        tiny_mnist(mnist)
        project = self.work / "project"
        self.run("import --kind mnist", "import", "--project", project, "--kind", "mnist", mnist)
        info = self.run("info", "info", "--project", project)
        self.expect("52" in info, f"info does not count the 52 imported items:\n{info}")
        datapackage = self.work / "export-datapackage"
        self.run(
            "export --kind datapackage",
            "export",
            "--project",
            project,
            "--kind",
            "datapackage",
            "--out",
            datapackage,
        )
        package = json.loads((datapackage / "datapackage.json").read_text())
        self.expect(bool(package.get("resources")), "datapackage.json lists no resource")
        folder = self.work / "export-imagefolder"
        self.run(
            "export --kind imagefolder",
            "export",
            "--project",
            project,
            "--kind",
            "imagefolder",
            "--out",
            folder,
        )
        self.files(folder, "**/*.png", 52)
        npz = self.work / "export-npz"
        self.run("export --kind npz", "export", "--project", project, "--kind", "npz", "--out", npz)
        self.files(npz, "*.npz")
        return mnist

    def baselines(self, mnist: Path, sim: Path) -> None:
        floors = {"logreg": 0.9, "knn": 0.9, "centroid": 0.8, "dummy": 0.0}
        for model, floor in floors.items():
            report = self.work / f"baseline-{model}"
            self.run(
                f"baseline digits {model}",
                "baseline",
                "--data",
                "digits",
                "--model",
                model,
                "--report",
                report,
                "--quiet",
            )
            accuracy = json.loads((report / "metrics.json").read_text())["accuracy"]
            self.expect(accuracy >= floor, f"baseline {model} on digits: accuracy {accuracy}")
            self.files(report, "confusion_matrix.png")
        report = self.work / "baseline-mnist"
        self.run(
            "baseline mnist:IDX knn --resize",
            "baseline",
            "--data",
            f"mnist:{mnist}",
            "--model",
            "knn",
            "--resize",
            "14x14",
            "--report",
            report,
            "--quiet",
        )
        accuracy = json.loads((report / "metrics.json").read_text())["accuracy"]
        self.expect(accuracy >= 0.9, f"baseline knn on the tiny IDX: accuracy {accuracy}")
        # A segmentation project (simulated images + their spot masks) for the otsu baseline.
        project = self.work / "spots-project"
        images = self.work / "seg-images"
        masks = self.work / "seg-masks"
        images.mkdir()
        masks.mkdir()
        for i in range(2):
            shutil.copy(sim / f"sim_000{i}.tif", images / f"sim_000{i}.tif")
            shutil.copy(sim / f"sim_000{i}_spots.tif", masks / f"sim_000{i}.tif")
        self.run(
            "import --kind masks",
            "import",
            "--project",
            project,
            "--kind",
            "masks",
            "--images",
            images,
            masks,
        )
        report = self.work / "baseline-otsu"
        self.run(
            "baseline project otsu",
            "baseline",
            "--data",
            f"project:{project}",
            "--model",
            "otsu",
            "--report",
            report,
            "--quiet",
        )
        self.files(report, "metrics.json")
        self.images, self.masks = images, masks

    def augment(self) -> None:
        pipeline = self.work / "pipeline.json"
        pipeline.write_text(
            json.dumps(
                {
                    "format": "qbi-augment",
                    "version": 1,
                    "seed": 3,
                    "options": {
                        "rotation_range": 15,
                        "zoom_range": 0.1,
                        "horizontal_flip": True,
                        "brightness_range": [0.9, 1.1],
                    },
                }
            )
        )
        for workers in (1, 2):
            out_dir = self.work / f"augment-{workers}"
            self.run(
                f"augment --workers {workers}",
                "augment",
                "--pipeline",
                pipeline,
                "--input",
                self.images,
                "--masks",
                self.masks,
                "--output",
                out_dir,
                "--copies",
                2,
                "--workers",
                workers,
            )
            written = [p for p in out_dir.rglob("*.tif") if p.is_file()]
            # 2 images x 2 copies, each with its mask
            self.expect(len(written) >= 8, f"augment wrote {len(written)} TIFFs in {out_dir}")
        first = sorted(
            p.relative_to(self.work / "augment-1") for p in (self.work / "augment-1").rglob("*.tif")
        )
        second = sorted(
            p.relative_to(self.work / "augment-2") for p in (self.work / "augment-2").rglob("*.tif")
        )
        self.expect(first == second, "augment wrote different files with 1 and 2 workers")
        for rel in first:
            same = (self.work / "augment-1" / rel).read_bytes() == (
                self.work / "augment-2" / rel
            ).read_bytes()
            self.expect(same, f"augment {rel}: 1 and 2 workers give different images")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", default=str(DEFAULT_APP), help="command that starts the app")
    parser.add_argument("--work", type=Path, help="work folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="qbi-smoke-"))
    work.mkdir(parents=True, exist_ok=True)
    app = shlex.split(args.app)
    if Path(app[0]).exists():
        app[0] = str(Path(app[0]).absolute())  # the steps run in the work folder
    smoke = Smoke(app, work)
    started = time.perf_counter()
    try:
        smoke.version()
        sim = smoke.simulate()
        smoke.detect_spots(sim)
        smoke.nexus()
        mnist = smoke.projects()
        smoke.baselines(mnist, sim)
        smoke.augment()
    except (SmokeFailure, subprocess.TimeoutExpired) as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        print(f"work folder kept: {work}", file=sys.stderr)
        return 1
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    total = time.perf_counter() - started
    print(f"smoke: {len(smoke.timings)} command runs passed in {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
