"""(case, entry point) pairs of the hostile corpus that are still not handled cleanly.

Each is a strict xfail in tests/test_hostile_corpus.py with its class and what fails:
when a fix makes one clean, its test errors (XPASS strict) until its line here is
removed. Written by ``python -m tests.hostile.harness CORPUS --known-failures FILE``.
"""

KNOWN_FAILURES: dict[tuple[str, str], str] = {
    ("journal-mask-path-absolute", "journal"): "class 1: MemoryError: (no message)",
    ("journal-mask-path-absolute", "window"): "class 1: MemoryError in a task: Prepare mask: not ",
    ("journal-mask-path-dotdot", "journal"): "class 1: MemoryError: (no message)",
    ("journal-mask-path-dotdot", "window"): "class 1: MemoryError in a task: Prepare mask: not en",
    ("journal-mask-path-other-dir", "journal"): "class 1: MemoryError: (no message)",
    ("journal-mask-path-other-dir", "window"): "class 1: MemoryError in a task: Prepare mask: not",
}
