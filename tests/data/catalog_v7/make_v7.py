"""How catalog.sqlite here was made: by the code of schema version 7 (the commit before v8).

    python tests/data/catalog_v7/make_v7.py /tmp/v7out

then /tmp/v7out/project/catalog.sqlite is copied here. Twelve image-file items (no image is
read: the paths are only recorded), labelled, reviewed and given a "size" target by two
annotators, Ada and Bob, each of whom skips some items; boxes by Ada on items 2 and 5.
"""

import shutil
import sqlite3
import sys
from pathlib import Path

from qbi_desktop.core.catalog import Box, NewItem, open_project, schema

assert schema.SCHEMA_VERSION == 7
out = Path(sys.argv[1])
shutil.rmtree(out, ignore_errors=True)
(out / "project").mkdir(parents=True)
project = open_project(out / "project", create=True)
with project.transaction() as tx:
    tx.add_items(
        [
            NewItem(
                name=f"scan_{i:03d}.tif",
                hash=f"file{i}",
                path=f"/data/scan_{i:03d}.tif",
                width=64,
                height=64,
            )
            for i in range(12)
        ]
    )
for i in range(1, 13):
    if i % 4:  # Ada skips 4, 8, 12
        project.set_label([i], "cat" if i % 2 else "dog", "Ada")
        project.set_target([i], "size", float(13 - i), "Ada")
    if i % 3:  # Bob skips 3, 6, 9, 12
        project.set_label([i], "dog" if i % 2 else "cat", "Bob")
        project.set_target([i], "size", float(i), "Bob")
    if i % 5 == 0:
        project.set_review([i], "accepted", "Ada")
for item, n in ((2, 2), (5, 1)):
    project.set_boxes(item, [Box("spot", k, k, 2, 2) for k in range(n)], "Ada")
project.close()
db = sqlite3.connect(out / "project" / "catalog.sqlite")
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.execute("VACUUM")
db.close()
