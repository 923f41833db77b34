"""MNIST IDX import (70 000 items into a new project) side by side with plain SQLite inserts.

QBI: ``import_job(project, "mnist", [folder])`` into a new project (read the gzipped IDX files,
hash every image, write items with labels, splits and provenance, build the catalog's indexes).
Peer: the same files read with numpy, every image hashed (blake2b-128), one ``executemany``
into a plain table (id, name, label, split, hash) with an index on hash and label, one
transaction, WAL. Interleaved rounds, quiet and with two busy processes; the ratio is QBI's
time over the peer's per round. Each round's process CPU time (``time.process_time``) is
printed too, with its ratio: on a shared machine it moves far less with the load than the
wall time does.

Run: .venv/bin/python tests/benchmarks/bench_idx_import.py [--rounds 5] [--mnist DIR]
Goal (issue 18): QBI <= 2 s quiet.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sidebyside import SideBySide, busy, load_text  # noqa: E402

from qbi_desktop.core.catalog import open_project  # noqa: E402
from qbi_desktop.core.formats import import_job  # noqa: E402
from qbi_desktop.core.jobs import run_job  # noqa: E402

MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
PAIRS = (("train", "train"), ("t10k", "test"))


def qbi_import(mnist: Path, tmp: Path) -> int:
    folder = Path(tempfile.mkdtemp(dir=tmp))
    try:
        project = open_project(folder / "p", create=True)
        report = run_job(import_job(project, "mnist", [mnist]))
        project.close()
        return report.added
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _read(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    ndim = data[3]
    shape = tuple(int(n) for n in np.frombuffer(data, ">u4", ndim, offset=4))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def plain_sqlite(mnist: Path, tmp: Path) -> int:
    folder = Path(tempfile.mkdtemp(dir=tmp))
    try:
        db = sqlite3.connect(folder / "plain.db", isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, label TEXT, split TEXT, "
            "hash TEXT)"
        )
        db.execute("CREATE INDEX items_hash ON items(hash)")
        db.execute("CREATE INDEX items_label ON items(label)")
        db.execute("BEGIN")
        n = 0
        for prefix, split in PAIRS:
            images = _read(mnist / f"{prefix}-images-idx3-ubyte.gz")
            labels = _read(mnist / f"{prefix}-labels-idx1-ubyte.gz")
            rows = [
                (
                    n + i + 1,
                    f"{prefix}-{i:05d}",
                    str(int(labels[i])),
                    split,
                    hashlib.blake2b(images[i].tobytes(), digest_size=16).hexdigest(),
                )
                for i in range(len(images))
            ]
            db.executemany("INSERT INTO items VALUES (?,?,?,?,?)", rows)
            n += len(images)
        db.execute("COMMIT")
        db.close()
        return n
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _with_cpu(name: str, f, cpu: SideBySide):
    """``f``, recording its process CPU time into ``cpu`` (round = how often it ran before)."""

    def run() -> object:
        start = time.process_time()
        try:
            return f()
        finally:
            done = len(cpu.times.setdefault(name, {}))
            cpu.record(name, done, time.process_time() - start)

    return run


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mnist", type=Path, default=MNIST)
    parser.add_argument("--busy", type=int, default=2, help="busy processes for the loaded run")
    args = parser.parse_args()
    if not (args.mnist / "train-images-idx3-ubyte.gz").is_file():
        print(f"MNIST not found at {args.mnist}: nothing measured")
        return 0
    print(f"start: {load_text()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        assert qbi_import(args.mnist, tmp) == plain_sqlite(args.mnist, tmp) == 70_000
        for n_busy in (0, args.busy):
            title = f"MNIST import, 70 000 items ({n_busy} busy processes)"
            sbs = SideBySide(title)
            cpu = SideBySide(f"{title}: process CPU time")
            workloads = {
                "QBI import_job (new project)": lambda: qbi_import(args.mnist, tmp),
                "plain SQLite inserts + hashes": lambda: plain_sqlite(args.mnist, tmp),
            }
            with busy(n_busy):
                sbs.run(
                    {name: _with_cpu(name, f, cpu) for name, f in workloads.items()},
                    rounds=args.rounds,
                    warmup=0,
                )
            cpu.loads = sbs.loads
            for result, goal in ((sbs, "QBI <= 2 s quiet"), (cpu, "QBI CPU <= 1.1 s")):
                result.summary(unit="s", scale=1.0)
                result.ratio(
                    "QBI import_job (new project)",
                    "plain SQLite inserts + hashes",
                    "QBI / plain SQLite",
                    goal=goal if n_busy == 0 else "",
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
