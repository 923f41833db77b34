"""How catalog.sqlite here was made: by the code of schema version 5 (commit 8105ff2~1).

    git archive 8105ff2~1 qbi_desktop | tar -x -C /tmp/v5code
    PYTHONPATH=/tmp/v5code python tests/data/catalog_v5/make_v5.py /tmp/v5out

then /tmp/v5out/project/{catalog.sqlite,src/} are copied here. An MNIST-style import of 40
images (the last ten repeat the first ten) with labels, six image-file items (hashes in three
pairs) and boxes on items 1, 5 and 41.
"""

import shutil
import sqlite3
import sys
from pathlib import Path

import numpy as np

from qbi_desktop.core.catalog import Box, NewItem, open_project, schema
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.idx import write_idx
from qbi_desktop.core.jobs import run_job

assert schema.SCHEMA_VERSION == 5
out = Path(sys.argv[1])
shutil.rmtree(out, ignore_errors=True)
src = out / "project" / "src"
src.mkdir(parents=True)
rng = np.random.default_rng(5)
images = rng.integers(0, 255, (40, 6, 6), np.uint8)
images[30:] = images[:10]
write_idx(src / "train-images-idx3-ubyte", images)
write_idx(src / "train-labels-idx1-ubyte", (np.arange(40) % 10).astype(np.uint8))
project = open_project(out / "project", create=True)
run_job(import_job(project, "mnist", [src], annotator="ann"))
with project.transaction() as tx:
    tx.add_items(
        [
            NewItem(
                name=f"scan_{i:03d}.tif",
                hash=f"file{i % 3}",
                path=f"/data/scan_{i:03d}.tif",
                width=64,
                height=64,
                label="spot",
                split="test",
                provenance={"note": f"n{i}"},
            )
            for i in range(6)
        ]
    )
for item, n in ((1, 2), (5, 1), (41, 3)):
    project.set_boxes(item, [Box("spot", k, k, 2, 2) for k in range(n)], "ann")
project.close()
db = sqlite3.connect(out / "project" / "catalog.sqlite")
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.execute("VACUUM")
db.close()
