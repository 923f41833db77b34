"""Write the hostile-input corpus of issue 17 into a folder.

    python -m tests.hostile.make_corpus DIR [CASE ...]

Every case is a folder ``DIR/<case>/`` holding its files and the description of how the harness
feeds it to the app (``DIR/manifest.json``). Nothing here is random: the same script writes the
same bytes, and it takes a few seconds. Bombs are small files that *claim* or *expand to* huge
sizes. FIFOs are not written here (a FIFO cannot be copied or committed): a case with ``fifo``
names the path the harness turns into a FIFO at run time.

Classes (issue 17): 1 journal paths, 2 Save-As data loss (fault tests), 3 memory blow-ups,
4 wrong JSON types, 5 deep nesting, 6 TIFF edge cases, 7 write errors (fault tests and broken
projects), 8 hangs (FIFOs, IFD loops), 9 leftovers (checked after every case), 10 references
outside an archive, 11 silent acceptance, 12 misleading messages, 13 injection. Class 0 is the
control group: good files that must be accepted, so the harness proves it can see success.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

# Importing the case modules registers their cases (in this order).
from tests.hostile import (  # noqa: F401
    cases_annotations,
    cases_archives,
    cases_arrays,
    cases_images,
    cases_projects,
)
from tests.hostile.blobs import gray8, tiff_bytes, write_png  # noqa: F401 - used by test_faults
from tests.hostile.registry import BUILDERS, CASES, Case

# The Browser's import in the real window (slower: a window per run) for a few cases of each
# class and kind; every case goes through the core import the dialog calls.
WINDOW_IMPORT = {
    "coco-good", "coco-bbox-dict", "coco-deep-nesting", "coco-fifo", "coco-huge-declared",
    "coco-rle-negative", "coco-size-mismatch", "labelme-points-dict", "labelme-imagedata-bomb",
    "sheet-huge-cell", "xlsx-far-cell", "mnist-gz-bomb", "npz-empty", "zip-coco-dotdot",
    "zip-labelme-absolute", "zip-bomb", "tiff-truncated", "png-bomb",
}  # fmt: skip
for _case in CASES:
    if _case.name in WINDOW_IMPORT and "window-import" not in _case.entries:
        _case.entries = (*_case.entries, "window-import")
# ... and the Browser opens the broken projects in the real window
WINDOW_PROJECT = {
    "project-good", "project-catalog-zero-bytes", "project-catalog-corrupt-page",
    "project-catalog-foreign", "project-image-deleted",
}  # fmt: skip
for _case in CASES:
    if _case.name in WINDOW_PROJECT and "window-project" not in _case.entries:
        _case.entries = (*_case.entries, "window-project")

# ---------------------------------------------------------------------------------------------


def make_corpus(folder: str | Path, only: set[str] | None = None) -> list[Case]:
    """Write every case (or those in ``only``) under ``folder``; returns the cases written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    host = folder / "host"  # the files references outside an archive point at
    host.mkdir(exist_ok=True)
    write_png(host / "secret.png", gray8(77))
    written = []
    for c in CASES:
        if only and c.name not in only:
            continue
        d = folder / c.name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir()
        BUILDERS[c.name](d, folder)
        written.append(c)
    manifest = [asdict(c) for c in written]
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return written


def main(argv: list[str] | None = None) -> int:
    import time

    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m tests.hostile.make_corpus DIR [CASE ...]", file=sys.stderr)
        return 2
    start = time.perf_counter()
    cases = make_corpus(argv[0], set(argv[1:]) or None)
    size = sum(p.stat().st_size for p in Path(argv[0]).rglob("*") if p.is_file())
    print(f"{len(cases)} cases, {size / 1e6:.1f} MB, {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
