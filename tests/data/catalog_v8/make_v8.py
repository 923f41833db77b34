"""How catalog.sqlite here was made: by the code of schema version 8 (the commit before v9).

    git archive <v8 commit> qbi_desktop | tar -x -C /tmp/v8src
    PYTHONPATH=/tmp/v8src python tests/data/catalog_v8/make_v8.py /tmp/v8out

then /tmp/v8out/project/catalog.sqlite is copied here. Sixty image-file items (no image is read:
the paths are only recorded) whose names are not in id order; labels cat/dog by two annotators,
Ada and Bob, and a rare label "bird" on the five items last in name order; splits, reviews, two
origins, widths (some unknown), a "size" target on every item (largest on the birds), boxes on
the simulated items (so a filter on origin and a sort by box count go together).
"""

import shutil
import sqlite3
import sys
from pathlib import Path

from qbi_desktop.core.catalog import Box, NewItem, open_project, schema

assert schema.SCHEMA_VERSION == 8
N = 60
out = Path(sys.argv[1])
shutil.rmtree(out, ignore_errors=True)
(out / "project").mkdir(parents=True)
project = open_project(out / "project", create=True)
order = [(i * 37) % N for i in range(N)]  # a name rank per item, not the id order
with project.transaction() as tx:
    tx.add_items(
        [
            NewItem(
                name=f"scan_{order[i]:03d}.tif",
                hash=f"file{i % 55}",  # items 56-60 repeat the content of items 1-5
                path=f"/data/scan_{order[i]:03d}.tif",
                width=None if i % 11 == 0 else 32 + 16 * (i % 4),
                height=64,
                split=("train", "val", "test", None)[i % 4],
                provenance_kind="simulated" if i % 6 == 0 else "acquired",
                targets={"size": float(order[i] % 13) + (100.0 if order[i] >= N - 5 else 0.0)},
            )
            for i in range(N)
        ]
    )
for i in range(1, N + 1):
    rank = order[i - 1]
    if rank >= N - 5:
        project.set_label([i], "bird", "Ada")
    elif i % 4:  # Ada skips 4, 8, 12, ...
        project.set_label([i], "cat" if i % 2 else "dog", "Ada")
    if i % 3 and rank < N - 5:  # Bob skips 3, 6, 9, ...
        project.set_label([i], "dog" if i % 2 else "cat", "Bob")
        project.set_target([i], "size", float(i), "Bob")
    if i % 5 == 0:
        project.set_review([i], "accepted", "Ada")
    elif i % 7 == 0:
        project.set_review([i], "rejected", "Bob")
    if (i - 1) % 6 == 0:  # the simulated items
        project.set_boxes(i, [Box("spot", k, k, 2, 2) for k in range(1 + i % 3)], "Ada")
project.close()
db = sqlite3.connect(out / "project" / "catalog.sqlite")
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.execute("VACUUM")
db.close()
