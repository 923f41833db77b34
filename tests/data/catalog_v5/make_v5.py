"""Make tests/data/catalog/v5/ with the code of schema version 5 (run with PYTHONPATH=<v5 code>)."""
import shutil, sqlite3, sys
from pathlib import Path
import numpy as np
from qbi_desktop.core.catalog import NewItem, open_project, Box, schema
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.idx import write_idx
from qbi_desktop.core.jobs import run_job
assert schema.SCHEMA_VERSION == 5
out = Path(sys.argv[1]); shutil.rmtree(out, ignore_errors=True); out.mkdir(parents=True)
(out / "project").mkdir(); src = out / "project" / "src"; src.mkdir()
rng = np.random.default_rng(5)
images = rng.integers(0, 255, (40, 6, 6), np.uint8)
images[30:] = images[:10]  # ten duplicates
write_idx(src / "train-images-idx3-ubyte", images)
write_idx(src / "train-labels-idx1-ubyte", (np.arange(40) % 10).astype(np.uint8))
p = open_project(out / "project", create=True)
run_job(import_job(p, "mnist", [src], annotator="ann"))
with p.transaction() as tx:
    ids = tx.add_items([NewItem(name=f"scan_{i:03d}.tif", hash=f"file{i % 3}", path=f"/data/scan_{i:03d}.tif", width=64, height=64, label="spot", split="test", provenance={"note": f"n{i}"}) for i in range(6)])
for i, n in ((1, 2), (5, 1), (41, 3)):
    p.set_boxes(i, [Box("spot", k, k, 2, 2) for k in range(n)], "ann")
p.close()
db = sqlite3.connect(out / "project" / "catalog.sqlite")
db.execute("PRAGMA wal_checkpoint(TRUNCATE)"); db.execute("VACUUM"); db.close()
print(sorted(x.name for x in (out / "project").iterdir()))
