"""(case, entry point) pairs of the hostile corpus that are still not handled cleanly.

Each is a strict xfail in tests/test_hostile_corpus.py with its class and what fails:
when a fix makes one clean, its test errors (XPASS strict) until its line here is
removed. Written by ``python -m tests.hostile.harness CORPUS --known-failures FILE``.
"""

KNOWN_FAILURES: dict[tuple[str, str], str] = {
    ("journal-mask-path-absolute", "journal"): "class 1: MemoryError: (no message)",
    ("journal-mask-path-dotdot", "journal"): "class 1: MemoryError: (no message)",
    ("journal-mask-path-other-dir", "journal"): "class 1: MemoryError: (no message)",
    ("labelme-huge-declared", "cli-import"): "class 3: silently accepted",
    ("labelme-huge-declared", "import"): "class 3: silently accepted",
    ("npz-claims-huge", "cli-augment"): "class 3: Traceback on stderr; exit code 1: numpy._core._",
    ("npz-claims-huge", "cli-baseline"): "class 3: Traceback on stderr; exit code 1: numpy._core.",
    ("npz-deflate-bomb", "cli-augment"): "class 3: Traceback on stderr; exit code 1: zipfile.BadZ",
    ("project-image-deleted", "thumbnails"): "class 11: silently accepted; 1 item(s) silently lef",
    ("project-image-garbled", "thumbnails"): "class 11: silently accepted; 1 item(s) silently lef",
    ("mnist-zero-height", "cli-import"): "class 12: silently accepted",
    ("mnist-zero-height", "import"): "class 12: silently accepted",
}
